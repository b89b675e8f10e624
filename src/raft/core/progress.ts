import { assert } from "../../common/assert.js";

/**
 * The leader's view of one follower (etcd's Progress): `probe` sends one append at a time until the
 * follower's match is found; `replicate` streams optimistically within a bounded window of in-flight
 * appends; `snapshot` waits while a snapshot is being sent.
 */
export type ProgressState = "probe" | "replicate" | "snapshot";

export class Progress {
  state: ProgressState = "probe";
  /** Highest index known to be in the follower's log; only ever grows within a term. */
  match = 0;
  next: number;
  /** In probe state: an append is outstanding, wait for its answer or the next heartbeat. */
  probeSent = false;
  /** The commit index the last append to this follower carried (heartbeats carry at most `match`). */
  commitSent = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = false;
  /** Index of the leader's snapshot when the follower was found to need one (it may get a newer one). */
  pendingSnapshot = 0;
  /** Last indexes of in-flight appends, oldest first (bounded). */
  readonly inflights: number[] = [];

  constructor(
    next: number,
    readonly isLearner: boolean,
    private readonly maxInflight: number,
  ) {
    this.next = next;
  }

  becomeProbe(): void {
    // After a snapshot the follower has at least the snapshot; probe from there.
    if (this.state === "snapshot") {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1);
    } else {
      this.next = this.match + 1;
    }
    this.resetState("probe");
  }

  becomeReplicate(): void {
    this.resetState("replicate");
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState("snapshot");
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.inflights.length = 0;
  }

  /** An accepted append up to `n`. Returns false for a stale (older) acknowledgement. */
  maybeUpdate(n: number): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, n + 1);
    return updated;
  }

  /** Optimistic advance after sending entries up to `last` in replicate state. */
  sentEntries(last: number): void {
    if (this.state === "replicate") {
      this.next = last + 1;
      assert(this.inflights.length < this.maxInflight, "in-flight window overflow");
      this.inflights.push(last);
    } else if (this.state === "probe") {
      this.probeSent = true;
    }
  }

  freeInflightsUpTo(index: number): void {
    let n = 0;
    while (n < this.inflights.length && this.inflights[n]! <= index) n++;
    this.inflights.splice(0, n);
  }

  /**
   * A rejected append at `rejected`; `hint` is the follower's guess of its last possibly matching index.
   * Returns false when the rejection is stale (it answers an append we already moved past).
   */
  maybeDecrTo(rejected: number, hint: number): boolean {
    if (this.state === "replicate") {
      if (rejected <= this.match) return false;
      this.next = Math.max(this.match + 1, Math.min(rejected, hint + 1));
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, hint + 1), this.match + 1, 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case "probe":
        return this.probeSent;
      case "replicate":
        return this.inflights.length >= this.maxInflight;
      case "snapshot":
        return true;
    }
  }
}
