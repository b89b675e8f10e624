/**
 * Proposals and membership change, one server at a time: config entries take effect when committed,
 * learners are promoted once caught up, a removed leader hands over; and leadership transfer.
 */
import { applyConfChange } from "./conf.js";
import type { Progress } from "./progress.js";
import { RaftReplication } from "./replication.js";
import { type ConfChange, type Entry, NONE, type NodeId, type ProposeResult } from "./types.js";

export abstract class RaftMembership extends RaftReplication {
  propose(datas: Uint8Array[]): ProposeResult {
    const refusal = this.refuseProposal();
    if (refusal) return refusal;
    let bytes = 0;
    for (const d of datas) bytes += d.byteLength + 24;
    if (this.uncommittedBytes > 0 && this.uncommittedBytes + bytes > this.opts.maxUncommittedBytes) {
      return { ok: false, reason: "overloaded" };
    }
    const last = this.appendEntries(datas.map((data) => ({ data })));
    return { ok: true, index: last, term: this.term };
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    const refusal = this.refuseProposal();
    if (refusal) return refusal;
    if (this.pendingConfIndex > this.log.committed) return { ok: false, reason: "conf-change-pending" };
    if (!this.validConfChange(cc)) return { ok: false, reason: "invalid-conf-change" };
    const index = this.appendEntries([{ data: new Uint8Array(), conf: cc }]);
    this.pendingConfIndex = index;
    return { ok: true, index, term: this.term };
  }

  private refuseProposal(): ProposeResult | null {
    if (this.role !== "leader") return { ok: false, reason: "not-leader", leaderId: this.leaderId };
    if (this.leadTransferee !== NONE || this.removedSelf) return { ok: false, reason: "transferring" };
    return null;
  }

  private validConfChange(cc: ConfChange): boolean {
    const isVoter = this.conf.voters.includes(cc.nodeId);
    const isLearner = this.conf.learners.includes(cc.nodeId);
    switch (cc.type) {
      case "addLearner":
        return cc.nodeId !== NONE && !isVoter && !isLearner;
      case "promoteLearner":
        return isLearner;
      case "removeNode":
        return (isVoter && this.conf.voters.length > 1) || isLearner;
    }
  }

  protected override maybePromote(id: NodeId, pr: Progress): void {
    if (!pr.isLearner || !this.conf.joining.includes(id)) return;
    if (pr.match < this.log.committed || this.pendingConfIndex > this.log.committed) return;
    this.proposeConfChange({ type: "promoteLearner", nodeId: id });
  }

  protected override trackConfEntries(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    // Entries at or after `first` were replaced; drop config entries that no longer exist.
    this.pendingConf = this.pendingConf.filter((e) => e.index < first || this.log.matchTerm(e.index, e.term));
    for (const e of entries) {
      if (e.conf && !this.pendingConf.some((p) => p.index === e.index)) this.pendingConf.push(e);
    }
  }

  /** Config changes take effect when committed, on every node, in log order. */
  protected override applyCommittedConf(): void {
    while (this.pendingConf.length > 0 && this.pendingConf[0]!.index <= this.log.committed) {
      const e = this.pendingConf.shift()!;
      this.applyConfChange(e.conf!);
    }
  }

  private applyConfChange(cc: ConfChange): void {
    const id = cc.nodeId;
    const before = this.conf;
    this.conf = applyConfChange(before, cc);
    if (this.role !== "leader" || this.conf === before) return;
    switch (cc.type) {
      case "addLearner":
        this.progress.set(id, this.newProgress(id, this.log.lastIndex() + 1));
        return;
      case "promoteLearner": {
        const old = this.progress.get(id);
        if (!old) return;
        const pr = this.newProgress(id, old.next);
        pr.match = old.match;
        pr.recentActive = true;
        if (old.state === "replicate") pr.becomeReplicate();
        this.progress.set(id, pr);
        return;
      }
      case "removeNode": {
        // Tell the removed server the commit index, so that it learns of its removal and stays quiet.
        const removed = this.progress.get(id);
        if (removed && id !== this.id) {
          const commit = Math.min(removed.match, this.log.committed);
          this.send({ type: "heartbeat", to: id, term: this.term, commit, readCtx: null });
        }
        this.progress.delete(id);
        if (this.leadTransferee === id) this.leadTransferee = NONE;
        if (id === this.id) {
          this.removedSelf = true;
          this.handOff();
          return;
        }
        // The quorum shrank: entries may now be committed.
        if (this.maybeCommit()) this.broadcastAppend(true);
        return;
      }
    }
  }

  /**
   * A leader that committed its own removal keeps replicating (counting only the new voters) and hands
   * over to the most up-to-date voter, instead of stepping down at once: the others learn the commit
   * of the removal from it, and until they do they still need its vote, which it would refuse to a
   * shorter log. Check-quorum still deposes it if the new voters cannot be reached.
   */
  protected handOff(): void {
    let best: NodeId = NONE;
    let bestMatch = -1;
    for (const id of this.conf.voters) {
      const pr = this.progress.get(id);
      if (pr && pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === NONE) {
      this.becomeFollower(this.term, NONE);
      return;
    }
    this.transferLeadership(best);
  }

  transferLeadership(to: NodeId): boolean {
    if (this.role !== "leader" || to === this.id || !this.conf.voters.includes(to)) return false;
    if (this.leadTransferee === to) return true;
    this.leadTransferee = to;
    this.electionElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: "timeout-now", to, term: this.term });
    else this.sendAppend(to);
    return true;
  }
}
