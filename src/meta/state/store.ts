/**
 * What the pure state machine knows of its storage: point reads, and writes collected per command.
 *
 * The state's data lives in a key-value store (LevelDB in a replica, a sorted in-memory map in the
 * simulator and unit tests). `apply` reads point keys synchronously (classic-level's `getSync` behind a
 * cache) and never scans: every walk it needs (a recursive delete, the rename bound, forgetting old
 * tombstones) follows links kept in the records themselves. Its writes go into an `Overlay` per command:
 * a failed command drops its overlay (nothing to undo), a successful one merges into the entry's write
 * set, and the shell writes each entry's write set with its applied index in one atomic batch.
 *
 * Keys are JS strings compared by UTF-16 code unit (`<`), the order listings promise; a LevelDB store
 * must encode them so that byte order is the same (UTF-16BE does).
 */
import { assert } from "../../common/assert.js";

/** A write set: key → new value, or null for a deletion. */
export type WriteSet = Map<string, Uint8Array | null>;

export interface StoreReader {
  get(key: string): Uint8Array | undefined;
}

/** A key range for scans: keys k with gte ≤ k < lt, ascending. */
export interface KeyRange {
  gte: string;
  lt: string;
}

export interface StateStore extends StoreReader {
  /** Applies one entry's (or a group of entries') writes atomically together with the applied index. */
  commit(writes: WriteSet, appliedIndex: number): void;
  /** Ordered scan outside `apply` (listings, GC lists, snapshots); a point-in-time view where possible. */
  scan(range: KeyRange): AsyncIterable<[string, Uint8Array]>;
}

/** A store that can also scan synchronously (the in-memory one): the sync queries and test hashes need it. */
export interface SyncScanStore extends StateStore {
  scanSync(range: KeyRange): Iterable<[string, Uint8Array]>;
}

export function hasSyncScan(store: StateStore): store is SyncScanStore {
  return typeof (store as Partial<SyncScanStore>).scanSync === "function";
}

/** The range of every key starting with `prefix` (keys never contain U+FFFF). */
export function prefixRange(prefix: string): KeyRange {
  return { gte: prefix, lt: `${prefix}\uffff` };
}

/**
 * Writes layered over a reader. Reads see this layer's writes first. `mergeInto` hands the writes to the
 * layer below (a command's overlay into its entry's); dropping an overlay undoes everything it holds.
 */
export class Overlay implements StoreReader {
  private readonly writes: WriteSet = new Map();

  constructor(private readonly base: StoreReader) {}

  get(key: string): Uint8Array | undefined {
    const w = this.writes.get(key);
    if (w !== undefined) return w ?? undefined;
    return this.base.get(key);
  }

  put(key: string, value: Uint8Array): void {
    this.writes.set(key, value);
  }

  del(key: string): void {
    this.writes.set(key, null);
  }

  get size(): number {
    return this.writes.size;
  }

  mergeInto(parent: Overlay): void {
    assert(parent !== this, "an overlay merges into another");
    for (const [k, v] of this.writes) parent.writes.set(k, v);
    this.writes.clear();
  }

  /** Takes the writes (for the store's commit), leaving the overlay empty. */
  take(): WriteSet {
    const out = new Map(this.writes);
    this.writes.clear();
    return out;
  }
}
