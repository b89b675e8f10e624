/**
 * The state machine's side of the shell: what the machine holds and how it gets there. Committed
 * entries and installed snapshots reach the machine here, in log order; the applied indexes, the
 * configuration as of them, and the decision of when and where a snapshot (and the log compaction
 * behind it) may be taken live here too, so the driver only moves Ready's parts between core, disk,
 * network and this runner.
 */

import { assert } from "../common/assert.js";
import type { Logger } from "../common/log.js";
import {
  applyConfChange,
  type ConfState,
  cloneConf,
  type Entry,
  entrySizeBytes,
  type RaftSettings,
} from "./core/index.js";
import type { PersistentStorage } from "./level-storage.js";
import type { SnapshotSource } from "./snapshot-shell.js";

/**
 * The application replicated by Raft. `apply` must be deterministic and must not throw.
 *
 * A machine that keeps nothing itself (`durableIndex()` always 0) has its snapshots' bytes kept in the
 * Raft store and is rebuilt from them on start. A durable machine keeps its own state (each applied
 * batch written atomically with its applied index): the driver then records only snapshot metadata,
 * compacts the log never past `durableIndex()`, and on start applies only the entries after it.
 */
export interface StateMachine {
  /**
   * Called in log order for entries carrying data and, when `durable`, for every committed entry (so
   * that its applied index can follow no-ops and configuration entries); the result goes to the proposer.
   */
  apply(entry: Entry): unknown;
  /** Set by a machine that keeps its state in its own store (refinement of the lead's interface). */
  readonly durable?: boolean;
  /**
   * The index up to which the machine's state is already durable in its own store (0 for a machine that
   * keeps nothing). On start the driver applies only entries after it; snapshots taken by the driver
   * never need the machine's bytes when this equals the applied index.
   */
  durableIndex(): number;
  /** A consistent point-in-time view of the state as of the last applied entry, read as a stream. */
  openSnapshot(): SnapshotSource;
  /** Replaces the whole state with a streamed snapshot; written aside and switched atomically. */
  installSnapshot(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void>;
}

export type MachineRunnerTuning = Pick<
  RaftSettings,
  | "snapshotEveryEntries"
  | "snapshotEveryBytes"
  | "snapshotLogBytesRatio"
  | "snapshotKeepEntries"
  | "snapshotKeepBytes"
>;

export interface MachineRunnerDeps {
  storage: PersistentStorage;
  stateMachine: StateMachine;
  log: Logger;
  /** A leader's snapshot is being streamed into the machine: entries wait in the log meanwhile. */
  installing: () => boolean;
  /** The machine applied `e` (`result` is undefined for an entry it never sees). */
  applied: (e: Entry, result: unknown) => void;
  /** The machine held `index` already (a snapshot installed past it): its result is not known here. */
  skipped: (index: number) => void;
  /** The rebuild from the stored snapshot ended: entries that waited may now be applied. */
  restored: () => void;
  /** The rebuild from the stored snapshot failed: the node cannot go on. */
  failed: (err: unknown) => void;
}

export class MachineRunner {
  private readonly tuning: MachineRunnerTuning;
  private readonly storage: PersistentStorage;
  private readonly sm: StateMachine;
  private readonly deps: MachineRunnerDeps;

  /**
   * Two applied indexes, because the machine may run ahead of the log or behind it. `raftApplied`: the
   * last entry the core handed over (configuration and snapshot bookkeeping follow it). `machineIndex`:
   * the state the machine holds. Ahead after a restart (a durable machine) or an installed snapshot
   * the core did not need; behind while an install runs (entries wait in the log, applied after it).
   */
  private raftApplied = 0;
  private machineIndex = 0;
  /** The configuration as of `confIndex`, and the index of the last configuration entry in it. */
  private appliedConf: ConfState = { voters: [], learners: [], joining: [] };
  private confIndex = 0;
  private lastConfEntry = 0;
  /** Bytes of entries applied since the last snapshot, and that snapshot's size: see snapshotLogBytesRatio. */
  private appliedBytesSinceSnapshot = 0;
  private lastSnapshotBytes = 0;
  /** Installed snapshots' views for the persist that adopts them (a machine that keeps nothing). */
  private readonly installedSources = new Map<number, SnapshotSource>();
  /** The machine is being rebuilt from the stored snapshot (a machine that keeps nothing, on start). */
  private restoringFromStore = false;
  /** Settles when that rebuild has ended (the store must stay open until then). */
  restoreDone: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(tuning: MachineRunnerTuning, deps: MachineRunnerDeps) {
    this.tuning = tuning;
    this.storage = deps.storage;
    this.sm = deps.stateMachine;
    this.deps = deps;
  }

  get durable(): boolean {
    return this.sm.durable === true;
  }

  /** The state the machine holds. */
  get machineApplied(): number {
    return this.machineIndex;
  }

  /** The status's applied index: whichever of the two is further. */
  get appliedIndex(): number {
    return Math.max(this.raftApplied, this.machineIndex);
  }

  get conf(): ConfState {
    return this.appliedConf;
  }

  /** Starts from the stores (see RaftDriver.start): rebuilds a machine that keeps nothing in the background. */
  start(): void {
    const snap = this.storage.snapshot();
    this.raftApplied = snap.meta.index;
    this.confIndex = snap.meta.index;
    this.appliedConf = cloneConf(snap.meta.conf);
    this.machineIndex = this.sm.durableIndex();
    if (this.machineIndex >= snap.meta.index) return;
    assert(
      this.storage.snapshotHasData(),
      `state machine at ${this.machineIndex} is behind the raft snapshot ${snap.meta.index}, which carries no data`,
    );
    this.restoringFromStore = true;
    this.restoreDone = this.sm.installSnapshot(snap.meta.index, this.storage.snapshotChunks()).then(
      () => {
        this.restoringFromStore = false;
        this.machineIndex = Math.max(this.machineIndex, snap.meta.index);
        this.deps.restored();
      },
      (err) => {
        if (!this.stopped) this.deps.failed(err);
      },
    );
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.installedSources.values()) s.close();
    this.installedSources.clear();
  }

  /** Entries cannot reach the machine now: an install or the rebuild from the store runs. */
  busy(): boolean {
    return this.deps.installing() || this.restoringFromStore;
  }

  /** Whether a leader's snapshot at `index` would move the machine forward. */
  accepts(index: number): boolean {
    return !this.stopped && !this.restoringFromStore && index > this.machineIndex;
  }

  /** Entries that waited in the log while an install ran reach the machine; true when any did. */
  catchUpIfBehind(): boolean {
    if (this.busy() || this.machineIndex >= this.raftApplied) return false;
    this.catchUpMachine(this.raftApplied);
    return true;
  }

  /**
   * A view of the machine's state to stream to a follower, with what describes it — its index and the
   * configuration then — or null when none can be described now (asked again later).
   *
   * A durable machine's view is what its own store holds, which trails the applied point by the batch
   * being written (group commit): its index is read in the view, never assumed to be the applied one.
   * Any index from the last configuration entry to the log's applied point has `appliedConf` as its
   * configuration; the log is compacted only up to the store's durable index, so the entries after
   * the view's index are still there for the follower.
   */
  openStreamSource(): { source: SnapshotSource; index: number; conf: ConfState } | null {
    if (this.restoringFromStore || this.confIndex !== this.raftApplied) return null;
    if (!this.sm.durable) {
      if (this.machineIndex !== this.raftApplied) return null;
      return { source: this.openSource(), index: this.machineIndex, conf: cloneConf(this.appliedConf) };
    }
    const source = this.sm.openSnapshot();
    if (source.index < this.lastConfEntry || source.index > this.raftApplied) {
      source.close();
      return null;
    }
    return { source, index: source.index, conf: cloneConf(this.appliedConf) };
  }

  /** The machine's install of a streamed snapshot, refused if the machine moved past it meanwhile. */
  async install(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (index <= this.machineIndex)
      throw new Error(`snapshot ${index} is not above the machine's ${this.machineIndex}`);
    await this.sm.installSnapshot(index, chunks);
  }

  /**
   * The machine holds the leader's snapshot at `index`. A machine that keeps nothing has its bytes
   * written with the Ready that adopts the snapshot: the view is opened now, before any later entry
   * reaches the machine.
   */
  installed(index: number): void {
    this.machineIndex = Math.max(this.machineIndex, index);
    if (!this.sm.durable) this.installedSources.set(index, this.openSource());
  }

  /** The bytes to persist with a Ready that adopts the snapshot at `index` (null for a durable machine). */
  adoptedBytes(index: number): AsyncIterable<Uint8Array> | null {
    if (this.sm.durable) return null;
    const source = this.installedSources.get(index);
    assert(source !== undefined, `adopting snapshot ${index} that was never installed`);
    return source.chunks();
  }

  closeInstalledSources(upTo: number): void {
    for (const [index, s] of this.installedSources) {
      if (index > upTo) continue;
      s.close();
      this.installedSources.delete(index);
    }
  }

  /**
   * A machine that keeps nothing: its view now, encoding everything applied so far (its own idea of its
   * index may lag, since it never sees entries without data).
   */
  private openSource(): SnapshotSource {
    assert(!this.sm.durable, "a durable machine's view is opened by openStreamSource");
    return this.sm.openSnapshot();
  }

  /** The core adopted a snapshot (its log now starts there): configuration and applied point follow it. */
  adoptSnapshot(meta: { index: number; conf: ConfState }): void {
    if (meta.index <= this.raftApplied) return;
    this.raftApplied = meta.index;
    if (meta.index > this.confIndex) {
      this.confIndex = meta.index;
      this.appliedConf = cloneConf(meta.conf);
      this.lastConfEntry = meta.index;
    }
    this.appliedBytesSinceSnapshot = 0;
  }

  /** A committed entry from the core: bookkeeping now, the machine now or once it can take it. */
  handOver(e: Entry): void {
    // After a restart the log may start before the stored snapshot: those entries are in it already.
    if (e.index <= this.raftApplied) return;
    assert(e.index === this.raftApplied + 1, `apply ${e.index} after ${this.raftApplied}: not contiguous`);
    this.raftApplied = e.index;
    if (e.conf && e.index > this.confIndex) {
      this.appliedConf = applyConfChange(this.appliedConf, e.conf);
      this.lastConfEntry = e.index;
    }
    this.confIndex = Math.max(this.confIndex, e.index);
    this.appliedBytesSinceSnapshot += e.data.byteLength;
    if (this.busy()) return; // the entry waits in the log: see catchUpMachine
    this.catchUpMachine(e.index - 1);
    this.applyToMachine(e);
  }

  /** Applies, from the durable log, entries the machine missed while an install ran. */
  private catchUpMachine(upTo: number): void {
    const last = Math.min(upTo, this.storage.lastIndex());
    while (this.machineIndex < last && !this.busy()) {
      const from = this.machineIndex + 1;
      assert(from >= this.storage.firstIndex(), `entry ${from} was compacted before the machine applied it`);
      for (const e of this.storage.entries(from, last + 1, 4 * 1024 * 1024)) this.applyToMachine(e);
    }
  }

  private applyToMachine(e: Entry): void {
    if (e.index <= this.machineIndex) {
      this.deps.skipped(e.index);
      return;
    }
    assert(e.index === this.machineIndex + 1, `machine applies ${e.index} after ${this.machineIndex}`);
    let result: unknown;
    if (this.sm.durable || (!e.conf && e.data.byteLength > 0)) result = this.sm.apply(e);
    this.machineIndex = e.index;
    this.deps.applied(e, result);
  }

  /** Whether a snapshot is due now (`asked`: someone waits for one). */
  snapshotDue(asked: boolean): boolean {
    if (asked) return true;
    const snapIndex = this.storage.snapshot().meta.index;
    const t = this.tuning;
    const index = this.snapshotIndexNow();
    return (
      index > snapIndex &&
      (index - snapIndex >= t.snapshotEveryEntries ||
        this.appliedBytesSinceSnapshot >= t.snapshotEveryBytes) &&
      this.appliedBytesSinceSnapshot >= t.snapshotLogBytesRatio * this.lastSnapshotBytes &&
      index <= this.storage.lastIndex()
    );
  }

  /**
   * Where a snapshot may be taken now: a point whose state is durable — the machine's own store's
   * (never past `durableIndex()`, so that the log behind it can go), or the bytes this snapshot writes
   * for a machine that keeps nothing — and whose configuration is known (`appliedConf` holds from the
   * last configuration entry on). 0 when none is.
   */
  private snapshotIndexNow(): number {
    if (this.busy() || this.confIndex !== this.raftApplied) return 0;
    if (!this.sm.durable) return this.machineIndex === this.raftApplied ? this.raftApplied : 0;
    const index = Math.min(this.raftApplied, this.sm.durableIndex());
    return index >= this.lastConfEntry ? index : 0;
  }

  /** Takes a snapshot where one may be taken now, if that is past the stored one, and compacts the log behind it. */
  async takeSnapshot(): Promise<void> {
    const index = this.snapshotIndexNow();
    // Only a durable index can be snapshotted; apply never runs ahead of persist, so this holds.
    if (index <= this.storage.snapshot().meta.index || index > this.storage.lastIndex()) return;
    let bytes = 0;
    if (this.sm.durable) {
      // The state is on disk already: only the meta is recorded.
      await this.storage.createSnapshot(index, this.appliedConf, null);
    } else {
      const source = this.openSource();
      try {
        const counted = async function* (chunks: AsyncIterable<Uint8Array>) {
          for await (const c of chunks) {
            bytes += c.byteLength;
            yield c;
          }
        };
        await this.storage.createSnapshot(index, this.appliedConf, counted(source.chunks()));
      } finally {
        source.close();
      }
    }
    this.appliedBytesSinceSnapshot = 0;
    this.lastSnapshotBytes = bytes;
    const compactTo = index - this.entriesToKeep(index);
    if (compactTo > this.storage.firstIndex() - 1) await this.storage.compact(compactTo);
    this.deps.log.debug({ index, bytes }, "raft snapshot taken");
  }

  /** How many entries up to `index` stay behind a snapshot there: the last ones, within both bounds. */
  private entriesToKeep(index: number): number {
    const { snapshotKeepEntries: most, snapshotKeepBytes: maxBytes } = this.tuning;
    const lo = Math.max(this.storage.firstIndex(), index - most + 1);
    if (most === 0 || lo > index) return 0;
    const tail = this.storage.entries(lo, index + 1, Number.MAX_SAFE_INTEGER);
    let bytes = 0;
    for (let kept = 0; kept < tail.length; kept++) {
      bytes += entrySizeBytes(tail[tail.length - 1 - kept]!);
      if (bytes > maxBytes) return kept;
    }
    return most;
  }
}
