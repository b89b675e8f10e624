import { assert } from "../../common/assert.js";
import { applyConfChange } from "./conf.js";
import { RaftLog } from "./log.js";
import type { RaftOptions } from "./options.js";
import { Progress } from "./progress.js";
import { quorumIndex, voteOutcome } from "./quorum.js";
import { ReadOnlyQueue } from "./read-only.js";
import { cloneConf, entrySizeBytes } from "./storage.js";
import {
  type ConfChange,
  type ConfState,
  type Entry,
  type Message,
  NONE,
  type NodeId,
  type ProposeResult,
  type ReadState,
  type Role,
  type Snapshot,
} from "./types.js";

interface IncomingSnapshot {
  snapshot: Snapshot["meta"];
  parts: Uint8Array[];
  size: number;
}

/**
 * The Raft consensus state machine: pure and deterministic. Inputs are `tick()`, `step(msg)` and the
 * proposal calls; outputs are queued in `msgs`, `readStates` and the log's unstable part, and handed
 * out by `RaftNode.ready()`. Nothing here performs I/O or reads a clock.
 */
export class Raft {
  readonly id: NodeId;
  term = 0;
  vote: NodeId = NONE;
  leaderId: NodeId = NONE;
  role: Role = "follower";
  readonly log: RaftLog;
  conf: ConfState;
  readonly progress = new Map<NodeId, Progress>();
  msgs: Message[] = [];
  readStates: ReadState[] = [];

  electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTimeout = 0;
  private readonly votes = new Map<NodeId, boolean>();
  leadTransferee: NodeId = NONE;
  /** Index of the latest config entry a leader appended; a new one waits until this is committed. */
  private pendingConfIndex = 0;
  /** Config entries appended but not yet committed (applied to `conf` when they commit). */
  private pendingConf: Entry[] = [];
  /** Sizes of this leader's uncommitted proposals, for back-pressure. */
  private uncommitted: { index: number; bytes: number }[] = [];
  private uncommittedBytes = 0;
  private readonly readOnly = new ReadOnlyQueue();
  /** ReadIndex requests that arrived before this leader committed an entry of its term. */
  private readsBeforeFirstCommit: { readCtx: string; from: NodeId }[] = [];
  private incomingSnapshot: IncomingSnapshot | null = null;
  /** This leader committed its own removal and is handing over (see handOff). */
  private removedSelf = false;
  /** Set by proposals; the node broadcasts once per Ready so that proposals batch together. */
  needsBroadcast = false;
  /**
   * Set when the commit index advanced on an acknowledgement or on the leader's own persist. Followers
   * hear of it once per Ready (see flushBroadcasts), not once per acknowledgement: several acks and
   * new entries arriving together then cost one message per follower, not one each.
   */
  commitChanged = false;

  constructor(readonly opts: RaftOptions) {
    this.id = opts.id;
    assert(opts.id !== NONE, "node id must not be 0");
    this.log = new RaftLog(opts.storage, opts.maxBytesPerAppend * 4);
    const { hardState, conf } = opts.storage.initialState();
    this.conf = cloneConf(conf);
    this.term = hardState.term;
    this.vote = hardState.vote;
    assert(
      hardState.commit <= this.log.lastIndex(),
      `stored commit ${hardState.commit} beyond last index ${this.log.lastIndex()}: the log is damaged`,
    );
    this.log.commitTo(hardState.commit);
    // Config entries after the snapshot (a kept log tail may reach back before it, and those entries
    // are already part of the snapshot's configuration): the committed ones take effect now.
    const first = Math.max(this.log.firstIndex(), opts.storage.snapshot().meta.index + 1);
    const last = this.log.lastIndex();
    if (last >= first) {
      for (const e of this.log.slice(first, last + 1, Number.POSITIVE_INFINITY)) {
        if (e.conf) this.pendingConf.push(e);
      }
    }
    this.applyCommittedConf();
    this.becomeFollower(this.term, NONE);
  }

  // ---------------------------------------------------------------- roles

  isPromotable(): boolean {
    return this.conf.voters.includes(this.id);
  }

  private reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = NONE;
    }
    this.leaderId = NONE;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.randomizedElectionTimeout =
      this.opts.electionTimeoutTicks + this.opts.random.int(this.opts.electionTimeoutTicks);
    this.votes.clear();
    this.leadTransferee = NONE;
    this.removedSelf = false;
    this.readOnly.clear();
    this.readsBeforeFirstCommit = [];
    this.uncommitted = [];
    this.uncommittedBytes = 0;
    this.progress.clear();
  }

  becomeFollower(term: number, leaderId: NodeId): void {
    this.reset(term);
    this.role = "follower";
    this.leaderId = leaderId;
  }

  private becomePreCandidate(): void {
    // Term and vote stay: a pre-vote must not disturb anyone. The old leader is forgotten (etcd #8334).
    this.role = "pre-candidate";
    this.votes.clear();
    this.leaderId = NONE;
  }

  private becomeCandidate(): void {
    assert(this.role !== "leader", "a leader does not become candidate directly");
    this.reset(this.term + 1);
    this.vote = this.id;
    this.role = "candidate";
  }

  private becomeLeader(): void {
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

  private newProgress(id: NodeId, next: number): Progress {
    const pr = new Progress(next, this.conf.learners.includes(id), this.opts.maxInflightAppends);
    pr.recentActive = id === this.id;
    return pr;
  }

  private selfProgress(): Progress | undefined {
    return this.progress.get(this.id);
  }

  /** Last index known durable on this node (the driver persisted it). */
  private stableLastIndex(): number {
    return this.log.unstableSnapshot ? this.log.unstableSnapshot.meta.index : this.log.unstableOffset - 1;
  }

  // ---------------------------------------------------------------- time

  tick(): void {
    if (this.role === "leader") {
      this.tickLeader();
      return;
    }
    this.electionElapsed++;
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

  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.conf.voters) if (this.progress.get(id)?.recentActive) active++;
    return active >= Math.floor(this.conf.voters.length / 2) + 1;
  }

  // ---------------------------------------------------------------- elections

  private campaign(kind: "pre-vote" | "election" | "transfer"): void {
    if (!this.isPromotable()) return;
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

  private inLease(): boolean {
    return (
      this.opts.checkQuorum && this.leaderId !== NONE && this.electionElapsed < this.opts.electionTimeoutTicks
    );
  }

  // ---------------------------------------------------------------- step

  step(m: Message): void {
    assert(m.to === this.id, `message for ${m.to} delivered to ${this.id}`);
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

  private handleVoteRequest(m: Extract<Message, { type: "vote" | "pre-vote" }>): void {
    const canVote =
      this.vote === m.from ||
      (this.vote === NONE && this.leaderId === NONE) ||
      (m.type === "pre-vote" && m.term > this.term);
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
        this.log.commitTo(m.commit);
        this.onCommitAdvanced();
        this.send({ type: "heartbeat-resp", to: m.from, term: this.term, readCtx: m.readCtx });
        return;
      case "snapshot":
        this.electionElapsed = 0;
        this.leaderId = m.from;
        this.handleSnapshotChunk(m);
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

  private handleAppend(m: Extract<Message, { type: "append" }>): void {
    if (m.prevIndex < this.log.committed) {
      this.sendAppendResp(m.from, this.log.committed);
      return;
    }
    const lastNew = this.log.maybeAppend(m.prevIndex, m.prevTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.trackConfEntries(m.entries);
      this.onCommitAdvanced();
      this.sendAppendResp(m.from, lastNew);
      return;
    }
    const hint = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    this.send({
      type: "append-resp",
      to: m.from,
      term: this.term,
      index: m.prevIndex,
      reject: true,
      rejectHint: hint,
      hintTerm: this.log.term(hint) ?? 0,
    });
  }

  private sendAppendResp(to: NodeId, index: number): void {
    this.send({ type: "append-resp", to, term: this.term, index, reject: false, rejectHint: 0, hintTerm: 0 });
  }

  private handleSnapshotChunk(m: Extract<Message, { type: "snapshot" }>): void {
    if (m.meta.index <= this.log.committed) {
      this.incomingSnapshot = null;
      this.sendAppendResp(m.from, this.log.committed);
      return;
    }
    let inc = this.incomingSnapshot;
    if (m.offset === 0) {
      inc = this.incomingSnapshot = { snapshot: m.meta, parts: [], size: 0 };
    } else if (
      !inc ||
      inc.snapshot.index !== m.meta.index ||
      inc.snapshot.term !== m.meta.term ||
      inc.size !== m.offset
    ) {
      const sameSnapshot = inc && inc.snapshot.index === m.meta.index && inc.snapshot.term === m.meta.term;
      this.send({
        type: "snapshot-resp",
        to: m.from,
        term: this.term,
        snapshotIndex: m.meta.index,
        nextOffset: sameSnapshot ? inc!.size : 0,
        reject: true,
      });
      return;
    }
    inc.parts.push(m.chunk);
    inc.size += m.chunk.byteLength;
    this.send({
      type: "snapshot-resp",
      to: m.from,
      term: this.term,
      snapshotIndex: m.meta.index,
      nextOffset: inc.size,
      reject: false,
    });
    if (!m.done) return;
    this.incomingSnapshot = null;
    const data = new Uint8Array(inc.size);
    let at = 0;
    for (const p of inc.parts) {
      data.set(p, at);
      at += p.byteLength;
    }
    // After a restore our log ends at the snapshot; otherwise only the commit index is known to match.
    const restored = this.restore({ meta: inc.snapshot, data });
    this.sendAppendResp(m.from, restored ? this.log.lastIndex() : this.log.committed);
  }

  /** Installs a leader's snapshot unless our log already has its last entry. */
  private restore(snap: Snapshot): boolean {
    if (snap.meta.index <= this.log.committed) return false;
    if (this.log.matchTerm(snap.meta.index, snap.meta.term)) {
      this.log.commitTo(snap.meta.index);
      this.onCommitAdvanced();
      return false;
    }
    this.log.restore(snap);
    this.conf = cloneConf(snap.meta.conf);
    this.pendingConf = [];
    return true;
  }

  // ---------------------------------------------------------------- leader

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
          // The chunk or its answer may have been lost: send the current chunk again.
          pr.snapshotChunkInFlight = false;
          this.sendSnapshotChunk(m.from, pr);
        } else if (pr.match < this.log.lastIndex()) {
          // Even with nothing new to send, an empty append makes the follower report where it stands.
          this.sendAppend(m.from, true);
        }
        if (m.readCtx !== null) this.ackRead(m.readCtx, m.from);
        return;
      case "snapshot-resp":
        if (pr.state !== "snapshot" || m.snapshotIndex !== pr.pendingSnapshot) return;
        pr.snapshotChunkInFlight = false;
        pr.snapshotOffset = m.nextOffset;
        if (pr.snapshotOffset < this.log.storage.snapshot().data.byteLength || m.reject) {
          this.sendSnapshotChunk(m.from, pr);
        }
        return;
      case "read-index":
        this.handleReadRequest(m.readCtx, m.from);
        return;
      default:
        return;
    }
  }

  private handleAppendResp(m: Extract<Message, { type: "append-resp" }>, pr: Progress): void {
    if (m.reject) {
      const probe = m.hintTerm > 0 ? this.log.findConflictByTerm(m.rejectHint, m.hintTerm) : m.rejectHint;
      if (pr.maybeDecrTo(m.index, probe)) {
        if (pr.state === "replicate") pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }
    const updated = pr.maybeUpdate(m.index);
    // A probe answered at the current match also proves where the follower stands.
    if (!updated && !(pr.state === "probe" && pr.match === m.index)) return;
    if (pr.state === "probe") pr.becomeReplicate();
    else if (pr.state === "snapshot" && pr.match >= pr.pendingSnapshot) pr.becomeReplicate();
    else if (pr.state === "replicate") pr.freeInflightsUpTo(m.index);

    if (this.maybeCommit()) this.commitChanged = true;
    while (this.sendAppend(m.from)) {
      // fill the in-flight window
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: "timeout-now", to: m.from, term: this.term });
    }
    this.maybePromote(m.from, pr);
  }

  /** Sends the next batch of entries (or a snapshot) to `to`. Returns true if entries were sent. */
  private sendAppend(to: NodeId, allowEmpty = false): boolean {
    const pr = this.progress.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      this.startSnapshot(to, pr);
      return false;
    }
    const last = this.log.lastIndex();
    const entries =
      pr.next <= last
        ? this.log.slice(
            pr.next,
            Math.min(last + 1, pr.next + this.opts.maxEntriesPerAppend),
            this.opts.maxBytesPerAppend,
          )
        : [];
    if (entries.length === 0 && !allowEmpty) return false;
    this.send({
      type: "append",
      to,
      term: this.term,
      prevIndex,
      prevTerm,
      entries,
      commit: this.log.committed,
    });
    if (entries.length > 0) pr.sentEntries(entries[entries.length - 1]!.index);
    else if (pr.state === "probe") pr.probeSent = true;
    return entries.length > 0;
  }

  /** Called by the node when it builds a Ready: sends what proposals and commit advances deferred. */
  flushBroadcasts(): void {
    const entries = this.needsBroadcast;
    const commit = this.commitChanged;
    this.needsBroadcast = false;
    this.commitChanged = false;
    if (this.role !== "leader") return;
    if (entries) this.broadcastAppend();
    if (!commit) return;
    // A follower that already has an append with the current commit index in this Ready needs no other.
    const told = new Set<NodeId>();
    for (const m of this.msgs) {
      if (m.type === "append" && m.commit === this.log.committed) told.add(m.to);
    }
    for (const id of this.progress.keys()) {
      if (id !== this.id && !told.has(id)) this.sendAppend(id, true);
    }
  }

  broadcastAppend(allowEmpty = false): void {
    for (const id of this.progress.keys()) {
      if (id !== this.id) this.sendAppend(id, allowEmpty);
    }
  }

  private broadcastHeartbeat(readCtx: string | null): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: "heartbeat", to: id, term: this.term, commit, readCtx });
    }
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    // Only to peers we heard from recently: a dead peer would pin a large transfer.
    if (!pr.recentActive) return;
    assert(this.log.unstableSnapshot === null, "a leader never holds an unpersisted snapshot");
    pr.becomeSnapshot(this.log.storage.snapshot().meta.index);
    this.sendSnapshotChunk(to, pr);
  }

  private sendSnapshotChunk(to: NodeId, pr: Progress): void {
    if (pr.snapshotChunkInFlight) return;
    const snap = this.log.storage.snapshot();
    if (snap.meta.index !== pr.pendingSnapshot) {
      // A newer snapshot was taken since the transfer began: start over with it.
      pr.becomeSnapshot(snap.meta.index);
    }
    const offset = Math.min(pr.snapshotOffset, snap.data.byteLength);
    const chunk = snap.data.subarray(offset, offset + this.opts.snapshotChunkBytes);
    const done = offset + chunk.byteLength >= snap.data.byteLength;
    this.send({ type: "snapshot", to, term: this.term, meta: snap.meta, offset, chunk, done });
    pr.snapshotChunkInFlight = true;
  }

  /** Commit by counting replicas only for entries of the current term (Raft §5.4.2, Figure 8). */
  private maybeCommit(): boolean {
    const idx = quorumIndex(this.conf.voters, (id) => this.progress.get(id)?.match ?? 0);
    if (idx <= this.log.committed || this.log.term(idx) !== this.term) return false;
    this.log.commitTo(idx);
    this.onCommitAdvanced();
    return true;
  }

  private onCommitAdvanced(): void {
    this.applyCommittedConf();
    if (this.role !== "leader") return;
    while (this.uncommitted.length > 0 && this.uncommitted[0]!.index <= this.log.committed) {
      this.uncommittedBytes -= this.uncommitted.shift()!.bytes;
    }
    if (this.readsBeforeFirstCommit.length > 0 && this.committedInCurrentTerm()) {
      const waiting = this.readsBeforeFirstCommit;
      this.readsBeforeFirstCommit = [];
      for (const r of waiting) this.handleReadRequest(r.readCtx, r.from);
    }
  }

  private committedInCurrentTerm(): boolean {
    return this.log.term(this.log.committed) === this.term;
  }

  /** Called by the node once the driver has made entries up to `index` durable. */
  onPersisted(): void {
    if (this.role !== "leader") return;
    const self = this.selfProgress();
    if (self?.maybeUpdate(this.stableLastIndex()) && this.maybeCommit()) this.commitChanged = true;
  }

  private appendEntries(items: { data: Uint8Array; conf?: ConfChange }[]): number {
    let index = this.log.lastIndex();
    const entries: Entry[] = items.map((it) => {
      index++;
      const e: Entry = { index, term: this.term, data: it.data };
      if (it.conf) e.conf = { ...it.conf };
      return e;
    });
    this.log.append(entries);
    for (const e of entries) {
      const bytes = entrySizeBytes(e);
      this.uncommitted.push({ index: e.index, bytes });
      this.uncommittedBytes += bytes;
    }
    this.trackConfEntries(entries);
    this.needsBroadcast = true;
    return index;
  }

  // ---------------------------------------------------------------- proposals

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

  private maybePromote(id: NodeId, pr: Progress): void {
    if (!pr.isLearner || !this.conf.joining.includes(id)) return;
    if (pr.match < this.log.committed || this.pendingConfIndex > this.log.committed) return;
    this.proposeConfChange({ type: "promoteLearner", nodeId: id });
  }

  // ---------------------------------------------------------------- membership

  private trackConfEntries(entries: Entry[]): void {
    if (entries.length === 0) return;
    const first = entries[0]!.index;
    // Entries at or after `first` were replaced; drop config entries that no longer exist.
    this.pendingConf = this.pendingConf.filter((e) => e.index < first || this.log.matchTerm(e.index, e.term));
    for (const e of entries) {
      if (e.conf && !this.pendingConf.some((p) => p.index === e.index)) this.pendingConf.push(e);
    }
  }

  /** Config changes take effect when committed, on every node, in log order. */
  private applyCommittedConf(): void {
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
  private handOff(): void {
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

  // ---------------------------------------------------------------- leadership transfer

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

  // ---------------------------------------------------------------- reads

  /** Starts a linearizable read. Returns false when no leader is known (the caller retries later). */
  readIndex(readCtx: string): boolean {
    if (this.role === "leader") return this.handleReadRequest(readCtx, this.id);
    if (this.leaderId === NONE) return false;
    this.send({ type: "read-index", to: this.leaderId, term: this.term, readCtx });
    return true;
  }

  private handleReadRequest(readCtx: string, from: NodeId): boolean {
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

  private ackRead(readCtx: string, from: NodeId): void {
    for (const r of this.readOnly.ack(readCtx, from, this.conf.voters)) {
      this.answerRead(r.readCtx, r.index, r.from);
    }
  }

  private answerRead(readCtx: string, index: number, from: NodeId): void {
    if (from === this.id) this.readStates.push({ index, readCtx });
    else this.send({ type: "read-index-resp", to: from, term: this.term, readCtx, index, reject: false });
  }

  // ---------------------------------------------------------------- output

  private send(m: DistributiveOmit<Message, "from">): void {
    this.msgs.push({ ...m, from: this.id } as Message);
  }
}

type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
