/**
 * A version's metadata: a small map of strings committed with the version and returned when it is
 * read, opaque to raftfs (the S3 gateway keeps Content-Type and `x-amz-meta-*` in it). Bounded so a
 * version record stays small: the state machine refuses a commit past these limits.
 */
import { utf8ByteLength } from "../paths.js";

export type VersionMeta = Record<string, string>;

/** Entries of one version's metadata. */
export const VERSION_META_MAX_ENTRIES = 64;
/** UTF-8 bytes over all keys and values (S3 allows 2 KiB of user metadata plus a few system headers). */
export const VERSION_META_MAX_BYTES = 8192;
/** Keys: 1 to this many characters. */
export const VERSION_META_MAX_KEY_LENGTH = 256;

/** Why `v` is not valid version metadata, or null when it is. */
export function versionMetaProblem(v: unknown): string | null {
  if (typeof v !== "object" || v === null || Array.isArray(v)) return "meta must be an object of strings";
  const entries = Object.entries(v);
  if (entries.length > VERSION_META_MAX_ENTRIES) {
    return `meta holds at most ${VERSION_META_MAX_ENTRIES} entries`;
  }
  let bytes = 0;
  for (const [k, value] of entries) {
    if (k.length === 0 || k.length > VERSION_META_MAX_KEY_LENGTH) {
      return `meta keys are 1 to ${VERSION_META_MAX_KEY_LENGTH} characters`;
    }
    // An own "__proto__" survives JSON.parse but would set a prototype when copied.
    if (k === "__proto__") return "meta key __proto__ is reserved";
    if (typeof value !== "string") return "meta values are strings";
    const kb = utf8ByteLength(k);
    const vb = utf8ByteLength(value);
    if (kb < 0 || vb < 0) return "meta holds a lone surrogate (no UTF-8 form)";
    bytes += kb + vb;
  }
  if (bytes > VERSION_META_MAX_BYTES) return `meta is over ${VERSION_META_MAX_BYTES} bytes`;
  return null;
}

/** A fresh copy with keys in sorted order, so every replica encodes the same bytes. */
export function canonicalVersionMeta(v: VersionMeta): VersionMeta {
  const out: VersionMeta = {};
  for (const k of Object.keys(v).sort()) out[k] = v[k] as string;
  return out;
}
