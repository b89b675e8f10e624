import type { ProgressState } from "./progress.js";
import type { Entry, NodeId, Role } from "./types.js";

/** What the outside may know of the leader's bookkeeping for one follower. */
export interface ProgressView {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly recentActive: boolean;
  readonly isLearner: boolean;
}

/**
 * The core's state as the outside reads it (`RaftNode.status()`): the driver's status page and
 * leader tracking, the simulator's invariant checks. Read-only, so nothing outside the core can
 * change its state except through its inputs. It is a live window, not a copy: read it after the
 * step whose effect you want to see.
 */
export interface RaftStatusView {
  readonly id: NodeId;
  readonly role: Role;
  readonly term: number;
  readonly vote: NodeId;
  /** `NONE` when no leader is known. */
  readonly leaderId: NodeId;
  readonly commitIndex: number;
  /** Highest index handed out to be applied (the driver acknowledged it in `advance`). */
  readonly appliedIndex: number;
  readonly firstIndex: number;
  readonly lastIndex: number;
  readonly lastTerm: number;
  /** The configuration in effect (committed config entries only). */
  readonly conf: {
    readonly voters: readonly NodeId[];
    readonly learners: readonly NodeId[];
    readonly joining: readonly NodeId[];
  };
  /** Recovering from a lost store (recovery.ts): it grants no vote and stands for no election yet. */
  readonly recovering: boolean;
  /** The leader's view of every member, itself included; empty on other roles. */
  readonly progress: ReadonlyMap<NodeId, ProgressView>;
  /** The term of the entry at `index`, or undefined when it is compacted away or beyond the log. */
  termAt(index: number): number | undefined;
  /** Entries in [from, to), which must lie within [firstIndex, lastIndex + 1]. */
  entries(from: number, to: number): readonly Entry[];
}
