/**
 * The Raft store's keys and records (layout in level-storage.ts), the typed errors a store raises, and
 * the parsers that check a record's fields when it is read back.
 */
import { crc32 } from "node:zlib";
import { assert } from "../common/assert.js";
import { DfsError } from "../common/errors.js";
import { CodecError, pack, parseConfState } from "./codec.js";
import type { SnapshotMeta } from "./core/index.js";

assert(typeof crc32 === "function", "node:zlib crc32 is missing: raftfs needs Node.js 20.15 or later");

/** The store on disk is damaged: the replica must not start (it could vote on a log it lost). */
export class CorruptStoreError extends DfsError {
  constructor(dir: string, problem: string) {
    super("CORRUPT", `raft store ${dir} is damaged: ${problem}; refusing to start (rebuild this replica)`, {
      dir,
      problem,
    });
    this.name = "CorruptStoreError";
  }
}

/** The store belongs to another cluster or replica than the configuration says: never run on it. */
export class StoreIdentityError extends DfsError {
  constructor(dir: string, found: NodeIdentity, expected: Pick<NodeIdentity, "clusterId" | "replicaId">) {
    super(
      "BAD_REQUEST",
      `raft store ${dir} belongs to cluster ${found.clusterId} replica ${found.replicaId}, but the config says cluster ${expected.clusterId} replica ${expected.replicaId}; refusing to start (wrong --id or dataDir?)`,
      { dir, found: { clusterId: found.clusterId, replicaId: found.replicaId }, expected },
    );
    this.name = "StoreIdentityError";
  }
}

/**
 * Who this store belongs to, written atomically with the first hard state. `incarnation` is random per
 * creation: a store rebuilt from nothing never passes for the one it replaces. `recovering` marks a
 * store created empty whose replica has not yet finished the recovery of core/recovery.ts.
 */
export interface NodeIdentity {
  clusterId: string;
  replicaId: number;
  incarnation: string;
  recovering: boolean;
}

/** A LevelDB write failed; LevelDB refuses all later writes, so the process must exit. */
export class StorageFailedError extends DfsError {
  constructor(dir: string, cause: unknown) {
    super("INTERNAL", `raft store ${dir}: write failed, the process must exit`, { dir }, { cause });
    this.name = "StorageFailedError";
  }
}

export const HARD_STATE_KEY = Uint8Array.of(0x01);
export const SNAP_META_KEY = Uint8Array.of(0x02);
export const SNAP_DATA_PREFIX = 0x03;
export const LOG_START_KEY = Uint8Array.of(0x04);
export const IDENTITY_KEY = Uint8Array.of(0x05);
const ENTRY_PREFIX = 0x10;
const ENTRY_KEY_BYTES = 9;

/** Keys and record encoding, exported for tests that damage a store on purpose. */
export const LEVEL_KEYS = {
  HARD_STATE_KEY,
  SNAP_META_KEY,
  SNAP_DATA_KEY: snapDataKey(0),
  LOG_START_KEY,
  IDENTITY_KEY,
} as const;

export function snapDataKey(n: number): Uint8Array {
  const k = new Uint8Array(5);
  k[0] = SNAP_DATA_PREFIX;
  new DataView(k.buffer).setUint32(1, n);
  return k;
}

export function snapDataKeyIndex(k: Uint8Array): number | undefined {
  if (k.byteLength !== 5 || k[0] !== SNAP_DATA_PREFIX) return undefined;
  return new DataView(k.buffer, k.byteOffset, k.byteLength).getUint32(1);
}

export function entryKey(index: number): Uint8Array {
  const k = new Uint8Array(ENTRY_KEY_BYTES);
  k[0] = ENTRY_PREFIX;
  // A big-endian u64 as two u32 halves: a BigInt per entry showed in the write path's profile.
  const view = new DataView(k.buffer);
  view.setUint32(1, Math.floor(index / 2 ** 32));
  view.setUint32(5, index >>> 0);
  return k;
}

export function entryKeyIndex(k: Uint8Array): number | undefined {
  if (k.byteLength !== ENTRY_KEY_BYTES || k[0] !== ENTRY_PREFIX) return undefined;
  const n = new DataView(k.buffer, k.byteOffset, k.byteLength).getBigUint64(1);
  return n <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(n) : undefined;
}

export function encodeRecord(payload: unknown): Uint8Array {
  const body = pack(payload);
  const out = new Uint8Array(4 + body.byteLength);
  new DataView(out.buffer).setUint32(0, crc32(body));
  out.set(body, 4);
  // Assert the checksum on the way out too: a bad encoder must not reach the disk.
  assert(decodeRecordBody(out) !== undefined, "record fails its own checksum");
  return out;
}

/** The payload bytes, or undefined when the record is too short or fails its checksum. */
export function decodeRecordBody(rec: Uint8Array): Uint8Array | undefined {
  if (rec.byteLength < 5) return undefined;
  const body = rec.subarray(4);
  const want = new DataView(rec.buffer, rec.byteOffset, 4).getUint32(0);
  return crc32(body) === want ? body : undefined;
}

/** The log-start record (exported for the test that leaves a compaction half done). */
export function logStartRecord(index: number, term: number): Uint8Array {
  return encodeRecord({ index, term });
}

export interface SnapMetaRecord {
  meta: SnapshotMeta;
  hasData: boolean;
  dataBytes: number;
  dataCrc: number;
  dataChunks: number;
}

export function asObj(v: unknown): Record<string, unknown> {
  if (typeof v !== "object" || v === null || Array.isArray(v)) throw new CodecError("not an object");
  return v as Record<string, unknown>;
}

export function uint(v: unknown): number {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0)
    throw new CodecError("not a non-negative integer");
  return v;
}

export function parseSnapMeta(v: unknown): SnapMetaRecord {
  const o = asObj(v);
  if (typeof o.hasData !== "boolean") throw new CodecError("hasData must be a boolean");
  return {
    meta: { index: uint(o.index), term: uint(o.term), conf: parseConfState(o.conf, "conf") },
    hasData: o.hasData,
    dataBytes: uint(o.dataBytes),
    dataCrc: uint(o.dataCrc),
    dataChunks: uint(o.dataChunks),
  };
}
