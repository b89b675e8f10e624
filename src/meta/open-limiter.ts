/**
 * Rate limit on opening sessions, per client (token name, or remote address when no tokens are
 * configured): a token bucket each, in a table of bounded size. Without it one client could open
 * sessions until the state machine's table is full of its live ones, and every other client's open is
 * refused (the table never evicts a live session).
 *
 * The table forgets the least recently seen client when full: at worst that client gets a fresh
 * bucket, i.e. a few more opens, never fewer, so the bound cannot be used to lock anyone out.
 */
import { DfsError } from "../common/errors.js";

export interface OpenLimiterOptions {
  /** Opens a client may make at once. */
  burst: number;
  /** Steady rate at which its allowance refills. */
  perSecond: number;
  /** Clients remembered at once. */
  maxClients: number;
}

/**
 * A client process opens one session; 100 at once and 10 a second after that is beyond what one user's
 * scripts need (the client library waits out a refusal). This slows a flood; the cap on what a client
 * may hold is the state machine's (`maxSessionsPerClient` live sessions per token name or address).
 */
export const DEFAULT_OPEN_LIMITS: OpenLimiterOptions = { burst: 100, perSecond: 10, maxClients: 10_000 };

interface Bucket {
  tokens: number;
  atMs: number;
}

export class OpenLimiter {
  /** Insertion order is recency: a take moves its client to the end. */
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly opts: OpenLimiterOptions,
    private readonly now: () => number,
  ) {}

  get clientCount(): number {
    return this.buckets.size;
  }

  /** Takes one open from `client`'s allowance, or throws RATE_LIMITED (with `retryAfterMs`). */
  take(client: string): void {
    const nowMs = this.now();
    const b = this.buckets.get(client) ?? { tokens: this.opts.burst, atMs: nowMs };
    this.buckets.delete(client);
    const refilled = ((nowMs - b.atMs) / 1000) * this.opts.perSecond;
    b.tokens = Math.min(this.opts.burst, b.tokens + Math.max(0, refilled));
    b.atMs = nowMs;
    this.buckets.set(client, b);
    if (this.buckets.size > this.opts.maxClients) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
    if (b.tokens < 1) {
      const retryAfterMs = Math.ceil(((1 - b.tokens) / this.opts.perSecond) * 1000);
      throw new DfsError(
        "RATE_LIMITED",
        `too many sessions opened by ${client}: at most ${this.opts.burst} at once, then ${this.opts.perSecond}/s`,
        { retryAfterMs },
      );
    }
    b.tokens -= 1;
  }
}
