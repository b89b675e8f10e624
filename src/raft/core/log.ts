import { assert } from "../../common/assert.js";
import { limitSize, type Storage } from "./storage.js";
import type { Entry, Snapshot } from "./types.js";

/**
 * The log as the core sees it: the durable part in `storage`, then an unstable tail (and possibly an
 * incoming snapshot) that the driver has not persisted yet. Entries are immutable values.
 */
export class RaftLog {
  /** A snapshot received from the leader and not yet persisted; it supersedes all of storage. */
  unstableSnapshot: Snapshot | null = null;
  /** Entries not yet persisted; the first has index `unstableOffset`. */
  unstable: Entry[] = [];
  unstableOffset: number;
  committed: number;
  /** Highest index handed to the application in a Ready. */
  applied: number;

  constructor(
    readonly storage: Storage,
    private readonly maxApplyBytes: number,
  ) {
    this.unstableOffset = storage.lastIndex() + 1;
    // The application restores the stored snapshot first; a kept log tail may reach back before it.
    const snapshotIndex = storage.snapshot().meta.index;
    this.committed = snapshotIndex;
    this.applied = snapshotIndex;
  }

  firstIndex(): number {
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index + 1;
    return this.storage.firstIndex();
  }

  lastIndex(): number {
    if (this.unstable.length > 0) return this.unstableOffset + this.unstable.length - 1;
    if (this.unstableSnapshot) return this.unstableSnapshot.meta.index;
    return this.storage.lastIndex();
  }

  /** Term at `i`, or `undefined` if `i` is compacted or beyond the end. term(0) is 0. */
  term(i: number): number | undefined {
    if (i === 0) return 0;
    if (i >= this.unstableOffset && i < this.unstableOffset + this.unstable.length) {
      return this.unstable[i - this.unstableOffset]!.term;
    }
    if (this.unstableSnapshot) {
      return i === this.unstableSnapshot.meta.index ? this.unstableSnapshot.meta.term : undefined;
    }
    if (i >= this.unstableOffset) return undefined;
    return this.storage.term(i);
  }

  lastTerm(): number {
    const t = this.term(this.lastIndex());
    assert(t !== undefined, "term of the last index must be known");
    return t;
  }

  matchTerm(i: number, term: number): boolean {
    return this.term(i) === term;
  }

  /** Raft §5.4.1: a candidate's log is at least as up-to-date as ours. */
  isUpToDate(lastIndex: number, lastTerm: number): boolean {
    const myTerm = this.lastTerm();
    return lastTerm > myTerm || (lastTerm === myTerm && lastIndex >= this.lastIndex());
  }

  /** Entries in [lo, hi), bounded by maxBytes (at least one). Throws if lo is compacted. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    assert(lo >= this.firstIndex() && hi <= this.lastIndex() + 1, `slice(${lo}, ${hi}) out of range`);
    if (lo >= hi) return [];
    const out: Entry[] = [];
    if (lo < this.unstableOffset) {
      out.push(...this.storage.entries(lo, Math.min(hi, this.unstableOffset), maxBytes));
      if (hi <= this.unstableOffset || out.length < Math.min(hi, this.unstableOffset) - lo) {
        return out;
      }
    }
    const from = Math.max(lo, this.unstableOffset);
    if (from < hi) out.push(...this.unstable.slice(from - this.unstableOffset, hi - this.unstableOffset));
    return limitSize(out, maxBytes);
  }

  /**
   * Appends a leader's entries after (prevIndex, prevTerm) if they match: skips what we already have,
   * truncates from the first conflict (never at or below commit). Returns the new last index of the
   * leader's batch, or `null` on a mismatch.
   */
  maybeAppend(prevIndex: number, prevTerm: number, commit: number, entries: Entry[]): number | null {
    if (!this.matchTerm(prevIndex, prevTerm)) return null;
    const lastNew = prevIndex + entries.length;
    const conflict = this.findConflict(entries);
    if (conflict !== 0) {
      assert(conflict > this.committed, `conflict at ${conflict} is at or below commit ${this.committed}`);
      this.append(entries.slice(conflict - (prevIndex + 1)));
    }
    this.commitTo(Math.min(commit, lastNew));
    return lastNew;
  }

  /** First index whose term differs from ours (or that we lack); 0 when all are present. */
  private findConflict(entries: Entry[]): number {
    for (const e of entries) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * For fast back-off: the largest index ≤ `index` whose term is ≤ `term`. Any entry above it cannot
   * match a log whose entry at `index` has `term`.
   */
  findConflictByTerm(index: number, term: number): number {
    let i = Math.min(index, this.lastIndex());
    for (; i > 0; i--) {
      const t = this.term(i);
      if (t === undefined || t <= term) break;
    }
    return i;
  }

  append(entries: Entry[]): number {
    if (entries.length === 0) return this.lastIndex();
    const first = entries[0]!.index;
    assert(first > this.committed, `append at ${first} would overwrite committed ${this.committed}`);
    assert(first <= this.lastIndex() + 1, `append at ${first} leaves a gap after ${this.lastIndex()}`);
    if (first === this.unstableOffset + this.unstable.length) {
      this.unstable.push(...entries);
    } else if (first <= this.unstableOffset) {
      // Truncating into what storage holds: the unstable tail replaces it from `first` on.
      this.unstableOffset = first;
      this.unstable = [...entries];
    } else {
      this.unstable = this.unstable.slice(0, first - this.unstableOffset).concat(entries);
    }
    return this.lastIndex();
  }

  commitTo(index: number): void {
    if (index > this.committed) {
      assert(index <= this.lastIndex(), `commit ${index} beyond last index ${this.lastIndex()}`);
      this.committed = index;
    }
  }

  /** Committed entries the application has not been given yet, bounded in bytes. */
  nextCommittedEntries(): Entry[] {
    const lo = Math.max(this.applied + 1, this.firstIndex());
    const hi = this.committed + 1;
    if (lo >= hi) return [];
    return this.slice(lo, hi, this.maxApplyBytes);
  }

  hasNextCommittedEntries(): boolean {
    return this.committed > this.applied && this.applied + 1 >= this.firstIndex();
  }

  appliedTo(index: number): void {
    if (index > this.applied) {
      assert(index <= this.committed, `applied ${index} beyond commit ${this.committed}`);
      this.applied = index;
    }
  }

  /** The driver persisted entries up to (index, term): drop them from the unstable tail. */
  stableTo(index: number, term: number): void {
    const t = this.term(index);
    // If the tail was replaced since that Ready (a newer leader's entries), the ack is for other data.
    if (t !== term || index < this.unstableOffset) return;
    this.unstable = this.unstable.slice(index + 1 - this.unstableOffset);
    this.unstableOffset = index + 1;
  }

  stableSnapshotTo(index: number): void {
    if (this.unstableSnapshot && this.unstableSnapshot.meta.index === index) this.unstableSnapshot = null;
  }

  /** Installs a leader's snapshot: the whole log is replaced, divergent tail included. */
  restore(snap: Snapshot): void {
    this.unstableSnapshot = snap;
    this.unstable = [];
    this.unstableOffset = snap.meta.index + 1;
    this.committed = snap.meta.index;
    // The application restores its state from the snapshot, so it counts as applied once handed out.
  }

  unstableEntries(): Entry[] {
    return this.unstable;
  }
}
