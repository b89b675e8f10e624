/**
 * Log replication, the leader's side and the follower's: appends and their answers, heartbeats,
 * the commit rule, back-pressure on uncommitted bytes, and sending snapshots to followers that fell
 * behind the log's start.
 */
import { assert } from "../../common/assert.js";
import type { Progress } from "./progress.js";
import { quorumIndex } from "./quorum.js";
import { RaftState } from "./raft-state.js";
import { entrySizeBytes } from "./storage.js";
import type { ConfChange, Entry, Message, NodeId } from "./types.js";

export abstract class RaftReplication extends RaftState {
  // Calls up the stack: each implemented by the layer named.
  /** membership.ts: remember config entries that arrived in the log. */
  protected abstract trackConfEntries(entries: Entry[]): void;
  /** membership.ts: config entries take effect once committed. */
  protected abstract applyCommittedConf(): void;
  /** membership.ts: a caught-up joining learner becomes a voter. */
  protected abstract maybePromote(id: NodeId, pr: Progress): void;
  /** reads.ts: reads held until this leader's first commit go ahead. */
  protected abstract handleReadRequest(readCtx: string, from: NodeId): boolean;

  protected appendEntries(items: { data: Uint8Array; conf?: ConfChange }[]): number {
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

  /**
   * Sends the next batch of entries (or a snapshot) to `to`. Returns true if an append left: one with
   * entries unless `allowEmpty`.
   */
  protected sendAppend(to: NodeId, allowEmpty = false): boolean {
    const pr = this.progress.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    // What the follower lacks is compacted (`term(0)` is 0 even then: a follower with an empty log).
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm === undefined || pr.next < this.log.firstIndex()) {
      this.startSnapshot(to, pr);
      return false;
    }
    const last = this.log.lastIndex();
    const entries = this.log.slice(
      pr.next,
      Math.min(last + 1, pr.next + this.opts.maxEntriesPerAppend),
      this.opts.maxBytesPerAppend,
    );
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
    pr.commitSent = this.log.committed;
    if (entries.length > 0) pr.sentEntries(entries[entries.length - 1]!.index);
    else if (pr.state === "probe") pr.probeSent = true;
    return true;
  }

  protected broadcastAppend(allowEmpty = false): void {
    for (const id of this.progress.keys()) this.sendAppend(id, allowEmpty);
  }

  protected broadcastHeartbeat(readCtx: string | null): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      // Never tell a follower to commit past what it is known to hold.
      const commit = Math.min(pr.match, this.log.committed);
      this.send({ type: "heartbeat", to: id, term: this.term, commit, readCtx });
    }
  }

  /**
   * Called by the node when it builds a Ready: sends the appends that proposals deferred. A commit
   * advance alone sends nothing: the followers learn it from the next append or heartbeat (each
   * carries the commit index), at most one heartbeat interval later. An empty append per follower per
   * commit doubled the messages of a lone write (append, answer, commit notice, answer) and the
   * wake-ups of every process on a machine that runs the replicas side by side, for news that no
   * answer to a client waits on: the leader alone answers writes and linearizable reads.
   */
  flushBroadcasts(): void {
    // Only a leader's proposals set the flag, and on other roles the progress map is empty.
    if (this.needsBroadcast) this.broadcastAppend();
    this.needsBroadcast = false;
  }

  protected handleAppend(m: Extract<Message, { type: "append" }>): void {
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

  protected sendAppendResp(to: NodeId, index: number): void {
    this.send({ type: "append-resp", to, term: this.term, index, reject: false, rejectHint: 0, hintTerm: 0 });
  }

  protected handleAppendResp(m: Extract<Message, { type: "append-resp" }>, pr: Progress): void {
    if (m.reject) {
      // A hint of 0 comes with hint term 0, and the conflict search then answers 0 too.
      const probe = this.log.findConflictByTerm(m.rejectHint, m.hintTerm);
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
    else pr.freeInflightsUpTo(m.index); // none are in flight in snapshot state

    this.maybeCommit();
    while (this.sendAppend(m.from)) {
      // fill the in-flight window
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: "timeout-now", to: m.from, term: this.term });
    }
    this.maybePromote(m.from, pr);
  }

  /** Commit by counting replicas only for entries of the current term (Raft §5.4.2, Figure 8). */
  protected maybeCommit(): boolean {
    const idx = quorumIndex(this.conf.voters, (id) => this.progress.get(id)!.match);
    if (idx <= this.log.committed || this.log.term(idx) !== this.term) return false;
    this.log.commitTo(idx);
    this.onCommitAdvanced();
    return true;
  }

  /** On every role: a follower's bookkeeping below is empty, since `reset` clears it on stepping down. */
  protected onCommitAdvanced(): void {
    this.applyCommittedConf();
    while (this.uncommitted.length > 0 && this.uncommitted[0]!.index <= this.log.committed) {
      this.uncommittedBytes -= this.uncommitted.shift()!.bytes;
    }
    // A leader commits entries of its own term only (Figure 8): the reads held for its first commit go.
    if (this.readsBeforeFirstCommit.length > 0) {
      const waiting = this.readsBeforeFirstCommit;
      this.readsBeforeFirstCommit = [];
      for (const r of waiting) this.handleReadRequest(r.readCtx, r.from);
    }
  }

  /** Called by the node once the driver has made entries up to `index` durable. */
  onPersisted(): void {
    // Only a leader has progress, its own included (unless it has just committed its removal).
    if (this.selfProgress()?.maybeUpdate(this.stableLastIndex())) this.maybeCommit();
  }

  private startSnapshot(to: NodeId, pr: Progress): void {
    // Only to peers we heard from recently: a dead peer would pin a large transfer.
    if (!pr.recentActive) return;
    assert(this.log.unstableSnapshot === null, "a leader never holds an unpersisted snapshot");
    pr.becomeSnapshot(this.log.storage.snapshot().meta.index);
    this.requestSnapshot(to);
  }

  /**
   * Asks the shell to stream a snapshot to `to` (again on every heartbeat answer while the follower
   * waits: the shell ignores the ask while a stream to `to` is running, and starts a new one after a
   * stream broke). The follower's append answer at or past `pendingSnapshot` ends the wait.
   */
  protected requestSnapshot(to: NodeId): void {
    this.send({ type: "snapshot", to, term: this.term, meta: this.log.storage.snapshot().meta });
  }
}
