/**
 * The Raft consensus state machine: pure and deterministic. Inputs are `tick()`, `step(msg)` and the
 * proposal calls; outputs are queued and handed out by `RaftNode.ready()` through `takeOutput()`.
 * Nothing here performs I/O or reads a clock. The class is assembled from layers, one per seam
 * (see raft-state.ts); this top layer routes each message to the role's handler.
 */
import { assert } from "../../common/assert.js";
import { RaftElections } from "./elections.js";
import type { RaftOptions } from "./options.js";
import { voteOutcome } from "./quorum.js";
import { Recovery } from "./recovery.js";
import { type Message, NONE, type Ready } from "./types.js";

export class Raft extends RaftElections {
  constructor(opts: RaftOptions) {
    super(opts);
    // Config entries after the snapshot (a kept log tail may reach back before it, and those entries
    // are already part of the snapshot's configuration): the committed ones take effect now.
    const first = Math.max(this.log.firstIndex(), this.opts.storage.snapshot().meta.index + 1);
    const last = this.log.lastIndex();
    if (last >= first) {
      for (const e of this.log.slice(first, last + 1, Number.POSITIVE_INFINITY)) {
        if (e.conf) this.pendingConf.push(e);
      }
    }
    this.applyCommittedConf();
    this.becomeFollower(this.term, NONE);
    if (opts.recovering) {
      this.recovery = new Recovery(opts.random.int(2 ** 31));
      this.sendTermProbes();
      this.advanceRecovery();
    }
  }

  step(m: Message): void {
    assert(m.to === this.id, `message for ${m.to} delivered to ${this.id}`);
    // The shells' snapshot stream is theirs alone (see types.ts, Snapshot).
    assert(m.type !== "snapshot-chunk" && m.type !== "snapshot-resp", `${m.type} stepped into the core`);
    this.stepMessage(m);
    if (this.recovery) this.advanceRecovery();
  }

  private stepMessage(m: Message): void {
    if (m.type === "term-probe" || m.type === "term-probe-resp") {
      this.handleTermProbe(m);
      return;
    }
    if (this.recovery?.floor === null && (m.type === "append" || m.type === "snapshot")) {
      // Until every voter has told its term, a leader's term may be below one this replica voted or
      // acknowledged in before the loss: an ack would let a deposed leader commit over an entry
      // committed since (with this replica's lost copy). Heartbeats are still answered (they carry no
      // entries, and the commit index they bring is ignored while recovering), so a live leader keeps
      // its quorum while a voter that must answer the probe is down; the answer confirms no read.
      return;
    }
    if (m.term > this.term) {
      if ((m.type === "vote" || m.type === "pre-vote") && !m.transfer && this.inLease()) {
        // A healthy leader is in contact: a disruptive candidate is ignored (check-quorum lease).
        return;
      }
      if (m.type === "pre-vote" || (m.type === "pre-vote-resp" && !m.reject)) {
        // A pre-vote never changes terms; a granted pre-vote answer carries the future term asked for.
      } else {
        const fromLeader = m.type === "append" || m.type === "heartbeat" || m.type === "snapshot";
        this.becomeFollower(m.term, fromLeader ? m.from : NONE);
      }
    } else if (m.term < this.term) {
      if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === "append" || m.type === "heartbeat")) {
        // Tell a stale leader our term so that it steps down (needed when pre-vote hides new terms).
        this.send({
          type: "append-resp",
          to: m.from,
          term: this.term,
          index: 0,
          reject: true,
          rejectHint: 0,
          hintTerm: 0,
        });
      } else if (m.type === "pre-vote") {
        this.send({ type: "pre-vote-resp", to: m.from, term: this.term, reject: true });
      }
      return;
    }

    if (m.type === "vote" || m.type === "pre-vote") {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case "leader":
        this.stepLeader(m);
        break;
      case "candidate":
      case "pre-candidate":
        this.stepCandidate(m);
        break;
      case "follower":
        this.stepFollower(m);
        break;
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case "append":
      case "heartbeat":
      case "snapshot":
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case "vote-resp":
      case "pre-vote-resp": {
        const mine = this.role === "candidate" ? "vote-resp" : "pre-vote-resp";
        if (m.type !== mine) return;
        this.votes.set(m.from, !m.reject);
        const outcome = voteOutcome(this.conf.voters, this.votes);
        if (outcome === "won") {
          if (this.role === "pre-candidate") this.campaign("election");
          else {
            this.becomeLeader();
            this.broadcastAppend(true);
          }
        } else if (outcome === "lost") {
          this.becomeFollower(this.term, NONE);
        }
        return;
      }
      default:
        return;
    }
  }

  private stepFollower(m: Message): void {
    switch (m.type) {
      case "append":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleAppend(m);
        return;
      case "heartbeat":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        // A leader that has not yet seen our term probe may still count our lost log as matching:
        // while recovering, the commit index moves only with appends, which check the log.
        if (!this.recovery) this.log.commitTo(m.commit);
        this.onCommitAdvanced();
        // Until the floor is known this leader may be one deposed while our lost store held a newer
        // term: the answer keeps it in contact (check-quorum) but must never confirm its read, so the
        // read context is not echoed (a read counts only answers that echo it).
        this.send({
          type: "heartbeat-resp",
          to: m.from,
          term: this.term,
          readCtx: this.recovery?.floor === null ? null : m.readCtx,
        });
        return;
      case "snapshot":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleSnapshot(m);
        return;
      case "timeout-now":
        // Leadership transfer: campaign at once, without pre-vote, overriding the lease.
        this.campaign("transfer");
        return;
      case "read-index-resp":
        if (!m.reject) this.readStates.push({ index: m.index, readCtx: m.readCtx });
        return;
      default:
        return;
    }
  }

  private stepLeader(m: Message): void {
    const pr = this.progress.get(m.from);
    if (!pr) return; // not (or no longer) a member
    pr.recentActive = true;
    switch (m.type) {
      case "append-resp":
        this.handleAppendResp(m, pr);
        return;
      case "heartbeat-resp":
        pr.probeSent = false;
        // Appends may have been lost: let one more through so a gap turns into a rejection and a probe.
        if (pr.state === "replicate" && pr.isPaused()) pr.inflights.shift();
        if (pr.state === "snapshot") {
          // The stream may have broken: ask the shell again (it ignores the ask while one runs).
          this.requestSnapshot(m.from);
        } else if (pr.match < this.log.lastIndex() || pr.commitSent < this.log.committed) {
          // Even with nothing new to send, an empty append makes the follower report where it stands.
          // It also carries a commit that no append has told yet: a follower that is recovering from
          // a lost disk takes the commit index from appends only (see stepFollower's heartbeat).
          this.sendAppend(m.from, true);
        }
        if (m.readCtx !== null) this.ackRead(m.readCtx, m.from);
        return;
      case "read-index":
        this.handleReadRequest(m.readCtx, m.from);
        return;
      default:
        return;
    }
  }

  // ---------------------------------------------------------------- output (for RaftNode)

  /** Something for a Ready besides a change of hard or soft state. */
  hasOutput(): boolean {
    return (
      this.needsBroadcast ||
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.log.unstable.length > 0 ||
      this.log.unstableSnapshot !== null ||
      this.log.hasNextCommittedEntries()
    );
  }

  /**
   * Sends what proposals and commit advances deferred, then hands over a Ready's worth of work: the
   * messages and read states leave the core; entries stay unstable until `advance`.
   */
  takeOutput(): Pick<Ready, "entries" | "snapshot" | "committedEntries" | "readStates" | "canVote"> & {
    msgs: Message[];
  } {
    this.flushBroadcasts();
    const out = {
      entries: this.log.unstable.slice(),
      snapshot: this.log.unstableSnapshot,
      committedEntries: this.log.nextCommittedEntries(),
      msgs: this.msgs,
      readStates: this.readStates,
      canVote: this.recovery === null,
    };
    this.msgs = [];
    this.readStates = [];
    return out;
  }

  /** The driver has persisted, sent and applied everything in `rd`. */
  advance(rd: Ready): void {
    const log = this.log;
    if (rd.snapshot) {
      log.stableSnapshotTo(rd.snapshot.meta.index);
      log.applied = Math.max(log.applied, rd.snapshot.meta.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) log.appliedTo(lastApplied.index);
    if (last || rd.snapshot) this.onPersisted();
  }
}
