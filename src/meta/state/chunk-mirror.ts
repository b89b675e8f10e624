/**
 * The chunk tables the leader's duties read every round — reference counts (repair), the garbage list
 * and the tombstones (collection) — as maps in memory, kept current from each entry's write set.
 *
 * They are bounded by the data the cluster stores (one entry per chunk, as HDFS's blocks map), not by the
 * namespace: a million small inline files add nothing here. Built once by a scan — synchronous over the
 * in-memory store, asynchronous over LevelDB before the first entry is applied — so that no duty ever
 * scans the store on its round.
 */
import { assert } from "../../common/assert.js";
import { hashValue } from "./hash.js";
import { decode } from "./records.js";
import { prefixRange, type StateStore, type SyncScanStore, type WriteSet } from "./store.js";

type Row = [string, Uint8Array];

export class ChunkMirror {
  /** Chunk → reference count, for chunks some retained version references. */
  readonly refs = new Map<string, number>();
  /** Collected chunk → when it was condemned. */
  readonly tombstones = new Map<string, number>();
  /** Unreferenced chunk → since when (deleted after the grace period). */
  readonly garbage = new Map<string, number>();

  static fromSync(store: SyncScanStore): ChunkMirror {
    const m = new ChunkMirror();
    for (const prefix of ["c", "t", "g"]) for (const row of store.scanSync(prefixRange(prefix))) m.load(row);
    return m;
  }

  static async fromScan(store: StateStore): Promise<ChunkMirror> {
    const m = new ChunkMirror();
    for (const prefix of ["c", "t", "g"])
      for await (const row of store.scan(prefixRange(prefix))) m.load(row);
    return m;
  }

  /** For checkInvariants: every table equals a recount of the store. */
  checkAgainst(store: SyncScanStore): void {
    const recount = ChunkMirror.fromSync(store);
    for (const table of ["refs", "tombstones", "garbage"] as const) {
      const live = hashValue([...this[table]].sort());
      assert(live === hashValue([...recount[table]].sort()), `the chunk mirror's ${table} match a recount`);
    }
  }

  update(writes: WriteSet): void {
    for (const [k, v] of writes) {
      const table = this.tableOf(k);
      if (table === null) continue;
      if (v === null) table.delete(k.slice(1));
      else this.load([k, v]);
    }
  }

  private load([k, v]: Row): void {
    const id = k.slice(1);
    switch (k[0]) {
      case "c": {
        const r = decode<{ r: number }>(v).r;
        if (r > 0) this.refs.set(id, r);
        else this.refs.delete(id);
        return;
      }
      case "t":
        this.tombstones.set(id, decode<{ s: number }>(v).s);
        return;
      case "g":
        this.garbage.set(id, decode<number>(v));
        return;
    }
  }

  private tableOf(key: string): Map<string, number> | null {
    switch (key[0]) {
      case "c":
        return this.refs;
      case "t":
        return this.tombstones;
      case "g":
        return this.garbage;
      default:
        return null;
    }
  }
}
