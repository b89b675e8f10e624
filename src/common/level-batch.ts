/**
 * One LevelDB write of already encoded keys and values, through classic-level's own `_batch` (the method
 * abstract-level's public `batch(array)` ends in, and the interface abstract-level documents for a store
 * to implement), for a snapshot install's batches. Two reasons not to use the public batches there:
 * - a chained batch's native copy of its bytes is freed only when the garbage collector finalizes the
 *   batch object (classic-level 3: "close native batch (currently done on GC)"), and V8, which does not
 *   see that memory, may put the collection off: a replica installing a 1.5 GiB snapshot held
 *   0.6-1.7 GiB of dead batches (bench/RESULTS.md, issue 15). This batch is freed as its write ends.
 * - the public `batch(array)` clones and checks every element: 3x a chained put's CPU per key, and 1.9x
 *   the install time of a million 1 KiB records.
 * Keys and values must be bytes (classic-level writes an empty key for anything else, unchecked: the
 * types here are the check). The database must be open, as the public calls check: a write once it
 * is closing fails here with the same error they give, never reaches a closed native handle.
 */
import type { ClassicLevel } from "classic-level";

export type RawOp = { type: "put"; key: Uint8Array; value: Uint8Array } | { type: "del"; key: Uint8Array };

interface RawBatchWriter {
  _batch(ops: readonly RawOp[], options: { sync: boolean }): Promise<void>;
}

export function writeRawBatch(
  db: ClassicLevel<Uint8Array, Uint8Array> | ClassicLevel<Buffer, Uint8Array>,
  ops: readonly RawOp[],
  sync: boolean,
): Promise<void> {
  if (db.status !== "open") {
    const err = Object.assign(new Error(`Database is not open (${db.status})`), {
      code: "LEVEL_DATABASE_NOT_OPEN",
    });
    return Promise.reject(err);
  }
  return (db as unknown as RawBatchWriter)._batch(ops, { sync });
}
