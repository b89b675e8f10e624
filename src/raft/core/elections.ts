/**
 * Elections: randomized timeouts counted in ticks, pre-vote, check-quorum on the leader, the vote
 * rules (§5.4.1's election restriction) and becoming leader.
 */
import { assert } from "../../common/assert.js";
import { voteOutcome } from "./quorum.js";
import { RaftReads } from "./reads.js";
import { type Message, NONE } from "./types.js";

export abstract class RaftElections extends RaftReads {
  tick(): void {
    if (this.role === "leader") {
      this.tickLeader();
      return;
    }
    this.electionElapsed++;
    if (this.recovery) {
      // Probes (or their answers) may be lost: ask the silent voters again every election timeout,
      // on a clock of its own (a leader's heartbeats reset the election clock, and that very leader
      // must hear a probe to stop counting on the log we lost).
      if (++this.recovery.ticksSinceProbe >= this.opts.electionTimeoutTicks) this.sendTermProbes();
      return;
    }
    if (this.isPromotable() && this.electionElapsed >= this.randomizedElectionTimeout) {
      this.electionElapsed = 0;
      this.campaign(this.opts.preVote ? "pre-vote" : "election");
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    if (this.electionElapsed >= this.opts.electionTimeoutTicks) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum) {
        if (!this.quorumActive()) {
          this.becomeFollower(this.term, NONE);
          return;
        }
        for (const [id, pr] of this.progress) pr.recentActive = id === this.id;
      }
      // A transfer that did not finish within an election timeout is abandoned (a removed leader
      // tries again: it must hand over).
      this.leadTransferee = NONE;
      if (this.removedSelf) this.handOff();
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatIntervalTicks) {
      this.heartbeatElapsed = 0;
      this.broadcastHeartbeat(this.readOnly.lastCtx());
    }
  }

  protected campaign(kind: "pre-vote" | "election" | "transfer"): void {
    if (!this.isPromotable() || this.recovery) return;
    let voteTerm: number;
    if (kind === "pre-vote") {
      this.becomePreCandidate();
      voteTerm = this.term + 1;
    } else {
      this.becomeCandidate();
      voteTerm = this.term;
    }
    this.votes.set(this.id, true);
    if (voteOutcome(this.conf.voters, this.votes) === "won") {
      // A single voter needs nobody else.
      if (kind === "pre-vote") this.campaign("election");
      else this.becomeLeader();
      return;
    }
    const lastLogIndex = this.log.lastIndex();
    const lastLogTerm = this.log.lastTerm();
    for (const to of this.conf.voters) {
      if (to === this.id) continue;
      this.send({
        type: kind === "pre-vote" ? "pre-vote" : "vote",
        to,
        term: voteTerm,
        lastLogIndex,
        lastLogTerm,
        transfer: kind === "transfer",
      });
    }
  }

  protected becomeLeader(): void {
    assert(this.role === "candidate", "only a candidate becomes leader");
    this.reset(this.term);
    this.role = "leader";
    this.leaderId = this.id;
    const last = this.log.lastIndex();
    for (const id of [...this.conf.voters, ...this.conf.learners]) {
      this.progress.set(id, this.newProgress(id, last + 1));
    }
    this.selfProgress()?.maybeUpdate(this.stableLastIndex());
    // The no-op commits earlier terms' entries (Figure 8) and gates reads and config changes.
    this.appendEntries([{ data: new Uint8Array() }]);
    this.pendingConfIndex = this.log.lastIndex();
  }

  protected handleVoteRequest(m: Extract<Message, { type: "vote" | "pre-vote" }>): void {
    const canVote =
      (this.recovery === null || this.recovery.mayVoteFor(m.lastLogIndex, m.lastLogTerm)) &&
      (this.vote === m.from ||
        (this.vote === NONE && this.leaderId === NONE) ||
        (m.type === "pre-vote" && m.term > this.term));
    const respType = m.type === "vote" ? "vote-resp" : "pre-vote-resp";
    if (canVote && this.candidateUpToDate(m.lastLogIndex, m.lastLogTerm)) {
      // A pre-vote answer carries the term asked for, so the pre-candidate counts it.
      this.send({ type: respType, to: m.from, term: m.term, reject: false });
      if (m.type === "vote") {
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.send({ type: respType, to: m.from, term: this.term, reject: true });
    }
  }

  // ---------------------------------------------------------------- recovery from a lost store

  /** To the voters still silent; once all have answered, to the leader, until it has caught us up. */
  protected sendTermProbes(): void {
    const rec = this.recovery;
    if (!rec) return;
    rec.ticksSinceProbe = 0;
    const to =
      rec.floor === null
        ? rec.missing(this.conf.voters, this.id)
        : this.leaderId !== NONE
          ? [this.leaderId]
          : [];
    const lastLogIndex = this.log.lastIndex();
    for (const id of to)
      this.send({ type: "term-probe", to: id, term: this.term, nonce: rec.nonce, lastLogIndex });
  }

  /** Moves the recovery on as far as what is known allows (see recovery.ts for the two steps). */
  protected advanceRecovery(): void {
    const rec = this.recovery;
    if (!rec) return;
    // A commit index inside our own term's entries came from that term's leader (also when read back
    // from the disk after a restart: everything on it arrived after the loss).
    if (this.log.term(this.log.committed) === this.term) {
      rec.caughtUpTerm = Math.max(rec.caughtUpTerm, this.term);
    }
    if (rec.floor === null) {
      if (rec.missing(this.conf.voters, this.id).length > 0) return;
      assert(this.role === "follower", "a recovering replica never campaigns");
      const floor = rec.fixFloor();
      if (floor > this.term) this.becomeFollower(floor, NONE);
      // Spend the vote of the floor term: it may be the very term of a vote cast before the loss.
      if (floor > 0 && this.term === floor && this.vote === NONE) this.vote = this.id;
    }
    if (rec.floor !== null && (rec.floor === 0 || rec.caughtUpTerm >= rec.floor)) this.recovery = null;
  }

  /**
   * A term probe is answered outside the term rules: it neither raises nor is refused for its term.
   * The prober lost its log: a leader that counts more of it than it holds (from before the loss, or
   * from an old acknowledgement still in flight) starts over from the end of the log.
   */
  protected handleTermProbe(m: Extract<Message, { type: "term-probe" | "term-probe-resp" }>): void {
    if (m.type === "term-probe-resp") {
      this.recovery?.hear(m);
      return;
    }
    const pr = this.role === "leader" && m.from !== this.id ? this.progress.get(m.from) : undefined;
    if (pr && pr.match > m.lastLogIndex) {
      const fresh = this.newProgress(m.from, this.log.lastIndex() + 1);
      fresh.recentActive = true;
      this.progress.set(m.from, fresh);
    }
    // A server that is not a voter of its own committed configuration reports only what it knows
    // committed, as it asks of candidates (candidateUpToDate): its uncommitted tail was counted by
    // no commit that the prober's lost vote took part in, and a longer tail on a removed leader would
    // otherwise keep the prober from voting for the only remaining voters forever.
    const promotable = this.isPromotable();
    const endIndex = promotable ? this.log.lastIndex() : this.log.committed;
    this.send({
      type: "term-probe-resp",
      to: m.from,
      term: this.term,
      nonce: m.nonce,
      lastLogIndex: endIndex,
      lastLogTerm: promotable ? this.log.lastTerm() : (this.log.term(endIndex) ?? 0),
    });
  }

  /**
   * Raft §5.4.1's election restriction. A server that is not a voter of its own committed configuration
   * (it was removed, and knows it) only asks that the candidate hold everything it knows committed:
   * its uncommitted tail cannot matter to the new configuration, and a candidate that has not yet
   * learned of the removal may still need its vote (otherwise a removed leader with a longer log can
   * block the only remaining voters forever). Entries committed after the removal are on a majority
   * of the new voters, who still check the whole log, so they stay protected.
   */
  private candidateUpToDate(lastIndex: number, lastTerm: number): boolean {
    if (this.isPromotable()) return this.log.isUpToDate(lastIndex, lastTerm);
    const commit = this.log.committed;
    const commitTerm = this.log.term(commit) ?? 0;
    return lastTerm > commitTerm || (lastTerm === commitTerm && lastIndex >= commit);
  }
}
