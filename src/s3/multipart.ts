/**
 * Multipart upload. An upload is a directory `/.s3-uploads/<bucket>/<uploadId>` holding a file `key`
 * (the object's key) and one file per part, `part-00001`..., each stored as chunks (never inline) as
 * its bytes stream in. Completion reads the parts' chunk lists and commits their concatenation as
 * the object in ONE commit: no byte is read or copied, and the object appears whole or not at all.
 * The upload directory is removed afterwards; its chunks stay referenced by the object. State lives in
 * the cluster only, so any gateway may serve any step of an upload. The upload id (128 random bits)
 * is the capability that names it.
 */
import { randomBytes } from "node:crypto";
import { isDfsError } from "../common/errors.js";
import {
  MAX_CHUNKS_PER_FILE,
  type ReadResponse,
  type VersionMeta,
  versionMetaProblem,
  type WireChunkRef,
  type WireContent,
} from "../common/protocol/index.js";
import { checkAclHeaders } from "./acl.js";
import { objectBytes, readSmallBody } from "./body.js";
import { checkReadConditions, expectedVersionFor } from "./conditions.js";
import { S3Error, toS3Error } from "./errors.js";
import {
  etagMatches,
  etagOfContent,
  isDeleteMarker,
  objectPath,
  partEtag,
  requireBucket,
  UPLOADS_ROOT,
} from "./keys.js";
import { metaFromHeaders, UPLOAD_ID_META } from "./object-meta.js";
import { copySource } from "./objects.js";
import { encodePartSizes, MAX_PARTS, PARTS_META } from "./parts.js";
import { refuseTagging } from "./subresources.js";
import { type S3Request, type S3Response, xmlResponse } from "./types.js";
import { many, parseXml, xmlDocument } from "./xml.js";

const MAX_COMPLETE_XML_BYTES = 4 * 1024 * 1024;
const PART_READ_CONCURRENCY = 16;

function uploadDir(bucket: string, uploadId: string): string {
  if (!/^[0-9a-f]{32}$/.test(uploadId))
    throw new S3Error("NoSuchUpload", "the specified upload does not exist");
  return `${UPLOADS_ROOT}/${bucket}/${uploadId}`;
}

function partName(n: number): string {
  return `part-${String(n).padStart(5, "0")}`;
}

function partNumberOf(raw: string | undefined): number {
  const n = Number(raw);
  if (raw === undefined || !/^\d+$/.test(raw) || n < 1 || n > MAX_PARTS) {
    throw new S3Error("InvalidArgument", `part numbers are 1 to ${MAX_PARTS}`);
  }
  return n;
}

/**
 * Checks that the upload exists and belongs to `key`; returns its directory and the metadata its
 * creation was given (kept as the version metadata of its `key` file, so completion can commit it).
 */
async function openUpload(
  req: S3Request,
  bucket: string,
  key: string,
  uploadId: string,
): Promise<{ dir: string; meta: VersionMeta | undefined }> {
  const dir = uploadDir(bucket, uploadId);
  let file: ReadResponse;
  try {
    file = await req.client.fileInfo(`${dir}/key`);
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND"))
      throw new S3Error("NoSuchUpload", "the specified upload does not exist");
    throw toS3Error(err);
  }
  // Written inline by createUpload (a key is at most 1024 bytes, far below the inline threshold).
  const stored =
    file.content.kind === "inline" ? Buffer.from(file.content.dataBase64, "base64").toString() : "";
  if (stored !== key) throw new S3Error("NoSuchUpload", "the specified upload is not for this key");
  return { dir, meta: file.meta };
}

async function checkUpload(req: S3Request, bucket: string, key: string, uploadId: string): Promise<string> {
  return (await openUpload(req, bucket, key, uploadId)).dir;
}

export async function createUpload(req: S3Request, bucket: string, key: string): Promise<S3Response> {
  objectPath(bucket, key);
  checkAclHeaders(req);
  refuseTagging(req);
  await requireBucket(req, bucket);
  const meta = metaFromHeaders(req.headers);
  const uploadId = randomBytes(16).toString("hex");
  await req.client.writeFile(`${uploadDir(bucket, uploadId)}/key`, key, {
    createParents: true,
    ...(meta !== undefined ? { meta } : {}),
  });
  return xmlResponse(
    xmlDocument("InitiateMultipartUploadResult", { Bucket: bucket, Key: key, UploadId: uploadId }),
  );
}

export async function uploadPart(req: S3Request, bucket: string, key: string): Promise<S3Response> {
  const n = partNumberOf(req.query.get("partNumber"));
  const dir = await checkUpload(req, bucket, key, req.query.get("uploadId") ?? "");
  const source = req.headers["x-amz-copy-source"];
  if (typeof source === "string") return uploadPartCopy(req, `${dir}/${partName(n)}`, source);
  const bytes = objectBytes(req.body, {
    headers: req.headers,
    payloadHash: req.payloadHash,
    maxBytes: req.limits.maxObjectBytes,
  });
  const path = `${dir}/${partName(n)}`;
  let written: { version: number };
  try {
    written = await req.client.writeFile(path, bytes, { chunked: true });
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND"))
      throw new S3Error("NoSuchUpload", "the upload was completed or aborted");
    throw toS3Error(err);
  }
  await refuseOverChunkLimit(req, dir, { path, version: written.version });
  return {
    status: 200,
    headers: { etag: partEtag(await req.client.fileInfo(path, { version: written.version })) },
  };
}

/**
 * A file lists at most MAX_CHUNKS_PER_FILE chunks and each part is cut into chunks of its own, so an
 * upload whose parts already need more can never complete: the part just written is refused (that
 * version of it dropped) now, not after the client sent every byte. The count is a lower bound (ceil(size / chunk
 * size) per part; a part copied by reference keeps its source's chunks); completion checks exactly.
 */
export async function refuseOverChunkLimit(
  req: Pick<S3Request, "client">,
  dir: string,
  part: { path: string; version: number },
): Promise<void> {
  const chunkSize = req.client.options.chunkSizeBytes;
  let chunks = 0;
  for (const e of await req.client.readdir(dir, { withTypes: true })) {
    if (e.name.startsWith("part-")) chunks += Math.ceil((e.sizeBytes ?? 0) / chunkSize);
  }
  if (chunks <= MAX_CHUNKS_PER_FILE) return;
  // Only this upload of the part goes: an earlier upload of the same number stays as it was.
  try {
    await req.client.dropVersion(part.path, part.version);
  } catch (err) {
    if (!isDfsError(err, "NOT_FOUND")) throw toS3Error(err);
  }
  throw new S3Error(
    "EntityTooLarge",
    `the completed object would list more than ${MAX_CHUNKS_PER_FILE} chunks of ${chunkSize} bytes (at least ${chunks})`,
  );
}

/** `bytes=first-last`, both given, as UploadPartCopy requires; undefined when absent. */
function copyRange(req: S3Request, size: number): { start: number; end: number } | undefined {
  const raw = req.headers["x-amz-copy-source-range"];
  if (raw === undefined) return undefined;
  const m = typeof raw === "string" ? /^bytes=(\d+)-(\d+)$/.exec(raw.trim()) : null;
  if (m === null) throw new S3Error("InvalidArgument", "x-amz-copy-source-range must be bytes=first-last");
  const start = Number(m[1]);
  const end = Number(m[2]);
  if (end < start || end >= size) {
    throw new S3Error("InvalidRange", "the copy source range is not within the source object");
  }
  return { start, end };
}

/**
 * UploadPartCopy. A whole chunked source becomes the part by reference (its chunk list committed,
 * no byte read); a range, or an inline source, is streamed once through the gateway into new chunks,
 * since chunks are immutable and a part must be chunks (completion concatenates chunk lists).
 */
async function uploadPartCopy(req: S3Request, partPath: string, source: string): Promise<S3Response> {
  const src = copySource(source);
  const srcPath = objectPath(src.bucket, src.key).path;
  let file: ReadResponse;
  try {
    file = await req.client.fileInfo(srcPath, src.version !== undefined ? { version: src.version } : {});
  } catch (err) {
    if (isDfsError(err, "IS_A_DIRECTORY") || isDfsError(err, "NOT_FOUND")) {
      throw new S3Error("NoSuchKey", "the copy source does not exist");
    }
    throw toS3Error(err);
  }
  if (isDeleteMarker(file)) throw new S3Error("NoSuchKey", "the copy source is a delete marker");
  checkReadConditions(req, file, "x-amz-copy-source-");
  const range = copyRange(req, file.sizeBytes);
  let written: { version: number };
  try {
    if (range === undefined && (file.content.kind === "chunks" || file.sizeBytes === 0)) {
      written = await req.client.commitContent(partPath, file.content);
    } else {
      const bytes = req.client.createReadStream(srcPath, {
        version: file.version,
        ...(range !== undefined ? range : {}),
      });
      written = await req.client.writeFile(partPath, bytes, { chunked: true });
    }
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND"))
      throw new S3Error("NoSuchUpload", "the upload was completed or aborted");
    throw toS3Error(err);
  }
  const part = await req.client.fileInfo(partPath, { version: written.version });
  return xmlResponse(
    xmlDocument("CopyPartResult", {
      ETag: partEtag(part),
      LastModified: new Date(part.createdAtMs).toISOString(),
    }),
    200,
  );
}

async function partInfos(req: S3Request, dir: string, numbers: number[]): Promise<(ReadResponse | null)[]> {
  const out: (ReadResponse | null)[] = new Array(numbers.length).fill(null);
  let next = 0;
  const worker = async () => {
    while (next < numbers.length) {
      const i = next++;
      try {
        out[i] = await req.client.fileInfo(`${dir}/${partName(numbers[i]!)}`);
      } catch (err) {
        if (!isDfsError(err, "NOT_FOUND")) throw toS3Error(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(PART_READ_CONCURRENCY, numbers.length) }, worker));
  return out;
}

export async function completeUpload(req: S3Request, bucket: string, key: string): Promise<S3Response> {
  const { path } = objectPath(bucket, key);
  const uploadId = req.query.get("uploadId") ?? "";
  let upload: { dir: string; meta: VersionMeta | undefined };
  try {
    upload = await openUpload(req, bucket, key, uploadId);
  } catch (err) {
    const done =
      err instanceof S3Error && err.code === "NoSuchUpload" ? await completedFrom(req, path, uploadId) : null;
    if (done === null) throw err;
    return completeResult(bucket, key, done);
  }
  const { dir, meta } = upload;
  const body = await readSmallBody(req.body, {
    headers: req.headers,
    payloadHash: req.payloadHash,
    maxBytes: MAX_COMPLETE_XML_BYTES,
  });
  const doc = parseXml(body, "CompleteMultipartUpload");
  const listed = many(doc.Part).map((p) => {
    const o = (p ?? {}) as Record<string, unknown>;
    if (typeof o.PartNumber !== "string" || typeof o.ETag !== "string") {
      throw new S3Error("MalformedXML", "every <Part> needs a <PartNumber> and an <ETag>");
    }
    return { n: partNumberOf(o.PartNumber), etag: o.ETag };
  });
  if (listed.length === 0 || listed.length > MAX_PARTS) {
    throw new S3Error("MalformedXML", `a completion lists 1 to ${MAX_PARTS} parts`);
  }
  for (let i = 1; i < listed.length; i++) {
    if (listed[i]!.n <= listed[i - 1]!.n) {
      throw new S3Error("InvalidPartOrder", "the list of parts was not in ascending order");
    }
  }
  const infos = await partInfos(
    req,
    dir,
    listed.map((p) => p.n),
  );
  const chunks: WireChunkRef[] = [];
  const partSizes: number[] = [];
  let sizeBytes = 0;
  for (const [i, info] of infos.entries()) {
    const part = listed[i]!;
    if (info === null || !etagMatches(part.etag, partEtag(info))) {
      throw new S3Error("InvalidPart", `part ${part.n} was not uploaded, or its ETag is not ${part.etag}`);
    }
    // S3's rule (checked at completion, as S3 does): every part but the last holds at least 5 MiB.
    if (i < infos.length - 1 && info.sizeBytes < req.limits.minPartSizeBytes) {
      throw new S3Error(
        "EntityTooSmall",
        `part ${part.n} is ${info.sizeBytes} bytes; every part but the last must be at least ${req.limits.minPartSizeBytes}`,
      );
    }
    partSizes.push(info.sizeBytes);
    if (info.content.kind === "inline") {
      // Parts are written with `chunked: true`: only an empty part is inline.
      if (info.sizeBytes !== 0) throw new S3Error("InternalError", `part ${part.n} is stored inline`);
      continue;
    }
    chunks.push(...info.content.chunks);
    sizeBytes += info.content.sizeBytes;
  }
  if (sizeBytes > req.limits.maxObjectBytes) throw new S3Error("EntityTooLarge", "the object is too large");
  if (chunks.length > MAX_CHUNKS_PER_FILE) {
    throw new S3Error("EntityTooLarge", `the object would list more than ${MAX_CHUNKS_PER_FILE} chunks`);
  }
  const content: WireContent =
    chunks.length === 0 ? { kind: "inline", dataBase64: "" } : { kind: "chunks", chunks, sizeBytes };
  const expectedVersion = await expectedVersionFor(req, path);
  try {
    await req.client.commitContent(path, content, {
      createParents: true,
      ...(expectedVersion !== undefined ? { expectedVersion } : {}),
      meta: completedMeta(meta, uploadId, partSizes),
    });
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND"))
      throw new S3Error("NoSuchBucket", "the specified bucket does not exist");
    throw toS3Error(err);
  }
  // The object now references every chunk: the parts can go (a failure here leaves an upload that
  // ListMultipartUploads shows and AbortMultipartUpload removes).
  await req.client.rm(dir, { recursive: true, force: true });
  return completeResult(bucket, key, content);
}

/**
 * The completed object's metadata: what its creation was given, the upload id (a repeated completion
 * answers as the first) and its part sizes (GetObject by `partNumber`), the sizes only if they fit
 * the metadata's bound (else the object reads as one part).
 */
function completedMeta(meta: VersionMeta | undefined, uploadId: string, partSizes: number[]): VersionMeta {
  const base: VersionMeta = { ...meta, [UPLOAD_ID_META]: uploadId };
  const withParts = { ...base, [PARTS_META]: encodePartSizes(partSizes) };
  return versionMetaProblem(withParts) === null ? withParts : base;
}

function completeResult(bucket: string, key: string, content: WireContent): S3Response {
  return xmlResponse(
    xmlDocument("CompleteMultipartUploadResult", {
      Location: `/${bucket}/${key}`,
      Bucket: bucket,
      Key: key,
      ETag: etagOfContent(content),
    }),
  );
}

/** The content `uploadId` completed into, if the key's latest version is that completion; else null. */
async function completedFrom(req: S3Request, path: string, uploadId: string): Promise<WireContent | null> {
  try {
    const file = await req.client.fileInfo(path);
    return file.meta?.[UPLOAD_ID_META] === uploadId ? file.content : null;
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND") || isDfsError(err, "IS_A_DIRECTORY")) return null;
    throw toS3Error(err);
  }
}

export async function abortUpload(req: S3Request, bucket: string, key: string): Promise<S3Response> {
  const dir = await checkUpload(req, bucket, key, req.query.get("uploadId") ?? "");
  await req.client.rm(dir, { recursive: true, force: true });
  return { status: 204 };
}

export async function listParts(req: S3Request, bucket: string, key: string): Promise<S3Response> {
  const uploadId = req.query.get("uploadId") ?? "";
  const dir = await checkUpload(req, bucket, key, uploadId);
  const marker = Number(req.query.get("part-number-marker") ?? "0");
  const maxRaw = Number(req.query.get("max-parts") ?? "1000");
  if (!Number.isSafeInteger(marker) || marker < 0 || !Number.isSafeInteger(maxRaw) || maxRaw < 0) {
    throw new S3Error("InvalidArgument", "part-number-marker and max-parts are non-negative integers");
  }
  const max = Math.min(maxRaw, 1000);
  const numbers = (await req.client.readdir(dir))
    .filter((n) => /^part-\d{5}$/.test(n))
    .map((n) => Number(n.slice(5)))
    .filter((n) => n > marker)
    .sort((a, b) => a - b);
  const shown = numbers.slice(0, max);
  const infos = await partInfos(req, dir, shown);
  const parts = shown.flatMap((n, i) => {
    const info = infos[i];
    if (info === null || info === undefined) return [];
    return [
      {
        PartNumber: n,
        LastModified: new Date(info.createdAtMs).toISOString(),
        ETag: partEtag(info),
        Size: info.sizeBytes,
      },
    ];
  });
  const truncated = numbers.length > shown.length;
  return xmlResponse(
    xmlDocument("ListPartsResult", {
      Bucket: bucket,
      Key: key,
      UploadId: uploadId,
      PartNumberMarker: marker,
      ...(truncated ? { NextPartNumberMarker: shown.at(-1) } : {}),
      MaxParts: max,
      IsTruncated: truncated,
      Part: parts,
      StorageClass: "STANDARD",
    }),
  );
}

export async function listUploads(req: S3Request, bucket: string): Promise<S3Response> {
  await requireBucket(req, bucket);
  const prefix = req.query.get("prefix") ?? "";
  let ids: string[];
  try {
    ids = await req.client.readdir(`${UPLOADS_ROOT}/${bucket}`);
  } catch (err) {
    if (!isDfsError(err, "NOT_FOUND")) throw toS3Error(err);
    ids = [];
  }
  const uploads: { Key: string; UploadId: string }[] = [];
  // Bounded: one page of 1000, as S3 pages it (key and upload-id markers are not supported).
  for (const id of ids.filter((i) => /^[0-9a-f]{32}$/.test(i)).slice(0, 1000)) {
    try {
      const key = await req.client.readFile(`${UPLOADS_ROOT}/${bucket}/${id}/key`, { encoding: "utf8" });
      if (key.startsWith(prefix)) uploads.push({ Key: key, UploadId: id });
    } catch (err) {
      if (!isDfsError(err, "NOT_FOUND")) throw toS3Error(err);
    }
  }
  uploads.sort((a, b) => (a.Key < b.Key ? -1 : a.Key > b.Key ? 1 : a.UploadId < b.UploadId ? -1 : 1));
  return xmlResponse(
    xmlDocument("ListMultipartUploadsResult", {
      Bucket: bucket,
      Prefix: prefix,
      MaxUploads: 1000,
      IsTruncated: false,
      Upload: uploads.map((u) => ({ ...u, StorageClass: "STANDARD" })),
    }),
  );
}
