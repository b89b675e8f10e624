/**
 * The gateway's HTTP face: a fastify app that leaves request bodies as raw streams (a content-type
 * parser that consumes nothing), authenticates every request with SigV4 over the raw URL, routes it
 * to one handler per S3 operation, and renders failures as S3 error XML. Path-style addressing always;
 * virtual-host style when `domain` is set. The SDK's `x-id` query parameter is ignored.
 */
import { randomBytes } from "node:crypto";
import type { Duplex } from "node:stream";
import fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from "fastify";
import type { RaftfsClient } from "../client/index.js";
import type { ListenerConfig } from "../common/config.js";
import { listenerOptions } from "../common/listener.js";
import { getAcl, getOwnershipControls, putAcl } from "./acl.js";
import {
  bucketLocation,
  createBucket,
  deleteBucket,
  headBucket,
  listBuckets,
  listObjects,
} from "./buckets.js";
import { S3Error, toS3Error } from "./errors.js";
import { requireBucket } from "./keys.js";
import {
  abortUpload,
  completeUpload,
  createUpload,
  listParts,
  listUploads,
  uploadPart,
} from "./multipart.js";
import { copyObject, deleteObject, deleteObjects, getObject, openObject, putObject } from "./objects.js";
import { bodyBoundedBySilence, isHeadersTimeout, requestTimeoutError } from "./request-timeout.js";
import { SigningKeyCache, verifySigV4 } from "./sigv4.js";
import { absentConfigOf, bucketConfig, objectTagging } from "./subresources.js";
import type { S3Limits, S3Request, S3Response } from "./types.js";
import { getBucketVersioning, listObjectVersions, putBucketVersioning } from "./versioning.js";
import { errorXml } from "./xml.js";

export interface S3AccessKeyEntry {
  secretAccessKey: string;
  client: RaftfsClient;
}

export interface S3ServerOptions {
  region: string;
  domain?: string;
  limits: S3Limits;
  /** The config's listener limits (timeouts, header size), as every raftfs listener applies them. */
  listener?: ListenerConfig;
}

export interface S3ServerDeps {
  /** Access key id → its secret and the library client acting with its token. */
  keys: ReadonlyMap<string, S3AccessKeyEntry>;
  now?: () => number;
  logger?: boolean;
}

/** Sub-resources this gateway does not implement: refused, never mistaken for a plain GET or PUT. */
const UNSUPPORTED = [
  "replication",
  "encryption",
  "logging",
  "notification",
  "object-lock",
  "retention",
  "legal-hold",
  "torrent",
  "restore",
  "select",
  "accelerate",
  "requestPayment",
  "analytics",
  "inventory",
  "metrics",
  "intelligent-tiering",
  "publicAccessBlock",
  "attributes",
];

/** ACLs, ownership controls and the configurations kept nowhere (acl.ts, subresources.ts). */
async function subresource(r: S3Request, bucket: string, key: string | null): Promise<S3Response> {
  const { method, query } = r;
  if (key === null) {
    if (query.has("ownershipControls")) {
      if (method === "GET") return getOwnershipControls(r, bucket);
      throw new S3Error("NotImplemented", "object ownership is always BucketOwnerEnforced here");
    }
    if (query.has("acl")) {
      await requireBucket(r, bucket);
      if (method === "GET") return getAcl();
      if (method === "PUT") return putAcl(r);
    } else {
      const sub = absentConfigOf(query);
      if (sub !== undefined) return bucketConfig(r, bucket, sub);
    }
    throw new S3Error("MethodNotAllowed", "the specified method is not allowed against this resource");
  }
  if (!query.has("acl") && !query.has("tagging")) {
    throw new S3Error("NotImplemented", "this sub-resource is not implemented for objects");
  }
  const { file } = await openObject(r, bucket, key);
  if (query.has("acl")) {
    if (method === "GET") return getAcl();
    if (method === "PUT") return putAcl(r);
  } else if (method === "GET" || method === "PUT" || method === "DELETE") {
    return objectTagging(r, file.version);
  }
  throw new S3Error("MethodNotAllowed", "the specified method is not allowed against this resource");
}

function isSubresource(query: Map<string, string>): boolean {
  return query.has("acl") || query.has("ownershipControls") || absentConfigOf(query) !== undefined;
}

function route(r: S3Request, opts: S3ServerOptions): Promise<S3Response> {
  const { method, bucket, key, query } = r;
  if (bucket !== null && isSubresource(query)) return subresource(r, bucket, key);
  const unsupported = UNSUPPORTED.find((q) => query.has(q));
  if (unsupported !== undefined) throw new S3Error("NotImplemented", `?${unsupported} is not implemented`);
  if (bucket === null) {
    if (method === "GET") return listBuckets(r);
    throw new S3Error("MethodNotAllowed", "the specified method is not allowed against this resource");
  }
  if (key === null) {
    switch (method) {
      case "PUT":
        if (query.has("versioning")) return putBucketVersioning(r, bucket);
        return createBucket(r, bucket);
      case "DELETE":
        return deleteBucket(r, bucket);
      case "HEAD":
        return headBucket(r, bucket);
      case "POST":
        if (query.has("delete")) return deleteObjects(r, bucket);
        break;
      case "GET":
        if (query.has("uploads")) return listUploads(r, bucket);
        if (query.has("location")) return bucketLocation(r, bucket, opts.region);
        if (query.has("versioning")) return getBucketVersioning(r, bucket);
        if (query.has("versions")) return listObjectVersions(r, bucket);
        return listObjects(r, bucket, query.get("list-type") === "2");
    }
    throw new S3Error("MethodNotAllowed", "the specified method is not allowed against this resource");
  }
  switch (method) {
    case "PUT": {
      if (query.has("uploadId")) return uploadPart(r, bucket, key);
      const source = r.headers["x-amz-copy-source"];
      if (typeof source === "string") return copyObject(r, bucket, key, source);
      return putObject(r, bucket, key);
    }
    case "GET":
      if (query.has("uploadId")) return listParts(r, bucket, key);
      return getObject(r, bucket, key, false);
    case "HEAD":
      return getObject(r, bucket, key, true);
    case "DELETE":
      if (query.has("uploadId")) return abortUpload(r, bucket, key);
      return deleteObject(r, bucket, key);
    case "POST":
      if (query.has("uploads")) return createUpload(r, bucket, key);
      if (query.has("uploadId")) return completeUpload(r, bucket, key);
      break;
  }
  throw new S3Error("MethodNotAllowed", "the specified method is not allowed against this resource");
}

/** Bucket and key from the raw path (and the Host, for virtual-host style). */
function address(rawPath: string, host: string | undefined, domain: string | undefined) {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rawPath);
  } catch {
    throw new S3Error("InvalidArgument", "the path holds an invalid percent-encoding");
  }
  const hostName = (host ?? "").replace(/:\d+$/, "").toLowerCase();
  if (domain !== undefined && hostName.endsWith(`.${domain}`)) {
    const bucket = hostName.slice(0, -domain.length - 1);
    const key = decoded.slice(1);
    return { bucket, key: key === "" ? null : key };
  }
  const rest = decoded.slice(1);
  if (rest === "") return { bucket: null, key: null };
  const slash = rest.indexOf("/");
  if (slash < 0) return { bucket: rest, key: null };
  const key = rest.slice(slash + 1);
  return { bucket: rest.slice(0, slash), key: key === "" ? null : key };
}

/**
 * Node's refusals before fastify sees a request — headers over `maxHeaderBytes`, headers not in within
 * `headersTimeoutMs`, garbage — as S3 errors (all 400); the socket closes.
 */
function s3ClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const timeout = requestTimeoutError();
  const body =
    err.code === "HPE_HEADER_OVERFLOW"
      ? errorXml(
          "RequestHeaderSectionTooLarge",
          "your request header section exceeds the maximum size",
          "",
          "",
        )
      : isHeadersTimeout(err)
        ? errorXml(timeout.code, timeout.message, "", "")
        : errorXml("BadRequest", "the request could not be parsed", "", "");
  socket.end(
    `HTTP/1.1 400 Bad Request\r\nContent-Type: application/xml\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

/**
 * The config's listener limits as the gateway applies them: all but the whole-request timeout. That
 * limit suits the cluster's own listeners, whose largest request is one chunk; an S3 PutObject or
 * UploadPart streams up to `maxObjectBytes` (5 GiB) in one request, which no fixed time fits (a 1 GiB
 * PUT on a loaded machine ran past the 120 s default and was cut off with a 408). As S3 does, the
 * gateway bounds a request body by silence instead: the idle timeout (`idleTimeoutMs`) closes a
 * connection that sends nothing, and the header timeout still cuts a client that never finishes its
 * headers.
 */
function gatewayListenerOptions(l: ListenerConfig) {
  const { fastify: f, node } = listenerOptions(l);
  return { ...f, requestTimeout: 0, http: { ...node, requestTimeout: 0 } };
}

export function buildS3Server(opts: S3ServerOptions, deps: S3ServerDeps): FastifyInstance {
  const now = deps.now ?? Date.now;
  const signingKeys = new SigningKeyCache();
  // Request ids: unique per request, not secret. A random prefix per server and a counter, where
  // randomBytes(8) on every request showed in the 4 KiB profile.
  const requestIdPrefix = randomBytes(4).toString("hex").toUpperCase();
  let requestCount = 0;
  const nextRequestId = () =>
    `${requestIdPrefix}${(++requestCount).toString(16).toUpperCase().padStart(8, "0")}`;
  const app = fastify({
    logger: deps.logger ?? false,
    // S3 keys run to 1024 bytes, percent-encoded up to 3x.
    maxParamLength: 16 * 1024,
    exposeHeadRoutes: false,
    return503OnClosing: true,
    ...(opts.listener !== undefined ? gatewayListenerOptions(opts.listener) : {}),
    // Node refuses a request it cannot parse before fastify sees it; an S3 client still gets S3's XML.
    clientErrorHandler: s3ClientError,
  });
  // Bodies stay raw streams: an object streams into the upload, and the aws-chunked framing and the
  // body's digests are the handler's to check.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));

  const handle = async (request: FastifyRequest, reply: FastifyReply) => {
    const requestId = nextRequestId();
    const raw = request.raw;
    const rawUrl = raw.url ?? "/";
    const q = rawUrl.indexOf("?");
    const rawPath = q < 0 ? rawUrl : rawUrl.slice(0, q);
    reply.header("x-amz-request-id", requestId);
    try {
      const auth = verifySigV4(
        { method: request.method, rawUrl, rawHeaders: raw.rawHeaders },
        { secretOf: (id) => deps.keys.get(id)?.secretAccessKey, nowMs: now(), signingKeys },
      );
      const entry = deps.keys.get(auth.accessKeyId)!;
      const { bucket, key } = address(rawPath, request.headers.host, opts.domain);
      const query = new Map(auth.query);
      const answer = await route(
        {
          method: request.method,
          bucket,
          key,
          query,
          headers: request.headers,
          body: bodyBoundedBySilence(raw),
          payloadHash: auth.payloadHash,
          client: entry.client,
          limits: opts.limits,
        },
        opts,
      );
      reply.code(answer.status);
      if (answer.headers) reply.headers(answer.headers);
      if (request.method === "HEAD" || answer.body === undefined) return reply.send();
      return reply.send(answer.body);
    } catch (err) {
      const e = toS3Error(err);
      if (e.code === "InternalError") request.log.error({ err }, "s3 request failed");
      reply.code(e.status);
      reply.headers(e.headers);
      if (e.code === "NotModified") return reply.send();
      if (request.method === "HEAD") return reply.send();
      reply.header("content-type", "application/xml");
      return reply.send(errorXml(e.code, e.message, rawPath, requestId));
    }
  };
  const methods = ["GET", "HEAD", "PUT", "POST", "DELETE"] as const;
  app.route({ method: [...methods], url: "/", handler: handle });
  app.route({ method: [...methods], url: "/*", handler: handle });
  return app;
}
