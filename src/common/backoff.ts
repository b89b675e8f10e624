/**
 * Retry pacing: capped exponential backoff with jitter, and a per-call deadline. Jitter keeps many
 * clients that lost the same leader from retrying in lockstep; the cap keeps a long outage from
 * stretching the wait between tries past what a user would tolerate.
 */
import { setTimeout as sleepTimer } from "node:timers/promises";

export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 25, maxMs: 1000 };

/**
 * The pause before retry number `attempt` (0-based): "equal jitter", uniform in [ceiling/2, ceiling]
 * with ceiling = min(maxMs, baseMs·2^attempt). Half of it is fixed so a retry never comes at once.
 */
export function backoffMs(
  attempt: number,
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): number {
  const exponent = Math.min(Math.max(0, Math.floor(attempt)), 30);
  const ceiling = Math.min(opts.maxMs, opts.baseMs * 2 ** exponent);
  return Math.floor(ceiling / 2 + (random() * ceiling) / 2);
}

/** A point in time after which a call gives up. */
export class Deadline {
  readonly atMs: number;

  constructor(
    readonly budgetMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.atMs = now() + budgetMs;
  }

  remainingMs(): number {
    return Math.max(0, this.atMs - this.now());
  }

  expired(): boolean {
    return this.remainingMs() <= 0;
  }
}

/** Sleeps `ms`, or rejects with the signal's reason when it aborts first. */
export async function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return;
  await sleepTimer(ms, undefined, signal ? { signal } : undefined);
}
