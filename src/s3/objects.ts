/**
 * Object handlers: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject. Bodies
 * stream through (a PUT into the library's chunked upload, a GET out of its chunk reader): no object is
 * ever held whole.
 */
import { createHash } from "node:crypto";
import { type ErrorCode, isDfsError } from "../common/errors.js";
import { parentOf } from "../common/paths.js";
import type { ReadResponse } from "../common/protocol/index.js";
import { checkAclHeaders } from "./acl.js";
import { declaredLength, objectBytes, readSmallBody } from "./body.js";
import { checkReadConditions, expectedVersionFor } from "./conditions.js";
import { S3Error, toS3Error } from "./errors.js";
import { bucketPath, etagOf, isDeleteMarker, objectPath, requireBucket } from "./keys.js";
import { copiedMeta, metadataDirective, metaFromHeaders, metaHeaders } from "./object-meta.js";
import { partNumberQuery, partRange, partSizesOf } from "./parts.js";
import { refuseTagging } from "./subresources.js";
import { header, type S3Request, type S3Response, xmlResponse } from "./types.js";
import { deleteVersion, putDeleteMarker, versioningOf } from "./versioning.js";
import { many, parseXml, xmlDocument } from "./xml.js";

const MAX_DELETE_KEYS = 1000;
const MAX_DELETE_XML_BYTES = 2 * 1024 * 1024;
/** Deletes of one DeleteObjects request in flight at once. */
const DELETE_CONCURRENCY = 16;

function writeError(err: unknown): S3Error {
  if (isDfsError(err, "NOT_FOUND")) return new S3Error("NoSuchBucket", "the specified bucket does not exist");
  return toS3Error(err);
}

export async function putObject(req: S3Request, bucket: string, key: string): Promise<S3Response> {
  const { path, folder } = objectPath(bucket, key);
  checkAclHeaders(req);
  refuseTagging(req);
  // A small unconditional object straight under the bucket needs no stat of the bucket first: it
  // commits without createParents, so the commit itself (atomically) fails if the bucket is gone. A
  // deeper key creates its folders (and would create the bucket), a body that will be chunked should be
  // refused before its bytes are stored, and a condition's answer comes after the bucket's: those stat it.
  const flat = !folder && parentOf(path) === bucketPath(bucket);
  const declared = declaredLength(req.headers, req.payloadHash);
  const checkFirst =
    !flat ||
    declared === undefined ||
    declared > req.limits.inlineThresholdBytes ||
    header(req, "if-match") !== undefined ||
    header(req, "if-none-match") !== undefined;
  if (checkFirst) await requireBucket(req, bucket);
  const o = { headers: req.headers, payloadHash: req.payloadHash, maxBytes: req.limits.maxObjectBytes };
  if (folder) {
    const body = await readSmallBody(req.body, { ...o, maxBytes: 0 });
    if (body.length > 0)
      throw new S3Error("InvalidArgument", "a key ending in / names a folder: it holds no bytes");
    try {
      await req.client.mkdir(path, { recursive: true });
    } catch (err) {
      throw writeError(err);
    }
    return { status: 200, headers: { etag: `"${createHash("md5").digest("hex")}"` } };
  }
  const meta = metaFromHeaders(req.headers);
  const expectedVersion = await expectedVersionFor(req, path);
  // MD5 of the bytes while they may still be inline (where it is the ETag); past that, never needed.
  const md5 = createHash("md5");
  let seen = 0;
  const limit = req.limits.inlineThresholdBytes;
  async function* tee(): AsyncGenerator<Buffer> {
    for await (const b of objectBytes(req.body, o)) {
      if (seen <= limit) md5.update(b);
      seen += b.length;
      yield b;
    }
  }
  let result: { version: number; sizeBytes: number };
  try {
    result = await req.client.writeFile(path, tee(), {
      createParents: !flat,
      ...(expectedVersion !== undefined ? { expectedVersion } : {}),
      ...(meta !== undefined ? { meta } : {}),
    });
  } catch (err) {
    // The bucket's name held by a file: no bucket, as requireBucket would have said.
    if (flat && isDfsError(err, "NOT_A_DIRECTORY")) {
      throw new S3Error("NoSuchBucket", "the specified bucket does not exist");
    }
    throw writeError(err);
  }
  const etag =
    result.sizeBytes <= limit
      ? `"${md5.digest("hex")}"`
      : etagOf(await req.client.fileInfo(path, { version: result.version }));
  return { status: 200, headers: { etag, "x-amz-version-id": String(result.version) } };
}

interface Range {
  start: number;
  end: number; // inclusive
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`; null for a header S3 ignores (several ranges, bad syntax). */
function parseRange(value: string, size: number): Range | null {
  const m = /^bytes=(\d*)-(\d*)$/.exec(value.trim());
  if (m === null || (m[1] === "" && m[2] === "")) return null;
  let start: number;
  let end: number;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0) throw new S3Error("InvalidRange", "the requested range is not satisfiable");
    start = Math.max(0, size - n);
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1);
    if (m[2] !== "" && Number(m[2]) < start) return null;
  }
  if (start >= size) throw new S3Error("InvalidRange", "the requested range is not satisfiable");
  return { start, end };
}

/**
 * GetObject/HeadObject by `partNumber`: the part's bytes (206) and the count of parts, for an object
 * completed from a multipart upload; any other object is its one part 1, whole (200, as S3 answers).
 */
function partOf(file: ReadResponse, n: number, headers: Record<string, string>): Range | null {
  const sizes = partSizesOf(file.meta, file.sizeBytes);
  if (sizes === undefined) {
    if (n !== 1) throw new S3Error("InvalidPart", "the object was not uploaded in parts: it has only part 1");
    return null;
  }
  headers["x-amz-mp-parts-count"] = String(sizes.length);
  return partRange(sizes, n);
}

function versionQuery(req: S3Request): number | undefined {
  const v = req.query.get("versionId");
  if (v === undefined || v === "null") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 1) throw new S3Error("InvalidArgument", "invalid version id");
  return n;
}

/** What a key may name that is no object: a folder, a path through a file, a symbolic link. */
const NOT_OBJECTS: ReadonlySet<ErrorCode> = new Set(["IS_A_DIRECTORY", "NOT_A_DIRECTORY", "IS_A_SYMLINK"]);

/** The object a request names (its `versionId` too); NoSuchKey for none or a delete marker. */
export async function openObject(
  req: S3Request,
  bucket: string,
  key: string,
): Promise<{ path: string; file: ReadResponse }> {
  const { path, folder } = objectPath(bucket, key);
  if (folder) throw new S3Error("NoSuchKey", "the specified key does not exist");
  let file: ReadResponse;
  const version = versionQuery(req);
  try {
    file = await req.client.fileInfo(path, version !== undefined ? { version } : {});
  } catch (err) {
    if (isDfsError(err) && NOT_OBJECTS.has(err.code)) {
      throw new S3Error("NoSuchKey", "the specified key does not exist");
    }
    if (isDfsError(err, "NOT_FOUND")) {
      await requireBucket(req, bucket);
      // The file is there but not that version: S3's answer for a version never made or expired.
      if (req.query.has("versionId") && err.details.latest !== undefined) {
        throw new S3Error("NoSuchVersion", "the specified version does not exist");
      }
      throw new S3Error("NoSuchKey", "the specified key does not exist");
    }
    throw toS3Error(err);
  }
  if (isDeleteMarker(file)) {
    const headers = { "x-amz-delete-marker": "true", "x-amz-version-id": String(file.version) };
    if (version !== undefined) {
      throw new S3Error("MethodNotAllowed", "the specified version is a delete marker", headers);
    }
    throw new S3Error("NoSuchKey", "the specified key does not exist", headers);
  }
  return { path, file };
}

export async function getObject(
  req: S3Request,
  bucket: string,
  key: string,
  head: boolean,
): Promise<S3Response> {
  const { path, file } = await openObject(req, bucket, key);
  const headers: Record<string, string> = {
    ...metaHeaders(req, file.meta),
    etag: etagOf(file),
    "last-modified": new Date(file.createdAtMs).toUTCString(),
    "accept-ranges": "bytes",
    "x-amz-version-id": String(file.version),
  };
  if (checkReadConditions(req, file) === "not-modified") return { status: 304, headers };
  const rangeHeader = header(req, "range");
  const partNumber = partNumberQuery(req.query.get("partNumber"));
  let range: Range | null;
  if (partNumber !== undefined) {
    if (rangeHeader !== undefined) {
      throw new S3Error("InvalidRequest", "a request cannot give both a Range header and a partNumber");
    }
    range = partOf(file, partNumber, headers);
  } else {
    range = rangeHeader !== undefined && file.sizeBytes > 0 ? parseRange(rangeHeader, file.sizeBytes) : null;
    if (rangeHeader !== undefined && file.sizeBytes === 0 && /^bytes=\d+-/.test(rangeHeader.trim())) {
      throw new S3Error("InvalidRange", "the requested range is not satisfiable");
    }
  }
  const start = range?.start ?? 0;
  const end = range?.end ?? file.sizeBytes - 1;
  const length = Math.max(0, end - start + 1);
  headers["content-length"] = String(length);
  // An empty part (only ever the last) has no byte range to name: a plain 200 of no bytes.
  const partial = range !== null && length > 0;
  if (partial) headers["content-range"] = `bytes ${start}-${end}/${file.sizeBytes}`;
  const status = partial ? 206 : 200;
  if (head) return { status, headers };
  if (file.content.kind === "inline") {
    return { status, headers, body: Buffer.from(file.content.dataBase64, "base64").subarray(start, end + 1) };
  }
  if (length === 0) return { status, headers, body: Buffer.alloc(0) };
  return { status, headers, body: req.client.createReadStream(path, { version: file.version, start, end }) };
}

/** Removes the key's now-empty directories below the bucket (best effort: a racing write keeps them). */
async function pruneEmptyParents(req: S3Request, bucket: string, path: string): Promise<void> {
  const root = bucketPath(bucket);
  for (let dir = parentOf(path); dir !== root && dir.startsWith(`${root}/`); dir = parentOf(dir)) {
    try {
      await req.client.rm(dir); // not recursive: refused (NOT_EMPTY) if anything is left in it
    } catch (err) {
      if (isDfsError(err, "NOT_EMPTY") || isDfsError(err, "NOT_FOUND")) return;
      throw err;
    }
  }
}

async function deleteOne(req: S3Request, bucket: string, key: string): Promise<void> {
  const { path } = objectPath(bucket, key);
  try {
    await req.client.rm(path);
  } catch (err) {
    // S3 answers 204 for a key that is not there; a "folder" with keys below it stays.
    if (
      !isDfsError(err, "NOT_FOUND") &&
      !isDfsError(err, "NOT_EMPTY") &&
      !isDfsError(err, "NOT_A_DIRECTORY")
    ) {
      throw toS3Error(err);
    }
  }
  await pruneEmptyParents(req, bucket, path);
}

export async function deleteObject(req: S3Request, bucket: string, key: string): Promise<S3Response> {
  objectPath(bucket, key); // a key with no path is refused before the bucket is looked at
  await requireBucket(req, bucket);
  const r = await deleteKey(req, bucket, key, req.query.get("versionId"));
  const headers: Record<string, string> = {};
  if (r.versionId !== undefined) headers["x-amz-version-id"] = r.versionId;
  if (r.deleteMarker) headers["x-amz-delete-marker"] = "true";
  return { status: 204, headers };
}

/**
 * One key of DeleteObject(s). With a version id, that version goes; without one, a bucket whose
 * versioning was ever set gets a delete marker (versioning.ts), others lose the key. `versionId`: the
 * version deleted or the marker made; `deleteMarker`: the version deleted, or the one made, is a marker.
 */
async function deleteKey(
  req: S3Request,
  bucket: string,
  key: string,
  versionId: string | undefined,
): Promise<{ versionId?: string; deleteMarker: boolean }> {
  const { path } = objectPath(bucket, key);
  if (versionId !== undefined && versionId !== "null") {
    const version = Number(versionId);
    if (!Number.isSafeInteger(version) || version < 1)
      throw new S3Error("InvalidArgument", "invalid version id");
    const deleteMarker = await deleteVersion(req, path, version);
    await pruneEmptyParents(req, bucket, path);
    return { versionId, deleteMarker };
  }
  if ((await versioningOf(req, bucket)) !== undefined) {
    const marker = await putDeleteMarker(req, path);
    return marker === 0 ? { deleteMarker: false } : { versionId: String(marker), deleteMarker: true };
  }
  await deleteOne(req, bucket, key);
  return { deleteMarker: false };
}

export async function deleteObjects(req: S3Request, bucket: string): Promise<S3Response> {
  await requireBucket(req, bucket);
  const body = await readSmallBody(req.body, {
    headers: req.headers,
    payloadHash: req.payloadHash,
    maxBytes: MAX_DELETE_XML_BYTES,
  });
  const doc = parseXml(body, "Delete");
  const quiet = doc.Quiet === "true";
  const objects = many(doc.Object).map((o) => {
    const r = (o ?? {}) as Record<string, unknown>;
    if (typeof r.Key !== "string") throw new S3Error("MalformedXML", "every <Object> needs a <Key>");
    if (r.VersionId !== undefined && typeof r.VersionId !== "string") {
      throw new S3Error("MalformedXML", "<VersionId> is text");
    }
    return { key: r.Key, versionId: r.VersionId as string | undefined };
  });
  const keys = objects.map((o) => o.key);
  if (keys.length === 0 || keys.length > MAX_DELETE_KEYS) {
    throw new S3Error("MalformedXML", `a DeleteObjects request names 1 to ${MAX_DELETE_KEYS} keys`);
  }
  type Deleted = { Key: string; VersionId?: string; DeleteMarker?: boolean; DeleteMarkerVersionId?: string };
  const results: (Deleted | { Key: string; Code: string; Message: string })[] = new Array(keys.length);
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      const key = keys[i]!;
      try {
        const asked = objects[i]!.versionId;
        const r = await deleteKey(req, bucket, key, asked);
        const d: Deleted = { Key: key };
        if (asked !== undefined) d.VersionId = asked;
        if (r.deleteMarker) {
          d.DeleteMarker = true;
          if (r.versionId !== undefined) d.DeleteMarkerVersionId = r.versionId;
        }
        results[i] = d;
      } catch (err) {
        const e = toS3Error(err);
        results[i] = { Key: key, Code: e.code, Message: e.message };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(DELETE_CONCURRENCY, keys.length) }, worker));
  return xmlResponse(
    xmlDocument("DeleteResult", {
      Deleted: results.filter((r) => !("Code" in r) && !quiet),
      Error: results.filter((r) => "Code" in r),
    }),
  );
}

/** `x-amz-copy-source`: `[/]bucket/key[?versionId=n]`, percent-encoded. */
export function copySource(value: string): { bucket: string; key: string; version: number | undefined } {
  const q = value.indexOf("?");
  const pathPart = q < 0 ? value : value.slice(0, q);
  let decoded: string;
  try {
    decoded = decodeURIComponent(pathPart).replace(/^\//, "");
  } catch {
    throw new S3Error("InvalidArgument", "x-amz-copy-source is not valid");
  }
  const slash = decoded.indexOf("/");
  if (slash < 1) throw new S3Error("InvalidArgument", "x-amz-copy-source must be bucket/key");
  const params = new URLSearchParams(q < 0 ? "" : value.slice(q + 1));
  const v = params.get("versionId");
  const version = v === null || v === "null" ? undefined : Number(v);
  if (version !== undefined && (!Number.isSafeInteger(version) || version < 1)) {
    throw new S3Error("InvalidArgument", "invalid version id in x-amz-copy-source");
  }
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1), version };
}

/** CopyObject commits the source's chunk list under the new key: no byte is read or written. */
export async function copyObject(
  req: S3Request,
  bucket: string,
  key: string,
  source: string,
): Promise<S3Response> {
  const { path } = objectPath(bucket, key);
  const src = copySource(source);
  const srcPath = objectPath(src.bucket, src.key).path;
  const directive = metadataDirective(req);
  // S3 refuses a copy that would change nothing (the same key, the same metadata).
  if (srcPath === path && src.version === undefined && directive === "COPY") {
    throw new S3Error(
      "InvalidRequest",
      "this copy request is illegal because it is trying to copy an object to itself without changing the object's metadata",
    );
  }
  checkAclHeaders(req);
  refuseTagging(req);
  const replaced = directive === "REPLACE" ? metaFromHeaders(req.headers) : undefined;
  await requireBucket(req, bucket);
  let file: ReadResponse;
  try {
    file = await req.client.fileInfo(srcPath, src.version !== undefined ? { version: src.version } : {});
  } catch (err) {
    if (isDfsError(err, "IS_A_DIRECTORY") || isDfsError(err, "IS_A_SYMLINK"))
      throw new S3Error("NoSuchKey", "the copy source does not exist");
    throw toS3Error(err);
  }
  if (isDeleteMarker(file)) {
    if (src.version !== undefined) throw new S3Error("InvalidRequest", "the copy source is a delete marker");
    throw new S3Error("NoSuchKey", "the copy source does not exist");
  }
  checkReadConditions(req, file, "x-amz-copy-source-");
  const meta = directive === "REPLACE" ? replaced : copiedMeta(file.meta);
  const expectedVersion = await expectedVersionFor(req, path);
  let written: { version: number };
  try {
    written = await req.client.commitContent(path, file.content, {
      createParents: true,
      ...(expectedVersion !== undefined ? { expectedVersion } : {}),
      ...(meta !== undefined ? { meta } : {}),
    });
  } catch (err) {
    throw writeError(err);
  }
  const copy = await req.client.fileInfo(path, { version: written.version });
  const res = xmlResponse(
    xmlDocument("CopyObjectResult", {
      ETag: etagOf(copy),
      LastModified: new Date(copy.createdAtMs).toISOString(),
    }),
  );
  res.headers = {
    ...res.headers,
    "x-amz-version-id": String(written.version),
    "x-amz-copy-source-version-id": String(file.version),
  };
  return res;
}
