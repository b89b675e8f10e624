/**
 * An object's metadata: `x-amz-meta-*` and the stored system headers (Content-Type, Content-Disposition,
 * Cache-Control, Content-Encoding, Content-Language, Expires). Kept with the object's version as the
 * commit's version metadata (one map, header names as keys), so each version answers with its own,
 * a copy carries or replaces it, and a multipart upload keeps what its creation was given.
 */
import type { IncomingHttpHeaders } from "node:http";
import { type VersionMeta, versionMetaProblem } from "../common/protocol/index.js";
import { S3Error } from "./errors.js";
import { decodeEncodedWords, headerText, mailSafe } from "./rfc2047.js";
import type { S3Request } from "./types.js";

export const USER_META_PREFIX = "x-amz-meta-";
/** S3's bound on user metadata: UTF-8 bytes of each key (without the prefix) and value, summed. */
export const MAX_USER_META_BYTES = 2048;

const STORED_HEADERS = [
  "cache-control",
  "content-disposition",
  "content-encoding",
  "content-language",
  "content-type",
  "expires",
] as const;

const DEFAULT_CONTENT_TYPE = "application/octet-stream";

function tooLarge(message: string): S3Error {
  return new S3Error("MetadataTooLarge", message);
}

/** The metadata a write request gives its object (undefined: none at all). */
export function metaFromHeaders(headers: IncomingHttpHeaders): VersionMeta | undefined {
  const meta: VersionMeta = {};
  let userBytes = 0;
  for (const [name, raw] of Object.entries(headers)) {
    if (raw === undefined) continue;
    const value = Array.isArray(raw) ? raw.join(",") : raw;
    if (name.startsWith(USER_META_PREFIX)) {
      // Header text is latin1 of the bytes sent (Node): its length is their count (as S3 counts).
      userBytes += name.length - USER_META_PREFIX.length + value.length;
      // Stored as the text it means (S3 decodes RFC 2047 words), answered mail-safe by metaHeaders.
      meta[name] = decodeEncodedWords(headerText(value));
    }
  }
  if (userBytes > MAX_USER_META_BYTES) {
    throw tooLarge(`user metadata is ${userBytes} bytes; at most ${MAX_USER_META_BYTES} are allowed`);
  }
  for (const name of STORED_HEADERS) {
    const raw = headers[name];
    if (raw === undefined) continue;
    let value = Array.isArray(raw) ? raw.join(",") : raw;
    // aws-chunked is the request's framing, never the object's encoding (body.ts strips it).
    if (name === "content-encoding") {
      const codings = value.split(",").map((e) => e.trim());
      if (codings.includes("aws-chunked"))
        value = codings.filter((e) => e !== "" && e !== "aws-chunked").join(", ");
      if (value === "") continue;
    }
    meta[name] = value;
  }
  if (Object.keys(meta).length === 0) return undefined;
  // Room kept for the upload id a multipart completion adds (UPLOAD_ID_META).
  const problem = versionMetaProblem({ ...meta, [UPLOAD_ID_META]: "0".repeat(32) });
  if (problem !== null) throw tooLarge(`the object's metadata is too large: ${problem}`);
  return meta;
}

/**
 * The multipart upload an object was completed from, kept so that a repeated CompleteMultipartUpload
 * of that upload answers as the first did (as S3 does) although the upload itself is gone. Never
 * answered as a header, never copied.
 */
export const UPLOAD_ID_META = "raftfs-upload-id";

function isObjectHeader(name: string): boolean {
  return name.startsWith(USER_META_PREFIX) || (STORED_HEADERS as readonly string[]).includes(name);
}

/** The metadata a copy takes from its source (COPY): the object's headers, not the gateway's own keys. */
export function copiedMeta(meta: VersionMeta | undefined): VersionMeta | undefined {
  if (meta === undefined) return undefined;
  const out = Object.fromEntries(Object.entries(meta).filter(([k]) => isObjectHeader(k)));
  return Object.keys(out).length === 0 ? undefined : out;
}

/** The headers a GET or HEAD answers with for a version's metadata, `response-*` overrides applied. */
export function metaHeaders(req: S3Request, meta: VersionMeta | undefined): Record<string, string> {
  const out: Record<string, string> = { "content-type": DEFAULT_CONTENT_TYPE, ...copiedMeta(meta) };
  // Header values beyond printable ASCII go out as RFC 2047 words, as S3 answers them (and a
  // character over U+00FF could not be written as a header at all).
  for (const [k, v] of Object.entries(out)) if (k.startsWith(USER_META_PREFIX)) out[k] = mailSafe(v);
  // GET's `response-content-type` etc. override the stored header in this one answer.
  for (const name of STORED_HEADERS) {
    const v = req.query.get(`response-${name}`);
    if (v !== undefined) out[name] = v;
  }
  return out;
}

export type MetadataDirective = "COPY" | "REPLACE";

/** CopyObject's `x-amz-metadata-directive`: COPY (the default) keeps the source's metadata. */
export function metadataDirective(req: S3Request): MetadataDirective {
  const raw = req.headers["x-amz-metadata-directive"];
  if (raw === undefined) return "COPY";
  const v = (Array.isArray(raw) ? raw.join(",") : raw).trim().toUpperCase();
  if (v !== "COPY" && v !== "REPLACE") {
    throw new S3Error("InvalidArgument", "x-amz-metadata-directive is COPY or REPLACE");
  }
  return v;
}
