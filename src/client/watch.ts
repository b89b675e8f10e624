/**
 * The change feed (`GET /v1/watch`), long-polled: a public async iterator of changes, and the
 * background follower that keeps the watch-mode metadata cache fresh.
 */

import { backoffMs, sleep } from "../common/backoff.js";
import { isDfsError } from "../common/errors.js";
import { META_ROUTES, type WatchResponse, type WireChange } from "../common/protocol/index.js";
import type { MetaCache } from "./meta-cache.js";
import type { MetaConnection } from "./meta-connection.js";

export type WatchEvent =
  | { type: "change"; change: WireChange }
  /** The feed lost track (our position fell out of its window): whatever you derived, rebuild it. */
  | { type: "reset"; index: number };

export interface WatchOptions {
  /** Start after this Raft index (default: now, i.e. only future changes). */
  after?: number;
  /** Only changes at or below this path (a rename counts if either side is). */
  prefix?: string;
  /** Long-poll length of each request. */
  pollMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_POLL_MS = 25_000;

async function poll(
  meta: MetaConnection,
  after: number,
  pollMs: number,
  signal: AbortSignal | undefined,
  confirm = false,
): Promise<WatchResponse> {
  return meta.call<WatchResponse>({
    method: "GET",
    path: META_ROUTES.watch,
    query: { after, timeoutMs: pollMs, ...(confirm ? { confirm: "true" } : {}) },
    // The server holds the request for pollMs: the attempt (and the call) must outlast it.
    requestTimeoutMs: pollMs + 5000,
    deadlineMs: pollMs + 15_000,
    ...(signal ? { signal } : {}),
  });
}

/**
 * A pause after an answer without news. A long poll normally comes back empty only after holding
 * for `pollMs`, so this costs nothing; a feed that answers at once (its waiter table is full, say)
 * must not turn us into a busy loop.
 */
function idlePauseMs(emptyInARow: number): number {
  return emptyInARow === 0 ? 0 : Math.min(1000, 25 * 2 ** Math.min(emptyInARow, 6));
}

/** The feed's current position: where "from now on" starts. */
export async function feedPosition(meta: MetaConnection, signal?: AbortSignal): Promise<number> {
  return (await poll(meta, 0, 0, signal)).index;
}

function matches(prefix: string | undefined, c: WireChange): boolean {
  if (prefix === undefined || prefix === "/") return true;
  const under = (p: string) => p === prefix || p.startsWith(`${prefix}/`);
  return under(c.path) || (c.to !== undefined && under(c.to));
}

/** Yields changes until the consumer stops (break/return) or the signal aborts. */
export async function* watchChanges(
  meta: MetaConnection,
  opts: WatchOptions = {},
): AsyncGenerator<WatchEvent> {
  const pollMs = opts.pollMs ?? DEFAULT_POLL_MS;
  let after = opts.after ?? (await feedPosition(meta, opts.signal));
  for (let empty = 0; ; ) {
    await sleep(idlePauseMs(empty), opts.signal);
    const r = await poll(meta, after, pollMs, opts.signal);
    empty = r.reset || r.changes.length > 0 ? 0 : empty + 1;
    if (r.reset) yield { type: "reset", index: r.index };
    for (const change of r.changes) if (matches(opts.prefix, change)) yield { type: "change", change };
    after = Math.max(after, r.index);
  }
}

/**
 * Follows the feed for the metadata cache until stopped, asking for quorum-confirmed answers often
 * enough (every half of `maxStalenessMs` while nothing changes) that the cache stays provably fresh.
 * A failure suspends the cache (it serves nothing) until the feed answers again; resuming from the old
 * position replays what was missed, or resets everything if the feed no longer holds it.
 */
export async function followFeed(
  meta: MetaConnection,
  cache: MetaCache,
  signal: AbortSignal,
  maxStalenessMs: number,
): Promise<void> {
  const pollMs = Math.max(10, Math.floor(maxStalenessMs / 2));
  let after: number | null = null;
  // Answers in a row that came back early with no news: only a feed that does not hold (its waiter
  // table is full, say) does that, and only then is a pause due. An empty answer that held for the whole
  // poll is the normal idle case: pausing after it would let the proof of freshness age past the bound.
  for (let failures = 0, earlyEmpty = 0; !signal.aborted; ) {
    try {
      if (after === null) {
        const sentAt = performance.now();
        const first = await poll(meta, 0, 0, signal, true);
        after = first.index;
        cache.apply({ ...first, changes: [], reset: true }, sentAt);
      }
      await sleep(idlePauseMs(earlyEmpty), signal);
      const sentAt = performance.now();
      const r = await poll(meta, after, pollMs, signal, true);
      cache.apply(r, sentAt);
      const early = !r.reset && r.changes.length === 0 && performance.now() - sentAt < pollMs;
      earlyEmpty = early ? earlyEmpty + 1 : 0;
      after = Math.max(after, r.index);
      failures = 0;
    } catch (err) {
      if (signal.aborted) return;
      if (!isDfsError(err)) throw err;
      cache.suspend();
      await sleep(backoffMs(failures++, { baseMs: 100, maxMs: 5000 }), signal).catch(() => undefined);
    }
  }
}
