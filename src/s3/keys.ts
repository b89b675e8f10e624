/**
 * How S3 names become raftfs paths. A bucket is a top-level directory `/<bucket>`; a key is the path
 * below it, its `/` making directories (created on write, removed when a delete leaves them empty).
 * A file system cannot hold both a file `a` and a directory `a/`, so two keys where one is a
 * "directory" prefix of the other cannot coexist: writing `a/b` over a file `a` is ParentIsObject,
 * writing `a` over a directory `a/` is ObjectExistsAsDirectory (MinIO's answers to the same
 * question). Keys that no normal path spells — empty segments (`a//b`, a leading `/`), `.` or `..`
 * segments — are refused, so two keys never name one file. A key ending in `/` with an empty body
 * is a "folder" marker: it makes the directory and lists as a common prefix, not as an object.
 *
 * ETags are derived from what raftfs stores, never kept beside it (raftfs files have no attributes,
 * and a side file would be a second write that could disagree): for inline content (objects up to
 * the inline threshold, 64 KiB by default) the MD5 of the bytes, as S3 gives; for chunked content the
 * MD5 of the chunk ids (each the SHA-256 of its chunk) with a `-<chunks>` suffix, the multipart form,
 * which S3 clients already treat as "not the body's MD5". It changes exactly when the bytes change,
 * and survives CopyObject and the gateway's restarts.
 */
import { createHash } from "node:crypto";
import { isNormalPath, MAX_NAME_BYTES, utf8ByteLength } from "../common/paths.js";
import type { ReadResponse, WireContent } from "../common/protocol/index.js";
import { S3Error, toS3Error } from "./errors.js";
import type { S3Request } from "./types.js";

export const MAX_KEY_BYTES = 1024;
/** Multipart uploads in progress live here: not a valid bucket name, so never listed as one. */
export const UPLOADS_ROOT = "/.s3-uploads";
/**
 * The bucket's versioning state (versioning.ts), a file in the bucket directory: no key may name it
 * (nor anything below it) and listings skip it.
 */
export const VERSIONING_MARKER = ".raftfs-s3-versioning";

export function isValidBucketName(name: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes("..") &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name)
  );
}

export function bucketPath(bucket: string): string {
  if (!isValidBucketName(bucket)) throw new S3Error("InvalidBucketName", "the specified bucket is not valid");
  return `/${bucket}`;
}

export async function requireBucket(req: S3Request, bucket: string): Promise<string> {
  const path = bucketPath(bucket);
  try {
    const st = await req.client.stat(path);
    if (st.type !== "dir") throw new S3Error("NoSuchBucket", "the specified bucket does not exist");
  } catch (err) {
    throw toS3Error(err, "NoSuchBucket");
  }
  return path;
}

/** The path of an object key; `folder` keys (ending in `/`) give their directory. */
export function objectPath(bucket: string, key: string): { path: string; folder: boolean } {
  const base = bucketPath(bucket);
  const bytes = utf8ByteLength(key);
  if (bytes < 0) throw new S3Error("InvalidArgument", "the key is not valid UTF-8");
  if (bytes > MAX_KEY_BYTES) throw new S3Error("KeyTooLongError", "your key is too long");
  const folder = key.endsWith("/");
  const body = folder ? key.slice(0, -1) : key;
  const segments = body.split("/");
  if (
    body === "" ||
    segments.some((s) => s === "" || s === "." || s === ".." || utf8ByteLength(s) > MAX_NAME_BYTES)
  ) {
    throw new S3Error(
      "InvalidArgument",
      "keys with empty, '.' or '..' segments (or a segment over 255 bytes) have no path in raftfs",
    );
  }
  if (segments[0] === VERSIONING_MARKER) {
    throw new S3Error("InvalidArgument", `the key ${VERSIONING_MARKER} is reserved by the gateway`);
  }
  const path = `${base}/${body}`;
  if (!isNormalPath(path)) throw new S3Error("InvalidArgument", "the key has no path in raftfs");
  return { path, folder };
}

/**
 * A delete marker is a version whose content is an empty chunk list: the gateway stores every real
 * object of 0 bytes inline (the library does, and so does an empty multipart completion), so this
 * content means "deleted" and nothing else. It keeps S3's order of versions and markers in the one
 * sequence of raftfs versions, with no attribute the metadata service would have to carry.
 */
export const DELETE_MARKER: WireContent = { kind: "chunks", chunks: [], sizeBytes: 0 };

export function isDeleteMarker(file: Pick<ReadResponse, "content">): boolean {
  return file.content.kind === "chunks" && file.content.chunks.length === 0;
}

export function etagOfContent(content: WireContent): string {
  if (content.kind === "inline") {
    return `"${createHash("md5").update(Buffer.from(content.dataBase64, "base64")).digest("hex")}"`;
  }
  const h = createHash("md5");
  for (const c of content.chunks) h.update(c.id);
  return `"${h.digest("hex")}-${content.chunks.length}"`;
}

export function etagOf(file: ReadResponse): string {
  return etagOfContent(file.content);
}

/** The ETag of a part: the same as an object's, without the suffix (S3 part ETags have none). */
export function partEtag(file: ReadResponse): string {
  return etagOf(file).replace(/-\d+"$/, '"');
}

/** `If-Match`-style lists: `"a", "b"`, `*`, quotes optional. */
export function etagMatches(headerValue: string, etag: string): boolean {
  return headerValue.split(",").some((t) => {
    const v = t.trim();
    return v === "*" || v === etag || `"${v}"` === etag || v.replace(/^W\//, "") === etag;
  });
}
