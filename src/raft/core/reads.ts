/** ReadIndex: linearizable reads confirmed by a heartbeat round (or by the leader's lease). */
import { RaftSnapshotReceive } from "./snapshot-receive.js";
import { NONE, type NodeId } from "./types.js";

export abstract class RaftReads extends RaftSnapshotReceive {
  /** Starts a linearizable read. Returns false when no leader is known (the caller retries later). */
  readIndex(readCtx: string): boolean {
    if (this.role === "leader") return this.handleReadRequest(readCtx, this.id);
    if (this.leaderId === NONE) return false;
    this.send({ type: "read-index", to: this.leaderId, term: this.term, readCtx });
    return true;
  }

  protected override handleReadRequest(readCtx: string, from: NodeId): boolean {
    if (!this.committedInCurrentTerm()) {
      // A new leader does not know the commit index until its no-op commits.
      if (this.readsBeforeFirstCommit.length >= this.opts.maxPendingReads) return false;
      this.readsBeforeFirstCommit.push({ readCtx, from });
      return true;
    }
    const index = this.log.committed;
    if (this.conf.voters.length === 1 && this.conf.voters[0] === this.id) {
      this.answerRead(readCtx, index, from);
      return true;
    }
    if (this.opts.readOnly === "lease" && this.opts.checkQuorum) {
      this.answerRead(readCtx, index, from);
      return true;
    }
    if (this.readOnly.size >= this.opts.maxPendingReads) return false;
    if (!this.readOnly.add(readCtx, index, from, this.id)) return true;
    this.broadcastHeartbeat(readCtx);
    return true;
  }

  protected ackRead(readCtx: string, from: NodeId): void {
    for (const r of this.readOnly.ack(readCtx, from, this.conf.voters)) {
      this.answerRead(r.readCtx, r.index, r.from);
    }
  }

  private answerRead(readCtx: string, index: number, from: NodeId): void {
    if (from === this.id) this.readStates.push({ index, readCtx });
    else this.send({ type: "read-index-resp", to: from, term: this.term, readCtx, index, reject: false });
  }
}
