/** What every S3 handler gets and returns: the request as the router understood it, and an answer. */
import type { IncomingHttpHeaders } from "node:http";
import type { Readable } from "node:stream";
import type { RaftfsClient } from "../client/index.js";

export interface S3Request {
  method: string;
  bucket: string | null;
  key: string | null;
  /** Decoded query parameters (the last value of a repeated name). */
  query: Map<string, string>;
  headers: IncomingHttpHeaders;
  /** The raw request body (aws-chunked framing and all). */
  body: AsyncIterable<Buffer>;
  /** From the signature: the body's SHA-256 hex or an UNSIGNED/STREAMING marker. */
  payloadHash: string;
  client: RaftfsClient;
  limits: S3Limits;
}

export interface S3Limits {
  maxObjectBytes: number;
  /** Objects up to this size are stored inline (the cluster's threshold): their ETag is their MD5. */
  inlineThresholdBytes: number;
  /** Every part of a multipart upload but the last holds at least this (S3: 5 MiB). */
  minPartSizeBytes: number;
}

export interface S3Response {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer | Readable;
}

export function header(req: S3Request, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

export function xmlResponse(body: string, status = 200): S3Response {
  return { status, headers: { "content-type": "application/xml" }, body };
}
