/**
 * The change feed behind `GET /v1/watch`: the changes of the last applied entries, kept in a bounded
 * ring, and long-poll waiters woken when new changes arrive. A client whose position has fallen out
 * of the ring gets `reset` and must drop its cached metadata.
 */
import type { WatchResponse, WireChange } from "../common/protocol/index.js";

interface Waiter {
  after: number;
  resolve: (r: WatchResponse) => void;
  timer: NodeJS.Timeout;
}

export class WatchFeed {
  private readonly changes: WireChange[] = [];
  /** Every change at or below this index has been dropped from the ring. */
  private droppedUpTo = 0;
  private lastIndex = 0;
  private readonly waiters = new Set<Waiter>();

  constructor(private readonly opts: { maxChanges: number; maxWaiters: number }) {}

  /** The state machine applied entry `index`, which made these changes (possibly none). */
  publish(index: number, changes: readonly WireChange[]): void {
    this.lastIndex = Math.max(this.lastIndex, index);
    if (changes.length === 0) return;
    this.changes.push(...changes);
    // Trim in bulk (down to three quarters of the bound), not one change per entry: a splice at the
    // front of a full ring on every apply would cost O(bound) each time.
    if (this.changes.length > this.opts.maxChanges) {
      const excess = this.changes.length - Math.floor((this.opts.maxChanges * 3) / 4);
      const dropped = this.changes.splice(0, excess);
      this.droppedUpTo = Math.max(this.droppedUpTo, dropped[dropped.length - 1]!.index);
    }
    for (const w of this.waiters) {
      const r = this.collect(w.after);
      if (r.changes.length > 0 || r.reset) this.finish(w, r);
    }
  }

  /** A restore from a snapshot: what changed before it is unknown, so everyone starts over. */
  resetTo(index: number): void {
    this.changes.length = 0;
    this.droppedUpTo = index;
    this.lastIndex = Math.max(this.lastIndex, index);
    for (const w of this.waiters) this.finish(w, this.collect(w.after));
  }

  private collect(after: number): WatchResponse {
    if (after < this.droppedUpTo) return { index: this.lastIndex, changes: [], reset: true };
    const changes = this.changes.filter((c) => c.index > after);
    return { index: Math.max(after, this.lastIndex), changes, reset: false };
  }

  /** Answers at once if something changed after `after`, else waits up to `timeoutMs`. */
  wait(after: number, timeoutMs: number): Promise<WatchResponse> {
    const now = this.collect(after);
    if (now.changes.length > 0 || now.reset || timeoutMs <= 0 || this.waiters.size >= this.opts.maxWaiters) {
      return Promise.resolve(now);
    }
    return new Promise((resolve) => {
      const w: Waiter = {
        after,
        resolve,
        timer: setTimeout(() => this.finish(w, this.collect(after)), timeoutMs),
      };
      this.waiters.add(w);
    });
  }

  private finish(w: Waiter, r: WatchResponse): void {
    if (!this.waiters.delete(w)) return;
    clearTimeout(w.timer);
    w.resolve(r);
  }

  /** Wakes every waiter (on shutdown). */
  close(): void {
    for (const w of this.waiters) this.finish(w, this.collect(w.after));
  }
}
