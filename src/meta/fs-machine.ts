/**
 * The file-system state machine as the Raft driver sees it: entries in, results out. Every applied
 * entry's changes go to the watch feed.
 *
 * Two stores: in memory (`new FsMachine`: snapshots are the whole state encoded, the driver replays the
 * log on restart), or durable (`FsMachine.openDurable`: the state in LevelDB at `<dataDir>/state`, each
 * group of applied entries written with its applied index in one batch; `durableIndex()` says how far,
 * snapshots stream the store's keys from a LevelDB snapshot and install into a fresh directory).
 * The in-memory one keeps nothing (`durableIndex()` 0): its snapshot is its encoding, in slices of at
 * most 1 MiB, and the Raft store keeps those bytes.
 */
import { createHash } from "node:crypto";
import {
  bytesSource,
  collectChunks,
  type Entry,
  SNAPSHOT_SLICE_BYTES,
  type SnapshotSource,
  type StateMachine,
} from "../raft/index.js";
import { decodeEntry, decodeSnapshot, encodeSnapshot } from "./entry-codec.js";
import {
  type ApplyResult,
  type FsSnapshot,
  FsState,
  type FsStateOptions,
  recountUsageIfMissing,
} from "./state/index.js";
import { LevelStore, type LevelStoreOptions } from "./store/level-store.js";
import type { WatchFeed } from "./watch-feed.js";

export class FsMachine implements StateMachine {
  fs: FsState;
  /** Raft index of the last entry applied (including no-ops the driver does not hand over). */
  appliedIndex = 0;
  private level: LevelStore | null = null;

  constructor(
    private readonly opts: FsStateOptions,
    private readonly feed: WatchFeed,
  ) {
    this.fs = new FsState(opts);
  }

  /** The durable machine over `<dir>` (e.g. `<dataDir>/state`), resuming from what the store holds. */
  static async openDurable(
    opts: FsStateOptions,
    feed: WatchFeed,
    dir: string,
    storeOpts: LevelStoreOptions = {},
  ): Promise<FsMachine> {
    const m = new FsMachine(opts, feed);
    await m.attach(await LevelStore.open(dir, storeOpts));
    return m;
  }

  private async attach(store: LevelStore): Promise<void> {
    this.level = store;
    // A store written before quotas gets its usage counted once, before anything is applied.
    await recountUsageIfMissing(store);
    this.fs = new FsState(this.opts, store);
    const fs = this.fs;
    store.beforeBatch = () => fs.tablesWrite();
    // The leader's duties read the chunk tables every round: built here, before any entry is applied.
    await fs.loadChunkTables();
    this.appliedIndex = this.fs.lastAppliedIndex;
    this.feed.resetTo(this.appliedIndex);
  }

  apply(entry: Entry): ApplyResult {
    if (entry.conf !== undefined || entry.data.byteLength === 0) {
      // A durable machine sees no-ops and configuration entries too, so that its applied index follows.
      this.fs.skip(entry.index);
      this.appliedIndex = entry.index;
      return { ok: true, value: null, changes: [] };
    }
    const { timestampMs, command } = decodeEntry(entry.data);
    const result = this.fs.apply({ index: entry.index, timestampMs, command });
    this.appliedIndex = entry.index;
    this.feed.publish(entry.index, result.changes);
    return result;
  }

  /** True for the LevelDB-backed machine: the driver hands it every committed entry and keeps no state bytes. */
  get durable(): boolean {
    return this.level !== null;
  }

  /** How far the state is on disk (0 in memory: nothing survives a restart). */
  durableIndex(): number {
    return this.level?.durableIndex ?? 0;
  }

  /** Resolves when every applied entry is durable (a no-op in memory). */
  async flushed(): Promise<void> {
    await this.level?.flushed();
  }

  /** True while the store's unwritten backlog is at its bound: the caller should await `flushed()`. */
  get mustWait(): boolean {
    return this.level?.mustWait ?? false;
  }

  /**
   * A digest of the whole state and the applied index it stands for, equal on every replica that
   * applied the same entries (tests compare replicas with it). A durable machine hashes its store's
   * records in a point-in-time view once everything applied so far is on disk: the records of one
   * batch — namespace, tables and applied index — are consistent with each other.
   */
  async digest(): Promise<{ appliedIndex: number; hash: string }> {
    if (this.level === null) return { appliedIndex: this.appliedIndex, hash: this.fs.stateHash() };
    await this.level.durableAt();
    const view = this.level.openSnapshot(SNAPSHOT_SLICE_BYTES);
    try {
      const h = createHash("sha256");
      for await (const chunk of view.chunks()) h.update(chunk);
      return { appliedIndex: view.index, hash: h.digest("hex") };
    } finally {
      view.close();
    }
  }

  openSnapshot(): SnapshotSource {
    if (this.level !== null) return this.level.openSnapshot(SNAPSHOT_SLICE_BYTES);
    // Encoded at once: the encoding is the consistent view (later applies change `fs`, not these bytes).
    return bytesSource(
      this.appliedIndex,
      encodeSnapshot(this.fs.snapshotForEncoding()),
      SNAPSHOT_SLICE_BYTES,
    );
  }

  async installSnapshot(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.level !== null) {
      await this.level.install(index, chunks);
      await this.attach(this.level);
      return;
    }
    this.restore(await collectChunks(chunks));
    // The encoding knows the last entry with data; the snapshot stands for everything up to `index`.
    this.appliedIndex = Math.max(this.appliedIndex, index);
  }

  async close(): Promise<void> {
    await this.level?.close();
  }

  private restore(data: Uint8Array): void {
    const snap = decodeSnapshot<FsSnapshot>(data);
    this.fs = FsState.restore(snap, this.opts);
    this.appliedIndex = snap.lastAppliedIndex;
    this.feed.resetTo(snap.lastAppliedIndex);
  }
}
