/**
 * The file-system state machine as the Raft driver sees it: entries in, results out. Every applied
 * entry's changes go to the watch feed.
 *
 * Two stores: in memory (`new FsMachine`: snapshots are the whole state encoded, the driver replays the
 * log on restart), or durable (`FsMachine.openDurable`: the state in LevelDB at `<dataDir>/state`, each
 * group of applied entries written with its applied index in one batch; `durableIndex()` says how far,
 * snapshots stream the store's keys from a LevelDB snapshot and install into a fresh directory).
 * The driver's current interface (`snapshot`/`restore`) is served by the in-memory one; the streaming
 * interface (`durableIndex`/`openSnapshot`/`installSnapshot`) by both.
 */
import type { Entry, StateMachine } from "../raft/index.js";
import { decodeEntry, decodeSnapshot, encodeSnapshot } from "./entry-codec.js";
import { type ApplyResult, type FsSnapshot, FsState, type FsStateOptions } from "./state/index.js";
import { LevelStore, type LevelStoreOptions } from "./store/level-store.js";
import type { WatchFeed } from "./watch-feed.js";

/** A point-in-time view of the state, read as a stream of chunks (each ≤ about 1 MiB). */
export interface SnapshotSource {
  readonly index: number;
  chunks(): AsyncIterable<Uint8Array>;
  close(): void;
}

const SNAPSHOT_CHUNK_BYTES = 1 << 20;

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
    this.fs = new FsState(this.opts, store);
    const fs = this.fs;
    store.beforeBatch = () => fs.tablesWrite();
    this.appliedIndex = this.fs.lastAppliedIndex;
    this.feed.resetTo(this.appliedIndex);
  }

  apply(entry: Entry): ApplyResult {
    const { timestampMs, command } = decodeEntry(entry.data);
    const result = this.fs.apply({ index: entry.index, timestampMs, command });
    this.appliedIndex = entry.index;
    this.feed.publish(entry.index, result.changes);
    return result;
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

  openSnapshot(): SnapshotSource {
    if (this.level !== null) return this.level.openSnapshot(SNAPSHOT_CHUNK_BYTES);
    const bytes = this.snapshot();
    return {
      index: this.appliedIndex,
      async *chunks() {
        for (let at = 0; at < bytes.length; at += SNAPSHOT_CHUNK_BYTES)
          yield bytes.subarray(at, at + SNAPSHOT_CHUNK_BYTES);
      },
      close() {},
    };
  }

  async installSnapshot(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    if (this.level !== null) {
      await this.level.install(index, chunks);
      await this.attach(this.level);
      return;
    }
    const parts: Uint8Array[] = [];
    for await (const c of chunks) parts.push(c);
    this.restore(Buffer.concat(parts));
  }

  async close(): Promise<void> {
    await this.level?.close();
  }

  snapshot(): Uint8Array {
    return encodeSnapshot(this.fs.snapshotForEncoding());
  }

  restore(data: Uint8Array): void {
    const snap = decodeSnapshot<FsSnapshot>(data);
    this.fs = FsState.restore(snap, this.opts);
    this.appliedIndex = snap.lastAppliedIndex;
    this.feed.resetTo(snap.lastAppliedIndex);
  }
}
