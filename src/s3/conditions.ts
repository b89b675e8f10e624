/**
 * Conditional requests. Reads: If-Match / If-None-Match / If-(Un)Modified-Since against the version
 * about to be served (RFC 9110 order). Writes: `If-None-Match: *` and `If-Match: <etag>` become a
 * compare-and-set on the file's version — the expected version travels with the commit, so two
 * racing conditional writers cannot both win.
 */
import { isDfsError } from "../common/errors.js";
import type { ReadResponse } from "../common/protocol/index.js";
import { S3Error } from "./errors.js";
import { etagMatches, etagOf, isDeleteMarker } from "./keys.js";
import { header, type S3Request } from "./types.js";

function dateHeader(req: S3Request, name: string): number | undefined {
  const v = header(req, name);
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** Throws PreconditionFailed, or returns "not-modified" (304), or null to serve. */
export function checkReadConditions(req: S3Request, file: ReadResponse, prefix = ""): "not-modified" | null {
  const etag = etagOf(file);
  // HTTP dates have whole seconds: compare at that grain.
  const modifiedS = Math.floor(file.createdAtMs / 1000);
  const ifMatch = header(req, `${prefix}if-match`);
  const ifNoneMatch = header(req, `${prefix}if-none-match`);
  if (ifMatch !== undefined && !etagMatches(ifMatch, etag)) {
    throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
  }
  const unmodified = dateHeader(req, `${prefix}if-unmodified-since`);
  if (ifMatch === undefined && unmodified !== undefined && modifiedS > Math.floor(unmodified / 1000)) {
    throw new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
  }
  if (ifNoneMatch !== undefined && etagMatches(ifNoneMatch, etag)) {
    if (prefix !== "") throw new S3Error("PreconditionFailed", "the copy source's ETag matches");
    return "not-modified";
  }
  const since = dateHeader(req, `${prefix}if-modified-since`);
  if (ifNoneMatch === undefined && since !== undefined && modifiedS <= Math.floor(since / 1000)) {
    if (prefix !== "") throw new S3Error("PreconditionFailed", "the copy source was not modified since");
    return "not-modified";
  }
  return null;
}

/**
 * The expected version for a conditional write (undefined: unconditional). `If-None-Match: *`: the key
 * must not exist; `If-None-Match: <etag>`: the current object must not have that ETag; `If-Match`: it
 * must have it. The commit then expects exactly the version judged (0: none), so a write landing in
 * between makes ours fail rather than slip past the condition.
 */
export async function expectedVersionFor(req: S3Request, path: string): Promise<number | undefined> {
  const ifNoneMatch = header(req, "if-none-match");
  const ifMatch = header(req, "if-match");
  if (ifNoneMatch === undefined && ifMatch === undefined) return undefined;
  let file: ReadResponse | undefined;
  try {
    file = await req.client.fileInfo(path);
  } catch (err) {
    if (!isDfsError(err, "NOT_FOUND")) throw err;
  }
  // A key whose latest version is a delete marker does not exist, to S3: expect exactly that marker.
  const live = file !== undefined && !isDeleteMarker(file) ? file : undefined;
  const failed = () =>
    new S3Error("PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
  if (ifMatch !== undefined) {
    if (live === undefined) throw new S3Error("NoSuchKey", "the key does not exist");
    if (!etagMatches(ifMatch, etagOf(live))) throw failed();
  }
  // `*` matches any existing object; an ETag list matches only the current one's.
  if (ifNoneMatch !== undefined && live !== undefined && etagMatches(ifNoneMatch, etagOf(live))) {
    throw failed();
  }
  return file?.version ?? 0;
}
