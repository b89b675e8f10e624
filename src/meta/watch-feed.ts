/**
 * The change feed behind `GET /v1/watch`: the changes of the last applied entries, kept in a bounded
 * ring, and long-poll waiters woken when new changes arrive. A client whose position has fallen out
 * of the ring gets `reset` and must drop its cached metadata.
 *
 * Publishing runs inside apply on every replica, so its cost must not grow with ring × waiters.
 * A waiter is registered only when nothing in the ring is newer than its position, and every entry
 * with changes wakes all waiters at or behind it; so whoever wakes needs exactly the entry's own
 * changes, and they all share one answer, built once. Waiters whose position is ahead of this
 * replica (they read it from a replica further along) wait apart, by position, until it is reached.
 */
import { assert } from "../common/assert.js";
import { DfsError } from "../common/errors.js";
import type { WatchResponse, WireChange } from "../common/protocol/index.js";

export interface WatchFeedOptions {
  /** Changes kept for clients that come back (trimmed to three quarters when exceeded). */
  maxChanges: number;
  /** Long-polls held at once, all clients together. */
  maxWaiters: number;
  /** Long-polls held at once for one client (a token's name, or a remote address). */
  maxWaitersPerClient: number;
  /** How far `after` may be beyond the last applied index before it is refused as a bad request. */
  afterSlackEntries: number;
}

export interface WatchRequest {
  after: number;
  timeoutMs: number;
  /** Who asks: the bound per client counts by this. */
  client: string;
  /** Aborted when the client goes away: its waiter is dropped at once. */
  signal?: AbortSignal;
}

interface Waiter {
  /** max(after, last index at registration): nothing in the ring is newer than this. */
  position: number;
  client: string;
  resolve: (r: WatchResponse) => void;
  timer: NodeJS.Timeout;
  /** The set that holds it (`behind`, or its group in `ahead`), so removal is O(1). */
  home: Set<Waiter>;
  unlisten: () => void;
  done: boolean;
}

export class WatchFeed {
  private readonly changes: WireChange[] = [];
  /** Every change at or below this index has been dropped from the ring. */
  private droppedUpTo = 0;
  private lastIndex = 0;
  /** Waiters at or behind `lastIndex`: the next entry with changes wakes all of them. */
  private behind = new Set<Waiter>();
  /** Waiters ahead of `lastIndex`, by position. */
  private readonly ahead = new Map<number, Set<Waiter>>();
  private readonly perClient = new Map<string, number>();
  private waiting = 0;
  private refused = 0;

  constructor(private readonly opts: WatchFeedOptions) {
    for (const [k, v] of Object.entries(opts))
      assert(Number.isSafeInteger(v) && v >= 0, `WatchFeed option ${k} ≥ 0`);
  }

  /** Long-polls held now. */
  get waiterCount(): number {
    return this.waiting;
  }

  /** Long-polls refused so far because a bound was reached. */
  get refusedCount(): number {
    return this.refused;
  }

  /** Clients holding at least one long-poll now. */
  get clientCount(): number {
    return this.perClient.size;
  }

  /** The state machine applied entry `index`, which made these changes (possibly none). */
  publish(index: number, changes: readonly WireChange[]): void {
    const previous = this.lastIndex;
    this.lastIndex = Math.max(this.lastIndex, index);
    // Waiters ahead at positions this entry passes (below it) see it; one at its very index does not.
    this.promoteAhead(previous, index - 1);
    if (changes.length > 0) this.take(index, changes);
    this.promoteAhead(Math.max(previous, index - 1), this.lastIndex);
  }

  private take(index: number, changes: readonly WireChange[]): void {
    this.changes.push(...changes);
    // Trim in bulk (down to three quarters of the bound), not one change per entry: a splice at the
    // front of a full ring on every apply would cost O(bound) each time.
    if (this.changes.length > this.opts.maxChanges) {
      const excess = this.changes.length - Math.floor((this.opts.maxChanges * 3) / 4);
      const dropped = this.changes.splice(0, excess);
      this.droppedUpTo = Math.max(this.droppedUpTo, dropped[dropped.length - 1]!.index);
    }
    if (this.behind.size === 0) return;
    // Everyone behind saw nothing newer than its position, so what it missed is this entry alone
    // (or, if the entry itself did not fit in the ring, it must start over).
    const answer: WatchResponse =
      this.droppedUpTo >= index
        ? { index: this.lastIndex, changes: [], reset: true }
        : { index: this.lastIndex, changes: [...changes], reset: false };
    const woken = this.behind;
    this.behind = new Set();
    for (const w of woken) this.finish(w, answer);
  }

  /** Moves the waiters at positions in (from, to] from `ahead` to `behind`. */
  private promoteAhead(from: number, to: number): void {
    if (this.ahead.size === 0 || to <= from) return;
    // Look up the positions passed over, or scan the groups, whichever is fewer.
    const keys =
      to - from <= this.ahead.size
        ? Array.from({ length: to - from }, (_, i) => from + 1 + i)
        : [...this.ahead.keys()].filter((k) => k > from && k <= to);
    for (const k of keys) {
      const group = this.ahead.get(k);
      if (group === undefined) continue;
      this.ahead.delete(k);
      for (const w of group) {
        w.home = this.behind;
        this.behind.add(w);
      }
    }
  }

  /** A restore from a snapshot: what changed before it is unknown, so everyone starts over. */
  resetTo(index: number): void {
    this.changes.length = 0;
    this.droppedUpTo = index;
    this.lastIndex = Math.max(this.lastIndex, index);
    this.wakeAll();
  }

  /** Changes after `after` from the ring: a binary search, since the ring is in index order. */
  private collect(after: number): WatchResponse {
    if (after < this.droppedUpTo) return { index: this.lastIndex, changes: [], reset: true };
    let lo = 0;
    let hi = this.changes.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.changes[mid]!.index > after) hi = mid;
      else lo = mid + 1;
    }
    return { index: Math.max(after, this.lastIndex), changes: this.changes.slice(lo), reset: false };
  }

  /**
   * Answers at once if something changed after `after`, else waits up to `timeoutMs`. Refuses an
   * `after` that is not an index this log could reach soon (BAD_REQUEST), and a wait beyond the
   * bounds (TOO_MANY_WATCHERS).
   */
  wait(req: WatchRequest): Promise<WatchResponse> {
    const { after, timeoutMs, client, signal } = req;
    const limit = this.lastIndex + this.opts.afterSlackEntries;
    if (!Number.isSafeInteger(after) || after < 0 || after > limit) {
      return Promise.reject(
        new DfsError(
          "BAD_REQUEST",
          `\`after\` must be an integer within 0..${limit} (this replica has applied up to ${this.lastIndex})`,
          { after, appliedIndex: this.lastIndex, afterSlackEntries: this.opts.afterSlackEntries },
        ),
      );
    }
    const now = this.collect(after);
    if (now.changes.length > 0 || now.reset || timeoutMs <= 0 || signal?.aborted) {
      return Promise.resolve(now);
    }
    const mine = this.perClient.get(client) ?? 0;
    if (mine >= this.opts.maxWaitersPerClient || this.waiting >= this.opts.maxWaiters) {
      const perClient = mine >= this.opts.maxWaitersPerClient;
      const max = perClient ? this.opts.maxWaitersPerClient : this.opts.maxWaiters;
      this.refused++;
      return Promise.reject(
        new DfsError(
          "TOO_MANY_WATCHERS",
          perClient
            ? `client ${client} already holds ${mine} watch long-polls, the most one client may (${max})`
            : `this replica already holds ${this.waiting} watch long-polls, the most it may (${max})`,
          { scope: perClient ? "client" : "replica", limit: max },
        ),
      );
    }
    return new Promise((resolve) => {
      const position = Math.max(after, this.lastIndex);
      let home = this.behind;
      if (position > this.lastIndex) {
        home = this.ahead.get(position) ?? new Set();
        this.ahead.set(position, home);
      }
      const w: Waiter = {
        position,
        client,
        resolve,
        home,
        timer: setTimeout(() => this.finish(w, this.idle(w)), timeoutMs),
        unlisten: () => undefined,
        done: false,
      };
      if (signal) {
        const onAbort = () => this.finish(w, this.idle(w));
        signal.addEventListener("abort", onAbort, { once: true });
        w.unlisten = () => signal.removeEventListener("abort", onAbort);
      }
      home.add(w);
      this.perClient.set(client, mine + 1);
      this.waiting++;
    });
  }

  /** The answer for a waiter that saw nothing (by construction, nothing newer is in the ring). */
  private idle(w: Waiter): WatchResponse {
    return { index: Math.max(w.position, this.lastIndex), changes: [], reset: w.position < this.droppedUpTo };
  }

  private finish(w: Waiter, r: WatchResponse): void {
    if (w.done) return;
    w.done = true;
    // A woken group has already left the index; a timed-out or aborted waiter leaves it here.
    w.home.delete(w);
    if (w.home.size === 0 && this.ahead.get(w.position) === w.home) this.ahead.delete(w.position);
    clearTimeout(w.timer);
    w.unlisten();
    const left = (this.perClient.get(w.client) ?? 1) - 1;
    if (left === 0) this.perClient.delete(w.client);
    else this.perClient.set(w.client, left);
    this.waiting--;
    w.resolve(r);
  }

  private wakeAll(): void {
    const all = [...this.behind, ...[...this.ahead.values()].flatMap((g) => [...g])];
    this.behind = new Set();
    this.ahead.clear();
    for (const w of all) this.finish(w, this.idle(w));
  }

  /** Wakes every waiter (on shutdown). */
  close(): void {
    this.wakeAll();
  }
}
