/**
 * The part boundaries of an object completed from a multipart upload, so that GetObject and HeadObject
 * with `partNumber` answer that part's bytes and `x-amz-mp-parts-count`, as S3 does (download tools
 * fetch big objects part by part and check each part's size). The sizes are kept in the version's
 * metadata beside the object (PARTS_META), run-length encoded — `5242880*3,1048576` — because parts
 * are nearly always of one size but the last: a 10,000-part upload of equal parts is a dozen bytes.
 * An upload whose sizes do not fit the metadata's bound keeps none, and reads as one part.
 */
import type { VersionMeta } from "../common/protocol/index.js";
import { S3Error } from "./errors.js";

/** The version-metadata key holding the sizes; never answered as a header, never copied. */
export const PARTS_META = "raftfs-parts";

/** S3's bounds on part numbers. */
export const MAX_PARTS = 10_000;

/** `size*count` runs joined by `,`; `count` omitted when 1. */
export function encodePartSizes(sizes: readonly number[]): string {
  const runs: string[] = [];
  let i = 0;
  while (i < sizes.length) {
    const size = sizes[i]!;
    let j = i + 1;
    while (j < sizes.length && sizes[j] === size) j++;
    runs.push(j - i === 1 ? String(size) : `${size}*${j - i}`);
    i = j;
  }
  return runs.join(",");
}

/**
 * The sizes `encodePartSizes` wrote; undefined for anything else (a value some other writer of the
 * metadata put there is no reason to fail a read: the object then reads as one part).
 */
export function decodePartSizes(raw: string | undefined): number[] | undefined {
  if (raw === undefined || raw === "") return undefined;
  const sizes: number[] = [];
  for (const run of raw.split(",")) {
    const m = /^(\d{1,16})(?:\*(\d{1,5}))?$/.exec(run);
    if (m === null) return undefined;
    const size = Number(m[1]);
    const count = m[2] === undefined ? 1 : Number(m[2]);
    if (!Number.isSafeInteger(size) || count < 1 || sizes.length + count > MAX_PARTS) return undefined;
    for (let k = 0; k < count; k++) sizes.push(size);
  }
  return sizes;
}

/** `partNumber` of a GET or HEAD: undefined when absent, else 1..MAX_PARTS. */
export function partNumberQuery(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  if (!/^[1-9]\d{0,4}$/.test(raw) || Number(raw) > MAX_PARTS) {
    throw new S3Error("InvalidArgument", `partNumber is 1 to ${MAX_PARTS}`);
  }
  return Number(raw);
}

/** The part sizes kept with a version, if they describe it (they add up to its size). */
export function partSizesOf(meta: VersionMeta | undefined, sizeBytes: number): number[] | undefined {
  const sizes = decodePartSizes(meta?.[PARTS_META]);
  if (sizes === undefined || sizes.reduce((a, b) => a + b, 0) !== sizeBytes) return undefined;
  return sizes;
}

/** The byte range (inclusive; empty when end < start) of part `n`; InvalidPart past the last part. */
export function partRange(sizes: readonly number[], n: number): { start: number; end: number } {
  if (n < 1 || n > sizes.length) {
    throw new S3Error("InvalidPart", `the object has ${sizes.length} part(s); part ${n} does not exist`);
  }
  let start = 0;
  for (let i = 0; i < n - 1; i++) start += sizes[i]!;
  return { start, end: start + sizes[n - 1]! - 1 };
}
