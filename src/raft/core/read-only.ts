import { majority } from "./quorum.js";
import type { NodeId } from "./types.js";

/** A ReadIndex request the leader is confirming with a heartbeat round (etcd's ReadOnlySafe). */
interface PendingRead {
  readCtx: string;
  /** Commit index when the request arrived: the read is served once that much is applied. */
  index: number;
  /** Who asked: the leader itself or a follower that forwarded the request. */
  from: NodeId;
  acks: Set<NodeId>;
}

export interface ConfirmedRead {
  readCtx: string;
  index: number;
  from: NodeId;
}

/** Reads awaiting leadership confirmation, in arrival order; bounded by the caller. */
export class ReadOnlyQueue {
  private readonly queue: PendingRead[] = [];
  private readonly byCtx = new Map<string, PendingRead>();

  get size(): number {
    return this.queue.length;
  }

  add(readCtx: string, index: number, from: NodeId, self: NodeId): boolean {
    if (this.byCtx.has(readCtx)) return false;
    const r: PendingRead = { readCtx, index, from, acks: new Set([self]) };
    this.queue.push(r);
    this.byCtx.set(readCtx, r);
    return true;
  }

  /**
   * Records `from`'s heartbeat answer to `readCtx`. When a quorum of `voters` has answered, that read
   * and every read queued before it are confirmed (a later heartbeat round also proves the earlier).
   */
  ack(readCtx: string, from: NodeId, voters: readonly NodeId[]): ConfirmedRead[] {
    const r = this.byCtx.get(readCtx);
    if (!r) return [];
    r.acks.add(from);
    let n = 0;
    for (const id of voters) if (r.acks.has(id)) n++;
    if (n < majority(voters.length)) return [];
    const upTo = this.queue.indexOf(r);
    const done = this.queue.splice(0, upTo + 1);
    for (const d of done) this.byCtx.delete(d.readCtx);
    return done.map(({ readCtx, index, from }) => ({ readCtx, index, from }));
  }

  /** The newest pending context, to piggyback on heartbeats. */
  lastCtx(): string | null {
    return this.queue.length > 0 ? this.queue[this.queue.length - 1]!.readCtx : null;
  }

  clear(): void {
    this.queue.length = 0;
    this.byCtx.clear();
  }
}
