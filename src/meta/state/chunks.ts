/**
 * Chunk reference counts and the garbage list.
 *
 * Every retained version counts once per occurrence of a chunk in its list (a file of repeated blocks
 * references one chunk many times). A chunk whose count drops to 0 enters the garbage list with the time
 * it became unreferenced; the leader deletes it from data nodes after a grace period and then proposes
 * `collectGarbage`. A chunk referenced again leaves the list, so a racing commit revives it instead of
 * losing it. Invariant: a chunk is never both referenced and garbage.
 *
 * Collection is decided here, in log order, before any byte is deleted: `condemn` turns unreferenced
 * chunks (listed garbage past the grace period, or uploads that were never committed) into tombstones,
 * and only then does the leader tell data nodes to delete them. A commit naming a tombstone is refused
 * (CHUNK_GONE), so a writer that stalled past the grace period learns that its chunks are gone instead of
 * getting an acknowledgement for bytes that exist nowhere. A tombstone goes when the chunk is stored
 * again (`revive`, proposed by the leader once a node that had deleted it reports it back), or after the
 * retention period (`forgetTombstones`: the client library never commits an upload older than a day,
 * and tombstones are kept a week by default). Invariant: a tombstone is never referenced.
 *
 * Everything is in the store (records.ts): `c<id>` holds a chunk's count and fixed size, `g<id>` its
 * garbage time, `t<id>` its tombstone, linked in time order so `forgetTombstones` walks from the oldest
 * with point reads only. Writes go to the command's overlay.
 */
import { assert } from "../../common/assert.js";
import type { ChunkRef } from "./commands.js";
import {
  type ChunkRec,
  chunkKey,
  decode,
  encode,
  garbageKey,
  META_KEY,
  type MetaRec,
  type TombstoneRec,
  tombstoneKey,
} from "./records.js";
import type { Overlay, StoreReader } from "./store.js";
import type { GarbageChunk } from "./types.js";

/** Point reads, for apply and for the queries. */
export class ChunkReader {
  constructor(protected readonly kv: StoreReader) {}

  protected chunk(id: string): ChunkRec | undefined {
    const b = this.kv.get(chunkKey(id));
    return b === undefined ? undefined : decode<ChunkRec>(b);
  }

  refCount(chunkId: string): number {
    return this.chunk(chunkId)?.r ?? 0;
  }

  sizeOf(chunkId: string): number | undefined {
    return this.chunk(chunkId)?.s;
  }

  garbageSince(chunkId: string): number | undefined {
    const b = this.kv.get(garbageKey(chunkId));
    return b === undefined ? undefined : decode<number>(b);
  }

  tombstone(chunkId: string): TombstoneRec | undefined {
    const b = this.kv.get(tombstoneKey(chunkId));
    return b === undefined ? undefined : decode<TombstoneRec>(b);
  }

  /** The tombstoned chunks among `chunks` (a commit naming any of them must be refused). */
  gone(chunks: readonly ChunkRef[]): string[] {
    return [...new Set(chunks.filter((c) => this.kv.get(tombstoneKey(c.id)) !== undefined).map((c) => c.id))];
  }

  /**
   * The chunks among `chunks` named with another size than the one already fixed for them (or twice
   * in the list with two sizes): a commit naming any of them must be refused.
   */
  sizeConflicts(chunks: readonly ChunkRef[]): { id: string; sizeBytes: number; recordedSizeBytes: number }[] {
    const seen = new Map<string, number>();
    const out: { id: string; sizeBytes: number; recordedSizeBytes: number }[] = [];
    for (const { id, sizeBytes } of chunks) {
      const recorded = this.sizeOf(id) ?? seen.get(id);
      if (recorded === undefined) seen.set(id, sizeBytes);
      else if (recorded !== sizeBytes) out.push({ id, sizeBytes, recordedSizeBytes: recorded });
    }
    return out;
  }
}

export class ChunkRefs extends ChunkReader {
  constructor(private readonly tx: Overlay) {
    super(tx);
  }

  addRefs(chunks: readonly ChunkRef[]): void {
    for (const { id, sizeBytes } of chunks) {
      assert(this.tombstone(id) === undefined, `chunk ${id} is collected`);
      const rec = this.chunk(id);
      assert(rec === undefined || rec.s === sizeBytes, `chunk ${id} keeps its first size`);
      const n = rec?.r ?? 0;
      this.tx.put(chunkKey(id), encode({ r: n + 1, s: sizeBytes } satisfies ChunkRec));
      if (n === 0) this.tx.del(garbageKey(id));
    }
  }

  dropRefs(chunks: readonly ChunkRef[], nowMs: number): void {
    for (const { id } of chunks) {
      const rec = this.chunk(id);
      assert(rec !== undefined && rec.r > 0, `chunk ${id} was referenced`);
      // At 0 the record stays (with its size) while the chunk is garbage: its bytes still exist.
      this.tx.put(chunkKey(id), encode({ r: rec.r - 1, s: rec.s } satisfies ChunkRec));
      if (rec.r === 1) this.tx.put(garbageKey(id), encode(nowMs));
    }
  }

  /** Unreferenced chunks enter the garbage list; one already there keeps its older time. */
  abandon(chunkIds: readonly string[], nowMs: number): string[] {
    const added: string[] = [];
    for (const id of chunkIds) {
      if (this.refCount(id) > 0 || this.garbageSince(id) !== undefined || this.tombstone(id) !== undefined)
        continue;
      this.tx.put(garbageKey(id), encode(nowMs));
      added.push(id);
    }
    return added;
  }

  /**
   * Turns chunks into tombstones: listed garbage that became garbage before `beforeMs`, and chunks
   * neither referenced nor listed (uploads whose commit never came; the leader judged their age). A
   * chunk referenced by now, or one that re-entered the list later (referenced again, then dropped
   * again), is newer than what the leader judged, so it stays. Returns the ids the leader may delete.
   */
  condemn(chunkIds: readonly string[], beforeMs: number, nowMs: number): string[] {
    const condemned: string[] = [];
    for (const id of chunkIds) {
      if (this.refCount(id) > 0 || this.tombstone(id) !== undefined) continue;
      const since = this.garbageSince(id);
      if (since !== undefined && since >= beforeMs) continue;
      if (since !== undefined) this.tx.del(garbageKey(id));
      this.tx.del(chunkKey(id));
      this.appendTombstone(id, nowMs);
      condemned.push(id);
    }
    return condemned;
  }

  /** Forgets every tombstone condemned before `beforeMs`: the oldest first, O(forgotten). */
  forgetTombstones(beforeMs: number): number {
    let forgotten = 0;
    for (let id = this.meta().th; id !== null; ) {
      const t = this.tombstone(id);
      assert(t !== undefined, "linked tombstones exist");
      if (t.s >= beforeMs) break;
      this.unlinkTombstone(id);
      forgotten++;
      id = t.x;
    }
    return forgotten;
  }

  /** Forgets tombstones of chunks that are stored again. */
  revive(chunkIds: readonly string[]): string[] {
    const revived: string[] = [];
    for (const id of chunkIds) {
      if (this.tombstone(id) === undefined) continue;
      this.unlinkTombstone(id);
      revived.push(id);
    }
    return revived;
  }

  /** Restore only: a garbage chunk as a snapshot had it. */
  restoreGarbage(g: GarbageChunk): void {
    this.tx.put(garbageKey(g.chunkId), encode(g.sinceMs));
    if (g.sizeBytes !== undefined)
      this.tx.put(chunkKey(g.chunkId), encode({ r: 0, s: g.sizeBytes } satisfies ChunkRec));
  }

  private meta(): MetaRec {
    const b = this.tx.get(META_KEY);
    assert(b !== undefined, "the meta record exists");
    return decode<MetaRec>(b);
  }

  /** Entry times never decrease, so appending keeps the list in time order. */
  appendTombstone(id: string, sinceMs: number): void {
    const meta = this.meta();
    if (meta.tt !== null) {
      const tail = this.tombstone(meta.tt);
      assert(tail !== undefined && tail.s <= sinceMs, "tombstones are appended in time order");
      this.tx.put(tombstoneKey(meta.tt), encode({ ...tail, x: id }));
    }
    this.tx.put(tombstoneKey(id), encode({ s: sinceMs, p: meta.tt, x: null } satisfies TombstoneRec));
    this.tx.put(META_KEY, encode({ ...meta, th: meta.th ?? id, tt: id }));
  }

  private unlinkTombstone(id: string): void {
    const t = this.tombstone(id);
    assert(t !== undefined, "unlink: the tombstone exists");
    const meta = this.meta();
    let { th, tt } = meta;
    if (t.p === null) th = t.x;
    else {
      const prev = this.tombstone(t.p);
      assert(prev !== undefined, "the previous tombstone exists");
      this.tx.put(tombstoneKey(t.p), encode({ ...prev, x: t.x }));
    }
    if (t.x === null) tt = t.p;
    else {
      const next = this.tombstone(t.x);
      assert(next !== undefined, "the next tombstone exists");
      this.tx.put(tombstoneKey(t.x), encode({ ...next, p: t.p }));
    }
    this.tx.del(tombstoneKey(id));
    this.tx.put(META_KEY, encode({ ...meta, th, tt }));
  }
}

/** Entries as a list sorted by time, then id: the order the leader should work through them. */
export function byTime(entries: Iterable<[string, number]>): GarbageChunk[] {
  return [...entries]
    .map(([chunkId, sinceMs]) => ({ chunkId, sinceMs }))
    .sort((a, b) => a.sinceMs - b.sinceMs || (a.chunkId < b.chunkId ? -1 : a.chunkId > b.chunkId ? 1 : 0));
}
