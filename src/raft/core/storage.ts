import { assert } from "../../common/assert.js";
import type { ConfState, Entry, HardState, Snapshot } from "./types.js";

/**
 * The durable part of the log as the core sees it: read-only and synchronous. The driver writes it
 * (after persisting a Ready) through the implementation's own methods. Indexes below `firstIndex()`
 * are compacted into the snapshot; `term(firstIndex() - 1)` is the snapshot's term.
 */
export interface Storage {
  initialState(): { hardState: HardState; conf: ConfState };
  /** Entries in [lo, hi), at least one if any exists there, at most about `maxBytes`. */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry `i`, for firstIndex()-1 ≤ i ≤ lastIndex(); `undefined` when compacted or absent. */
  term(i: number): number | undefined;
  firstIndex(): number;
  lastIndex(): number;
  snapshot(): Snapshot;
}

export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength + 24;
}

/** Cuts `entries` so that their total size stays within `maxBytes`, keeping at least one. */
export function limitSize(entries: Entry[], maxBytes: number): Entry[] {
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    size += entrySizeBytes(entries[i]!);
    if (size > maxBytes && i > 0) return entries.slice(0, i);
  }
  return entries;
}

export const EMPTY_CONF: ConfState = { voters: [], learners: [], joining: [] };

/** An in-memory Storage for tests and the simulator; also the model the LevelDB one mirrors. */
export class MemoryStorage implements Storage {
  private hardState: HardState = { term: 0, vote: 0, commit: 0 };
  private snap: Snapshot;
  /** ents[0] is a dummy standing for the snapshot point (index and term of the snapshot). */
  private ents: Entry[];

  constructor(conf: ConfState = EMPTY_CONF) {
    this.snap = { meta: { index: 0, term: 0, conf: cloneConf(conf) } };
    this.ents = [{ index: 0, term: 0, data: new Uint8Array() }];
  }

  initialState(): { hardState: HardState; conf: ConfState } {
    return { hardState: { ...this.hardState }, conf: cloneConf(this.snap.meta.conf) };
  }

  setHardState(hs: HardState): void {
    this.hardState = { ...hs };
  }

  firstIndex(): number {
    return this.ents[0]!.index + 1;
  }

  lastIndex(): number {
    return this.ents[0]!.index + this.ents.length - 1;
  }

  term(i: number): number | undefined {
    const offset = this.ents[0]!.index;
    if (i < offset || i > this.lastIndex()) return undefined;
    return this.ents[i - offset]!.term;
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const offset = this.ents[0]!.index;
    assert(lo > offset && hi <= this.lastIndex() + 1 && lo <= hi, `entries(${lo}, ${hi}) out of range`);
    return limitSize(this.ents.slice(lo - offset, hi - offset), maxBytes);
  }

  snapshot(): Snapshot {
    return this.snap;
  }

  /** Appends entries, truncating any conflicting suffix first (the core only sends valid batches). */
  append(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0]!.index + entries.length - 1;
    if (last < first) return; // all already compacted
    const fresh = entries[0]!.index < first ? entries.slice(first - entries[0]!.index) : entries;
    const offset = fresh[0]!.index - this.ents[0]!.index;
    assert(offset <= this.ents.length, `gap in log: append at ${fresh[0]!.index}, last ${this.lastIndex()}`);
    if (offset === this.ents.length) {
      for (const e of fresh) this.ents.push(e);
    } else {
      this.ents = this.ents.slice(0, offset).concat(fresh);
    }
  }

  /** Replaces the whole log with a snapshot received from the leader. */
  applySnapshot(snap: Snapshot): void {
    if (snap.meta.index <= this.snap.meta.index) return;
    this.snap = snap;
    this.ents = [{ index: snap.meta.index, term: snap.meta.term, data: new Uint8Array() }];
  }

  /** Records a snapshot the application took at `index` (≤ applied); `compact` drops the log before it. */
  createSnapshot(index: number, conf: ConfState): Snapshot {
    assert(index <= this.lastIndex(), `snapshot index ${index} past last index ${this.lastIndex()}`);
    if (index <= this.snap.meta.index) return this.snap;
    const term = this.term(index);
    assert(term !== undefined, `snapshot index ${index} was compacted`);
    this.snap = { meta: { index, term, conf: cloneConf(conf) } };
    return this.snap;
  }

  /** Discards entries before `index` (keeping `index` itself as the new dummy). */
  compact(index: number): void {
    const offset = this.ents[0]!.index;
    if (index <= offset) return;
    assert(index <= this.lastIndex(), `compact(${index}) past last index ${this.lastIndex()}`);
    const term = this.ents[index - offset]!.term;
    this.ents = [{ index, term, data: new Uint8Array() }, ...this.ents.slice(index - offset + 1)];
  }

  /** A deep copy: what survives a crash in the simulator. */
  clone(): MemoryStorage {
    const c = new MemoryStorage();
    c.hardState = { ...this.hardState };
    c.snap = this.snap;
    c.ents = this.ents.slice();
    return c;
  }
}

export function cloneConf(c: ConfState): ConfState {
  return { voters: [...c.voters], learners: [...c.learners], joining: [...c.joining] };
}
