import { assert } from "../../common/assert.js";
import type { RaftOptions } from "./options.js";
import { Raft } from "./raft.js";
import type { ConfChange, HardState, Message, NodeId, ProposeResult, Ready, SoftState } from "./types.js";

/**
 * The driver's handle on the core (etcd's RawNode): feed inputs, take a `Ready`, do what it says,
 * then `advance(ready)`. Only one Ready is outstanding at a time, which is what makes group commit
 * natural: everything that arrives while a Ready is being persisted goes into the next one.
 */
export class RaftNode {
  readonly raft: Raft;
  private prevHardState: HardState;
  private prevSoftState: SoftState;
  private outstanding = false;

  constructor(opts: RaftOptions) {
    this.raft = new Raft(opts);
    this.prevHardState = this.hardState();
    this.prevSoftState = this.softState();
  }

  get id(): NodeId {
    return this.raft.id;
  }

  tick(): void {
    this.raft.tick();
  }

  step(m: Parameters<Raft["step"]>[0]): void {
    this.raft.step(m);
  }

  propose(data: Uint8Array | Uint8Array[]): ProposeResult {
    return this.raft.propose(Array.isArray(data) ? data : [data]);
  }

  proposeConfChange(cc: ConfChange): ProposeResult {
    return this.raft.proposeConfChange(cc);
  }

  readIndex(readCtx: string): boolean {
    return this.raft.readIndex(readCtx);
  }

  transferLeadership(to: NodeId): boolean {
    return this.raft.transferLeadership(to);
  }

  hardState(): HardState {
    return { term: this.raft.term, vote: this.raft.vote, commit: this.raft.log.committed };
  }

  softState(): SoftState {
    return { leaderId: this.raft.leaderId, role: this.raft.role };
  }

  hasReady(): boolean {
    const r = this.raft;
    if (this.outstanding) return false;
    return (
      r.needsBroadcast ||
      r.commitChanged ||
      r.msgs.length > 0 ||
      r.readStates.length > 0 ||
      r.log.unstable.length > 0 ||
      r.log.unstableSnapshot !== null ||
      r.log.hasNextCommittedEntries() ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  ready(): Ready {
    assert(!this.outstanding, "ready() called again before advance()");
    const r = this.raft;
    r.flushBroadcasts();
    const hs = this.hardState();
    const ss = this.softState();
    // Early sending needs the term to be durable already: a single voter elects itself and appends
    // in one step, and a crash before the persist must not let it lead that term again differently.
    const termDurable = hs.term === this.prevHardState.term;
    const early = termDurable ? r.msgs.filter(isEarly) : [];
    const rd: Ready = {
      softState: sameSoftState(ss, this.prevSoftState) ? null : ss,
      hardState: sameHardState(hs, this.prevHardState) ? null : hs,
      entries: r.log.unstable.slice(),
      snapshot: r.log.unstableSnapshot,
      committedEntries: r.log.nextCommittedEntries(),
      earlyMessages: early,
      messages: termDurable ? r.msgs.filter((m) => !isEarly(m)) : r.msgs,
      readStates: r.readStates,
    };
    r.msgs = [];
    r.readStates = [];
    this.prevHardState = hs;
    this.prevSoftState = ss;
    this.outstanding = true;
    return rd;
  }

  /** The driver has persisted, sent and applied everything in `rd`. */
  advance(rd: Ready): void {
    assert(this.outstanding, "advance() without an outstanding Ready");
    this.outstanding = false;
    const log = this.raft.log;
    if (rd.snapshot) {
      log.stableSnapshotTo(rd.snapshot.meta.index);
      log.applied = Math.max(log.applied, rd.snapshot.meta.index);
    }
    const last = rd.entries[rd.entries.length - 1];
    if (last) log.stableTo(last.index, last.term);
    const lastApplied = rd.committedEntries[rd.committedEntries.length - 1];
    if (lastApplied) log.appliedTo(lastApplied.index);
    if (last || rd.snapshot) this.raft.onPersisted();
  }
}

/** Leader appends and heartbeats may leave before the persist (see Ready.earlyMessages). */
function isEarly(m: Message): boolean {
  return m.type === "append" || m.type === "heartbeat";
}

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

function sameSoftState(a: SoftState, b: SoftState): boolean {
  return a.leaderId === b.leaderId && a.role === b.role;
}
