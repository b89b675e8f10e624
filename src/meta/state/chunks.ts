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
 * The counts are derived state (rebuilt from the versions on restore); the garbage list and the
 * tombstones are not.
 */
import { assert } from "../../common/assert.js";
import type { ChunkRef } from "./commands.js";
import type { Journal } from "./journal.js";
import type { GarbageChunk } from "./types.js";

export class ChunkRefs {
  private readonly refs = new Map<string, number>();
  private readonly garbage = new Map<string, number>();
  /** Condemned chunk → when (entry time). */
  private readonly tombstones = new Map<string, number>();
  /**
   * Size of each chunk, fixed by the first commit that references it: the leader signs repair tickets
   * with it, so a later commit may not change it (a false size would make every repair of the chunk
   * fail). Kept while the chunk is garbage (its bytes still exist), forgotten when it is collected.
   */
  private readonly sizes = new Map<string, number>();

  constructor(private readonly journal: Journal) {}

  refCount(chunkId: string): number {
    return this.refs.get(chunkId) ?? 0;
  }

  /** The live counts, read-only: the leader scans them every round, so no copy (a million entries). */
  referenced(): ReadonlyMap<string, number> {
    return this.refs;
  }

  sizeOf(chunkId: string): number | undefined {
    return this.sizes.get(chunkId);
  }

  /** Sorted by time, then id: the order the leader should collect them in. */
  garbageList(): GarbageChunk[] {
    return byTime(this.garbage);
  }

  /** The live tombstones (id → when condemned), read-only, in the order they were condemned (about). */
  tombstoneMap(): ReadonlyMap<string, number> {
    return this.tombstones;
  }

  tombstoneList(): GarbageChunk[] {
    return byTime(this.tombstones);
  }

  /** The tombstoned chunks among `chunks` (a commit naming any of them must be refused). */
  gone(chunks: readonly ChunkRef[]): string[] {
    return [...new Set(chunks.filter((c) => this.tombstones.has(c.id)).map((c) => c.id))];
  }

  /**
   * The chunks among `chunks` named with another size than the one already fixed for them (or twice
   * in the list with two sizes): a commit naming any of them must be refused.
   */
  sizeConflicts(chunks: readonly ChunkRef[]): { id: string; sizeBytes: number; recordedSizeBytes: number }[] {
    const seen = new Map<string, number>();
    const out: { id: string; sizeBytes: number; recordedSizeBytes: number }[] = [];
    for (const { id, sizeBytes } of chunks) {
      const recorded = this.sizes.get(id) ?? seen.get(id);
      if (recorded === undefined) seen.set(id, sizeBytes);
      else if (recorded !== sizeBytes) out.push({ id, sizeBytes, recordedSizeBytes: recorded });
    }
    return out;
  }

  addRefs(chunks: readonly ChunkRef[]): void {
    for (const { id, sizeBytes } of chunks) {
      assert(!this.tombstones.has(id), `chunk ${id} is collected`);
      const recorded = this.sizes.get(id);
      assert(recorded === undefined || recorded === sizeBytes, `chunk ${id} keeps its first size`);
      if (recorded === undefined) this.setSize(id, sizeBytes);
      const n = this.refs.get(id) ?? 0;
      this.setRef(id, n + 1);
      if (n === 0) this.setGarbage(id, undefined);
    }
  }

  dropRefs(chunks: readonly ChunkRef[], nowMs: number): void {
    for (const { id } of chunks) {
      const n = this.refs.get(id) ?? 0;
      assert(n > 0, `chunk ${id} was referenced`);
      this.setRef(id, n - 1);
      if (n === 1) this.setGarbage(id, nowMs);
    }
  }

  /** Unreferenced chunks enter the garbage list; one already there keeps its older time. */
  abandon(chunkIds: readonly string[], nowMs: number): string[] {
    const added: string[] = [];
    for (const id of chunkIds) {
      if (this.refs.has(id) || this.garbage.has(id) || this.tombstones.has(id)) continue;
      this.setGarbage(id, nowMs);
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
      if (this.refs.has(id) || this.tombstones.has(id)) continue;
      const since = this.garbage.get(id);
      if (since !== undefined && since >= beforeMs) continue;
      if (since !== undefined) this.setGarbage(id, undefined);
      this.setSize(id, undefined);
      this.setTombstone(id, nowMs);
      condemned.push(id);
    }
    return condemned;
  }

  /**
   * Forgets every tombstone condemned before `beforeMs`. A full scan, so that all replicas forget the
   * same set whatever order their maps hold (the leader proposes this rarely: when the oldest is due).
   */
  forgetTombstones(beforeMs: number): number {
    const old = [...this.tombstones].filter(([, sinceMs]) => sinceMs < beforeMs).map(([id]) => id);
    for (const id of old) this.setTombstone(id, undefined);
    return old.length;
  }

  /** Forgets tombstones of chunks that are stored again. */
  revive(chunkIds: readonly string[]): string[] {
    const revived: string[] = [];
    for (const id of chunkIds) {
      if (!this.tombstones.has(id)) continue;
      this.setTombstone(id, undefined);
      revived.push(id);
    }
    return revived;
  }

  private setRef(id: string, n: number): void {
    this.journaledSet(this.refs, id, n === 0 ? undefined : n);
  }

  private setSize(id: string, sizeBytes: number | undefined): void {
    this.journaledSet(this.sizes, id, sizeBytes);
  }

  private setTombstone(id: string, sinceMs: number | undefined): void {
    this.journaledSet(this.tombstones, id, sinceMs);
  }

  private setGarbage(id: string, sinceMs: number | undefined): void {
    this.journaledSet(this.garbage, id, sinceMs);
  }

  /** Sets (or, with undefined, deletes) one entry, recording its undo in the journal. */
  private journaledSet(map: Map<string, number>, id: string, value: number | undefined): void {
    const prev = map.get(id);
    if (value === undefined) map.delete(id);
    else map.set(id, value);
    this.journal.record(() => {
      if (prev === undefined) map.delete(id);
      else map.set(id, prev);
    });
  }

  // ---- snapshot ----

  /** The garbage list with each chunk's fixed size, so a restored replica refuses what the others do. */
  toSnapshot(): GarbageChunk[] {
    return this.garbageList().map((g) => {
      const sizeBytes = this.sizes.get(g.chunkId);
      return sizeBytes === undefined ? g : { ...g, sizeBytes };
    });
  }

  /** `versions` are all retained versions' chunk lists, from which the counts are rebuilt. */
  static fromSnapshot(
    garbage: readonly GarbageChunk[],
    chunkLists: Iterable<readonly ChunkRef[]>,
    journal: Journal,
    tombstones: readonly GarbageChunk[] = [],
  ): ChunkRefs {
    const refs = new ChunkRefs(journal);
    for (const list of chunkLists) {
      for (const { id, sizeBytes } of list) {
        refs.refs.set(id, (refs.refs.get(id) ?? 0) + 1);
        refs.sizes.set(id, sizeBytes);
      }
    }
    for (const g of garbage) {
      assert(!refs.refs.has(g.chunkId), `snapshot: garbage chunk ${g.chunkId} is unreferenced`);
      refs.garbage.set(g.chunkId, g.sinceMs);
      if (g.sizeBytes !== undefined) refs.sizes.set(g.chunkId, g.sizeBytes);
    }
    for (const t of tombstones) {
      assert(!refs.refs.has(t.chunkId), `snapshot: tombstone ${t.chunkId} is unreferenced`);
      refs.tombstones.set(t.chunkId, t.sinceMs);
    }
    return refs;
  }
}

/** Entries as a list sorted by time, then id: the order the leader should work through them. */
function byTime(map: ReadonlyMap<string, number>): GarbageChunk[] {
  return [...map]
    .map(([chunkId, sinceMs]) => ({ chunkId, sinceMs }))
    .sort((a, b) => a.sinceMs - b.sinceMs || (a.chunkId < b.chunkId ? -1 : a.chunkId > b.chunkId ? 1 : 0));
}
