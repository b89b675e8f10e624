/**
 * A follower adopting a leader's snapshot. The bytes never reach the core: the shell has streamed them
 * into the state machine already (see types.ts, Snapshot) and steps the snapshot's meta in once the
 * machine holds it. Adopting it replaces the log; a snapshot the log already covers only moves the
 * commit index (the machine being ahead of the log is safe: see the driver's `installSnapshot`).
 */
import { RaftMembership } from "./membership.js";
import { cloneConf } from "./storage.js";
import type { Message, Snapshot } from "./types.js";

export abstract class RaftSnapshotReceive extends RaftMembership {
  protected handleSnapshot(m: Extract<Message, { type: "snapshot" }>): void {
    this.restore({ meta: m.meta });
    // Only the commit index is known to match the leader's log (a restored log ends there too).
    this.sendAppendResp(m.from, this.log.committed);
  }

  /** Installs a leader's snapshot unless our log already has its last entry. */
  private restore(snap: Snapshot): void {
    if (snap.meta.index <= this.log.committed) return;
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      this.log.commitTo(snap.meta.index);
      this.onCommitAdvanced();
      return;
    }
    this.log.restore(snap);
    this.conf = cloneConf(snap.meta.conf);
    this.pendingConf = [];
  }
}
