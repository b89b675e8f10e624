import { assert } from "../../common/assert.js";
import type { RaftOptions } from "./options.js";
import { Raft } from "./raft.js";
import type { RaftStatusView } from "./status.js";
import type { ConfChange, HardState, Message, NodeId, ProposeResult, Ready, SoftState } from "./types.js";

/**
 * The driver's handle on the core (etcd's RawNode): feed inputs, take a `Ready`, do what it says,
 * then `advance(ready)`. Only one Ready is outstanding at a time, which is what makes group commit
 * natural: everything that arrives while a Ready is being persisted goes into the next one.
 */
export class RaftNode {
  private readonly raft: Raft;
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

  /** The core's state, read-only (a live view: see RaftStatusView). */
  status(): RaftStatusView {
    return this.raft.status();
  }

  hardState(): HardState {
    return this.raft.hardState();
  }

  softState(): SoftState {
    return this.raft.softState();
  }

  hasReady(): boolean {
    if (this.outstanding) return false;
    return (
      this.raft.hasOutput() ||
      !sameHardState(this.hardState(), this.prevHardState) ||
      !sameSoftState(this.softState(), this.prevSoftState)
    );
  }

  ready(): Ready {
    assert(!this.outstanding, "ready() called again before advance()");
    const out = this.raft.takeOutput();
    const hs = this.hardState();
    const ss = this.softState();
    // Early sending needs the term to be durable already: a single voter elects itself and appends
    // in one step, and a crash before the persist must not let it lead that term again differently.
    const termDurable = hs.term === this.prevHardState.term;
    const rd: Ready = {
      softState: sameSoftState(ss, this.prevSoftState) ? null : ss,
      hardState: sameHardState(hs, this.prevHardState) ? null : hs,
      entries: out.entries,
      snapshot: out.snapshot,
      committedEntries: out.committedEntries,
      earlyMessages: termDurable ? out.msgs.filter(isEarly) : [],
      messages: termDurable ? out.msgs.filter((m) => !isEarly(m)) : out.msgs,
      readStates: out.readStates,
      canVote: out.canVote,
    };
    this.prevHardState = hs;
    this.prevSoftState = ss;
    this.outstanding = true;
    return rd;
  }

  /** The driver has persisted, sent and applied everything in `rd`. */
  advance(rd: Ready): void {
    assert(this.outstanding, "advance() without an outstanding Ready");
    this.outstanding = false;
    this.raft.advance(rd);
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
