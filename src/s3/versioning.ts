/**
 * Bucket versioning on raftfs file versions. Every raftfs file keeps its last `versionsRetained`
 * versions whatever S3 says, so an S3 version id is simply the raftfs version number, and GetObject,
 * HeadObject and CopyObject read an older one by it. What S3 calls the bucket's versioning state lives
 * in a marker file inside the bucket directory (`.raftfs-s3-versioning`, a key no S3 request may name
 * and no listing shows), so it needs nothing new in the metadata service and dies with its bucket:
 * DeleteBucket removes the marker and the directory in one transaction.
 *
 * Deleting: by `versionId`, that one version goes (the metadata service's dropVersion; the key goes
 * with its last one). Without one, in a bucket whose versioning was ever set, a delete marker becomes
 * the key's latest version (keys.ts: a version with an empty chunk list), so GET answers 404 and
 * listings skip the key while ListObjectVersions shows the marker. A Suspended bucket adds a numbered
 * marker too (S3 would replace a "null" version: raftfs versions are all numbered).
 * Unbounded history is not kept: versions beyond `versionsRetained` are dropped by the cluster on
 * commit, as if a lifecycle rule expired noncurrent versions (markers included) past that count.
 */
import { isDfsError } from "../common/errors.js";
import { OWNER } from "./acl.js";
import { readSmallBody } from "./body.js";
import { S3Error, toS3Error } from "./errors.js";
import {
  bucketPath,
  DELETE_MARKER,
  etagOf,
  isDeleteMarker,
  objectPath,
  requireBucket,
  VERSIONING_MARKER,
} from "./keys.js";
import { maxKeysOf, page, type WalkOptions } from "./list.js";
import { type S3Request, type S3Response, xmlResponse } from "./types.js";
import { parseXml, type XmlTree, xmlDocument } from "./xml.js";

export type VersioningStatus = "Enabled" | "Suspended";

function markerPath(bucket: string): string {
  return `${bucketPath(bucket)}/${VERSIONING_MARKER}`;
}

/** The bucket's versioning state; undefined when it was never set. */
export async function versioningOf(req: S3Request, bucket: string): Promise<VersioningStatus | undefined> {
  try {
    const v = await req.client.readFile(markerPath(bucket), { encoding: "utf8" });
    return v === "Enabled" || v === "Suspended" ? v : undefined;
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND")) return undefined;
    throw toS3Error(err);
  }
}

export async function getBucketVersioning(req: S3Request, bucket: string): Promise<S3Response> {
  await requireBucket(req, bucket);
  const status = await versioningOf(req, bucket);
  return xmlResponse(xmlDocument("VersioningConfiguration", status === undefined ? {} : { Status: status }));
}

export async function putBucketVersioning(req: S3Request, bucket: string): Promise<S3Response> {
  await requireBucket(req, bucket);
  const body = await readSmallBody(req.body, {
    headers: req.headers,
    payloadHash: req.payloadHash,
    maxBytes: 64 * 1024,
  });
  const doc = parseXml(body, "VersioningConfiguration");
  if (doc.Status !== "Enabled" && doc.Status !== "Suspended") {
    throw new S3Error("MalformedXML", "<Status> must be Enabled or Suspended");
  }
  if (doc.MfaDelete === "Enabled") throw new S3Error("NotImplemented", "MFA delete is not supported");
  try {
    // No createParents: a bucket deleted meanwhile is NoSuchBucket, never recreated by its marker.
    await req.client.writeFile(markerPath(bucket), doc.Status);
  } catch (err) {
    throw toS3Error(err, "NoSuchBucket");
  }
  return { status: 200 };
}

/**
 * DeleteBucket: the bucket must hold no key; its versioning marker goes with it in the same
 * transaction, so a bucket is never left half-deleted nor a marker left behind.
 */
export async function removeBucketDir(req: S3Request, bucket: string): Promise<void> {
  const path = bucketPath(bucket);
  const marker = markerPath(bucket);
  try {
    if (await req.client.exists(marker)) {
      await req.client.txn(
        [{ kind: "exists", path: marker, exists: true }],
        [
          { type: "delete", path: marker },
          { type: "delete", path },
        ],
      );
    } else {
      await req.client.rm(path);
    }
  } catch (err) {
    throw toS3Error(err, "NoSuchBucket");
  }
}

/**
 * DeleteObject by version id: that one version goes (the metadata service's dropVersion), a delete
 * marker as well as an object's; the key goes with its last version. A version that is not there
 * answers 204 all the same, as S3 does. Returns whether the version dropped was a delete marker.
 */
export async function deleteVersion(req: S3Request, path: string, version: number): Promise<boolean> {
  try {
    const marker = isDeleteMarker(await req.client.fileInfo(path, { version }));
    await req.client.dropVersion(path, version);
    return marker;
  } catch (err) {
    const gone = isDfsError(err, "NOT_FOUND") || isDfsError(err, "IS_A_DIRECTORY");
    if (gone || isDfsError(err, "NOT_A_DIRECTORY")) return false;
    throw toS3Error(err);
  }
}

/**
 * A DELETE without version id in a bucket whose versioning was ever set: a delete marker becomes the
 * key's latest version (keys.ts), so GET answers 404 while every earlier version stays readable by id.
 * S3 adds one even where the key never existed. Returns the marker's version id.
 */
export async function putDeleteMarker(req: S3Request, path: string): Promise<number> {
  try {
    return (await req.client.commitContent(path, DELETE_MARKER, { createParents: true })).version;
  } catch (err) {
    // A "folder" with keys below it is no object: nothing to mark.
    if (isDfsError(err, "IS_A_DIRECTORY")) return 0;
    throw toS3Error(err, "NoSuchBucket");
  }
}

/** ListObjectVersions: every retained version of every key, newest first within a key. */
export async function listObjectVersions(req: S3Request, bucket: string): Promise<S3Response> {
  const dir = await requireBucket(req, bucket);
  const prefix = req.query.get("prefix") ?? "";
  const delimiter = req.query.get("delimiter") ?? "";
  const max = maxKeysOf(req);
  const keyMarker = req.query.get("key-marker") || undefined;
  const vMarkerRaw = req.query.get("version-id-marker") || undefined;
  const vMarker = vMarkerRaw === undefined ? undefined : Number(vMarkerRaw);
  if (vMarker !== undefined && (!Number.isSafeInteger(vMarker) || vMarker < 1 || keyMarker === undefined)) {
    throw new S3Error("InvalidArgument", "version-id-marker must be a version id and needs a key-marker");
  }
  const versions: { marker: boolean; tree: XmlTree }[] = [];
  const prefixes: XmlTree[] = [];
  let truncated = false;
  let next: { key: string; version: number } | undefined;
  let nextPrefix: string | undefined;

  /** Adds `key`'s versions older than `below`; false when the page filled up first. */
  const addKey = async (key: string, below: number | undefined): Promise<boolean> => {
    const path = objectPath(bucket, key).path;
    let all: number[];
    try {
      all = (await req.client.versions(path)).map((v) => v.version).reverse();
    } catch (err) {
      if (isDfsError(err, "NOT_FOUND")) return true; // deleted since it was listed
      throw toS3Error(err);
    }
    const latest = all[0];
    for (const v of all) {
      if (below !== undefined && v >= below) continue;
      if (versions.length + prefixes.length === max) {
        truncated = true;
        return false;
      }
      let info: Awaited<ReturnType<typeof req.client.fileInfo>>;
      try {
        info = await req.client.fileInfo(path, { version: v });
      } catch (err) {
        if (isDfsError(err, "NOT_FOUND")) continue; // dropped from retention meanwhile
        throw toS3Error(err);
      }
      const common = {
        Key: key,
        VersionId: String(v),
        IsLatest: v === latest,
        LastModified: new Date(info.createdAtMs).toISOString(),
      };
      if (isDeleteMarker(info)) versions.push({ marker: true, tree: { ...common, Owner: OWNER } });
      else {
        versions.push({
          marker: false,
          tree: {
            ...common,
            ETag: etagOf(info),
            Size: info.sizeBytes,
            StorageClass: "STANDARD",
            Owner: OWNER,
          },
        });
      }
      next = { key, version: v };
    }
    return true;
  };

  let full = false;
  if (keyMarker !== undefined && vMarker !== undefined && keyMarker.startsWith(prefix)) {
    full = !(await addKey(keyMarker, vMarker));
  }
  if (!full) {
    const o: WalkOptions = { prefix, delimiter, after: keyMarker, afterIsPrefix: false, withDeleted: true };
    // One item more than fits tells whether the listing is truncated; keys expand to their versions.
    const { items, truncated: more } = await page(req, dir, o, max + 1);
    for (const item of items) {
      if (versions.length + prefixes.length === max) {
        truncated = true;
        break;
      }
      if (item.kind === "prefix") {
        prefixes.push({ Prefix: item.prefix });
        nextPrefix = item.prefix;
        next = undefined;
        continue;
      }
      nextPrefix = undefined;
      if (!(await addKey(item.key, undefined))) break;
    }
    if (!truncated && more && items.length > max) truncated = true;
  }
  const body: XmlTree = {
    Name: bucket,
    Prefix: prefix,
    ...(delimiter !== "" ? { Delimiter: delimiter } : {}),
    KeyMarker: keyMarker ?? "",
    VersionIdMarker: vMarkerRaw ?? "",
    MaxKeys: max,
    IsTruncated: truncated,
  };
  if (truncated) {
    if (nextPrefix !== undefined && next === undefined) body.NextKeyMarker = nextPrefix;
    else if (next !== undefined) {
      body.NextKeyMarker = next.key;
      body.NextVersionIdMarker = String(next.version);
    }
  }
  body.Version = versions.filter((v) => !v.marker).map((v) => v.tree);
  body.DeleteMarker = versions.filter((v) => v.marker).map((v) => v.tree);
  body.CommonPrefixes = prefixes;
  return xmlResponse(xmlDocument("ListVersionsResult", body));
}
