/**
 * Bucket handlers: ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation and the two
 * listings (ListObjectsV2, ListObjects v1). A bucket is a top-level directory.
 */
import { isDfsError } from "../common/errors.js";
import { checkAclHeaders, OWNER } from "./acl.js";
import { readSmallBody } from "./body.js";
import { S3Error, toS3Error } from "./errors.js";
import { bucketPath, isValidBucketName, requireBucket, UPLOADS_ROOT } from "./keys.js";
import {
  decodeToken,
  encodeToken,
  etagsOf,
  type ListedKey,
  maxKeysOf,
  page,
  type WalkOptions,
} from "./list.js";
import type { S3Request, S3Response } from "./types.js";
import { xmlResponse } from "./types.js";
import { removeBucketDir } from "./versioning.js";
import { type XmlTree, xmlDocument } from "./xml.js";

export async function listBuckets(req: S3Request): Promise<S3Response> {
  const entries = await req.client.readdir("/", { withTypes: true });
  const buckets = entries
    .filter((e) => e.type === "dir" && isValidBucketName(e.name))
    .map((e) => ({
      Name: e.name,
      CreationDate: new Date(Number(e.modifiedAtMs ?? 0)).toISOString(),
    }));
  return xmlResponse(xmlDocument("ListAllMyBucketsResult", { Owner: OWNER, Buckets: { Bucket: buckets } }));
}

export async function createBucket(req: S3Request, bucket: string): Promise<S3Response> {
  const path = bucketPath(bucket);
  checkAclHeaders(req);
  // The optional CreateBucketConfiguration (a location constraint) is read and not needed.
  await readSmallBody(req.body, { headers: req.headers, payloadHash: req.payloadHash, maxBytes: 64 * 1024 });
  try {
    await req.client.mkdir(path);
  } catch (err) {
    if (isDfsError(err, "EXISTS")) {
      throw new S3Error(
        "BucketAlreadyOwnedByYou",
        "your previous request to create the named bucket succeeded",
      );
    }
    throw toS3Error(err);
  }
  return { status: 200, headers: { location: `/${bucket}` } };
}

export async function deleteBucket(req: S3Request, bucket: string): Promise<S3Response> {
  await removeBucketDir(req, bucket);
  // Uploads never completed die with their bucket (their parts are the only thing keeping chunks).
  await req.client.rm(`${UPLOADS_ROOT}/${bucket}`, { recursive: true, force: true });
  return { status: 204 };
}

export async function headBucket(req: S3Request, bucket: string): Promise<S3Response> {
  await requireBucket(req, bucket);
  return { status: 200, headers: { "x-amz-bucket-region": "us-east-1" } };
}

export async function bucketLocation(req: S3Request, bucket: string, region: string): Promise<S3Response> {
  await requireBucket(req, bucket);
  const constraint = region === "us-east-1" ? "" : region;
  return xmlResponse(
    `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${constraint}</LocationConstraint>`,
  );
}

function encoder(req: S3Request): (s: string) => string {
  const type = req.query.get("encoding-type");
  if (type === undefined) return (s) => s;
  if (type !== "url") throw new S3Error("InvalidArgument", "invalid encoding-type");
  return (s) => encodeURIComponent(s).replace(/%2F/g, "/");
}

async function contents(
  req: S3Request,
  dir: string,
  keys: ListedKey[],
  enc: (s: string) => string,
): Promise<XmlTree[]> {
  const etags = await etagsOf(req, dir, keys);
  return keys.map((k, i) => ({
    Key: enc(k.key),
    LastModified: new Date(Number(k.entry.modifiedAtMs ?? 0)).toISOString(),
    ETag: etags[i],
    Size: Number(k.entry.sizeBytes ?? 0),
    StorageClass: "STANDARD",
  }));
}

export async function listObjects(req: S3Request, bucket: string, v2: boolean): Promise<S3Response> {
  const dir = await requireBucket(req, bucket);
  const enc = encoder(req);
  const prefix = req.query.get("prefix") ?? "";
  const delimiter = req.query.get("delimiter") ?? "";
  const max = maxKeysOf(req);
  const token = v2 ? req.query.get("continuation-token") : undefined;
  const startAfter = v2 ? req.query.get("start-after") : req.query.get("marker");
  let walkOpts: WalkOptions = { prefix, delimiter, after: startAfter || undefined, afterIsPrefix: false };
  // An empty token lists from the start, as S3 does (some clients send `continuation-token=`).
  if (token !== undefined && token !== "") {
    const t = decodeToken(token);
    walkOpts = { ...walkOpts, after: t.after, afterIsPrefix: t.isPrefix };
  } else if (!v2 && startAfter && delimiter !== "" && startAfter.endsWith(delimiter)) {
    // v1's NextMarker is a common prefix when the page ended on one: skip everything under it.
    walkOpts = { ...walkOpts, afterIsPrefix: true };
  }
  const { items, truncated } = await page(req, dir, walkOpts, max);
  const keys = items.filter((i): i is ListedKey => i.kind === "key");
  const prefixes = items.flatMap((i) => (i.kind === "prefix" ? [{ Prefix: enc(i.prefix) }] : []));
  const last = items.at(-1);
  const body: XmlTree = {
    Name: bucket,
    // v1 answers its Prefix as sent: botocore decodes v1's Delimiter, Marker, NextMarker and keys but
    // not its Prefix (v2's it does), and Ceph RGW answers so too.
    Prefix: v2 ? enc(prefix) : prefix,
    ...(delimiter !== "" ? { Delimiter: enc(delimiter) } : {}),
    MaxKeys: max,
    ...(req.query.has("encoding-type") ? { EncodingType: "url" } : {}),
    IsTruncated: truncated,
  };
  if (v2) {
    body.KeyCount = items.length;
    if (token !== undefined) body.ContinuationToken = token;
    if (startAfter) body.StartAfter = enc(startAfter);
    if (truncated && last !== undefined) {
      body.NextContinuationToken =
        last.kind === "key" ? encodeToken(last.key, false) : encodeToken(last.prefix, true);
    }
  } else {
    body.Marker = enc(startAfter ?? "");
    if (truncated && last !== undefined && delimiter !== "") {
      body.NextMarker = enc(last.kind === "key" ? last.key : last.prefix);
    }
  }
  body.Contents = await contents(req, dir, keys, enc);
  body.CommonPrefixes = prefixes;
  return xmlResponse(xmlDocument("ListBucketResult", body));
}
