/**
 * The file-system state machine as the Raft driver sees it: entries in, results out, snapshots as
 * streams. Every applied entry's changes go to the watch feed.
 *
 * An adapter until the state moves to disk: FsState lives in memory and keeps nothing itself
 * (`durableIndex()` 0), so its snapshot is its encoding, yielded in slices of at most 1 MiB, and the
 * Raft store keeps those bytes.
 */
import {
  bytesSource,
  collectChunks,
  type Entry,
  SNAPSHOT_SLICE_BYTES,
  type SnapshotSource,
  type StateMachine,
} from "../raft/index.js";
import { decodeEntry, decodeSnapshot, encodeSnapshot } from "./entry-codec.js";
import { type ApplyResult, type FsSnapshot, FsState, type FsStateOptions } from "./state/index.js";
import type { WatchFeed } from "./watch-feed.js";

export class FsMachine implements StateMachine {
  fs: FsState;
  /** Raft index of the last entry applied (including no-ops the driver does not hand over). */
  appliedIndex = 0;

  constructor(
    private readonly opts: FsStateOptions,
    private readonly feed: WatchFeed,
  ) {
    this.fs = new FsState(opts);
  }

  apply(entry: Entry): ApplyResult {
    const { timestampMs, command } = decodeEntry(entry.data);
    const result = this.fs.apply({ index: entry.index, timestampMs, command });
    this.appliedIndex = entry.index;
    this.feed.publish(entry.index, result.changes);
    return result;
  }

  durableIndex(): number {
    return 0;
  }

  openSnapshot(): SnapshotSource {
    // Encoded at once: the encoding is the consistent view (later applies change `fs`, not these bytes).
    return bytesSource(
      this.appliedIndex,
      encodeSnapshot(this.fs.snapshotForEncoding()),
      SNAPSHOT_SLICE_BYTES,
    );
  }

  async installSnapshot(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    this.restore(await collectChunks(chunks));
    // The encoding knows the last entry with data; the snapshot stands for everything up to `index`.
    this.appliedIndex = Math.max(this.appliedIndex, index);
  }

  private restore(data: Uint8Array): void {
    const snap = decodeSnapshot<FsSnapshot>(data);
    this.fs = FsState.restore(snap, this.opts);
    this.appliedIndex = snap.lastAppliedIndex;
    this.feed.resetTo(snap.lastAppliedIndex);
  }
}
