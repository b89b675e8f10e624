import { assert } from "../../common/assert.js";
import type { Message, NodeId } from "./types.js";

/**
 * What a replica that lost its store (or never finished recovering from losing it) has learned so far.
 *
 * Such a replica starts at term 0 with no vote, but it may have voted before it lost its disk: voting
 * again in one of those terms could elect two leaders in one term, and its empty log could elect a
 * leader that lacks entries it had helped commit. So it grants no vote and stands for no election
 * until (1) every voter of the configuration it knows has answered a term probe carrying this
 * incarnation's nonce (asked again every election timeout) — the highest
 * answer is the `floor`, at least any term in which it can have voted, since the candidate it voted
 * for held that term durably and terms never go down — and (2) unless the floor is 0 (no election
 * ever happened, so nothing was ever committed: a brand-new cluster), it has caught up with a leader
 * of a term at or above the floor up to a commit index of that leader's term, so its log again holds
 * every entry committed before the loss. The replica takes the floor as its term and spends its vote
 * there, so it never votes in a term at or below it.
 *
 * Between (1) and (2) it may vote already, in terms above the floor, but only for a candidate whose
 * log is at least as up-to-date as the most up-to-date log any voter reported: every entry committed
 * before the loss sat then in some reported log, and Raft's election restriction carries it to such a
 * candidate, exactly as if the voter holding it had cast this vote. (Without this, a cluster whose
 * quorum needs the replica — two voters — could never elect again.)
 *
 * Until the floor is known it also answers no append or snapshot: a leader whose term is below one
 * this replica voted or acknowledged in before the loss would otherwise count its ack and commit over
 * an entry committed since. It does answer heartbeats, so that a live leader keeps check-quorum while
 * a voter that must answer the probe is down (without them no one could be elected), but that answer
 * leaves out the read context: it counts for the leader's contact, never to confirm a ReadIndex, which
 * a deposed leader would otherwise serve stale with this replica's answer.
 *
 * The nonce keeps answers to an earlier incarnation's probes (still in flight) from counting. A probe
 * also tells a leader that this replica's log ends at `lastLogIndex`: a leader counting more of it
 * (acknowledged before the loss) starts over; until (2) the replica keeps probing its leader for that.
 * An empty store cannot tell a lost disk from a brand-new cluster, so every empty store recovers;
 * a brand-new cluster gets through it in one round trip, once every voter has started.
 */
export class Recovery {
  private readonly heard = new Map<NodeId, number>();
  /** The most up-to-date log end reported so far. */
  private bestLog = { index: 0, term: 0 };
  /** Fixed once every voter has answered; null until then. */
  floor: number | null = null;
  /** Ticks since the last probes, on a clock of its own (a leader's heartbeats reset the election clock). */
  ticksSinceProbe = 0;
  /**
   * The highest term whose leader has caught this replica up (its commit index in that term's
   * entries). Kept even before the floor is known: the leader may be gone by the time it is.
   */
  caughtUpTerm = 0;

  constructor(readonly nonce: number) {}

  hear(m: Extract<Message, { type: "term-probe-resp" }>): void {
    if (m.nonce !== this.nonce || this.floor !== null) return;
    this.heard.set(m.from, Math.max(m.term, this.heard.get(m.from) ?? 0));
    const best = this.bestLog;
    if (m.lastLogTerm > best.term || (m.lastLogTerm === best.term && m.lastLogIndex > best.index)) {
      this.bestLog = { index: m.lastLogIndex, term: m.lastLogTerm };
    }
  }

  /** Once the floor is fixed: may a candidate with this log end have our vote (above the floor)? */
  mayVoteFor(lastLogIndex: number, lastLogTerm: number): boolean {
    if (this.floor === null) return false;
    const best = this.bestLog;
    return lastLogTerm > best.term || (lastLogTerm === best.term && lastLogIndex >= best.index);
  }

  /** The voters still to answer (never `self`). */
  missing(voters: readonly NodeId[], self: NodeId): NodeId[] {
    return voters.filter((id) => id !== self && !this.heard.has(id));
  }

  /** Fixes the floor: the highest term any voter reported. */
  fixFloor(): number {
    assert(this.floor === null, "the recovery floor is fixed once");
    let floor = 0;
    for (const t of this.heard.values()) floor = Math.max(floor, t);
    this.floor = floor;
    return floor;
  }
}
