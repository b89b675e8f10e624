/**
 * A small deterministic digest to compare replicas at the same applied index. Not cryptographic (and no
 * node:crypto in this pure folder): two 32-bit FNV-1a style lanes with different primes, 64 bits out,
 * plenty to catch a divergence between honest replicas.
 *
 * `hashValue` walks plain data canonically: objects by sorted key, every string and array
 * length-prefixed and every value type-tagged, so distinct values cannot feed the same byte stream.
 * Only the snapshot is hashed, never live Maps, so iteration order cannot leak into the digest.
 */

import type { FsSnapshot } from "./types.js";

export class Hasher {
  private a = 0x811c9dc5;
  private b = 0x01234567;

  byte(x: number): void {
    this.a = Math.imul(this.a ^ (x & 0xff), 0x01000193);
    this.b = Math.imul(this.b ^ (x & 0xff), 0x5bd1e995);
    this.b ^= this.b >>> 15;
  }

  uint32(x: number): void {
    this.byte(x);
    this.byte(x >>> 8);
    this.byte(x >>> 16);
    this.byte(x >>> 24);
  }

  string(s: string): void {
    this.uint32(s.length);
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      this.byte(c);
      this.byte(c >>> 8);
    }
  }

  bytes(data: Uint8Array): void {
    this.uint32(data.length);
    for (const x of data) this.byte(x);
  }

  digest(): string {
    // A final avalanche so that nearby inputs do not give nearby outputs.
    const fmix = (h: number): number => {
      let x = h ^ (h >>> 16);
      x = Math.imul(x, 0x85ebca6b);
      x ^= x >>> 13;
      x = Math.imul(x, 0xc2b2ae35);
      return (x ^ (x >>> 16)) >>> 0;
    };
    return (
      fmix(this.a).toString(16).padStart(8, "0") +
      fmix(this.b ^ this.a)
        .toString(16)
        .padStart(8, "0")
    );
  }
}

const TAG = { undefined: 0, null: 1, false: 2, true: 3, number: 4, string: 5, array: 6, bytes: 7, object: 8 };

export function feedValue(h: Hasher, v: unknown): void {
  if (v === undefined) h.byte(TAG.undefined);
  else if (v === null) h.byte(TAG.null);
  else if (typeof v === "boolean") h.byte(v ? TAG.true : TAG.false);
  else if (typeof v === "number") {
    h.byte(TAG.number);
    h.string(Object.is(v, -0) ? "0" : String(v));
  } else if (typeof v === "string") {
    h.byte(TAG.string);
    h.string(v);
  } else if (v instanceof Uint8Array) {
    h.byte(TAG.bytes);
    h.bytes(v);
  } else if (Array.isArray(v)) {
    h.byte(TAG.array);
    h.uint32(v.length);
    for (const item of v) feedValue(h, item);
  } else if (typeof v === "object") {
    // A key holding `undefined` counts as absent, as it would after a JSON round trip.
    const obj = v as Record<string, unknown>;
    const keys = Object.keys(obj)
      .filter((k) => obj[k] !== undefined)
      .sort();
    h.byte(TAG.object);
    h.uint32(keys.length);
    for (const k of keys) {
      h.string(k);
      feedValue(h, obj[k]);
    }
  } else {
    // Functions, symbols, bigints never appear in state; hashing them silently would hide a bug.
    throw new TypeError(`hashValue: unsupported ${typeof v}`);
  }
}

export function hashValue(v: unknown): string {
  const h = new Hasher();
  feedValue(h, v);
  return h.digest();
}

/** Digests of each part of a state snapshot, to tell which part diverged (or to ignore sessions). */
export function snapshotPartHashes(
  snap: FsSnapshot,
): Record<"meta" | "namespace" | "garbage" | "locks" | "dataNodes" | "sessions", string> {
  return {
    meta: hashValue([snap.lastAppliedIndex, snap.lastTimestampMs]),
    namespace: hashValue(snap.nodes),
    garbage: hashValue([snap.garbage, snap.tombstones]),
    locks: hashValue(snap.locks),
    dataNodes: hashValue([snap.dataNodes, snap.retiredDataNodes]),
    sessions: hashValue(snap.sessions),
  };
}
