/**
 * The file-system state machine as the Raft driver sees it: entries in, results out, snapshots as
 * bytes. Every applied entry's changes go to the watch feed.
 */
import type { Entry, StateMachine } from "../raft/index.js";
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
