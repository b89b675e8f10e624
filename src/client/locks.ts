/**
 * Lock handles: a lease acquired through Raft, renewed in the background at a third of its TTL, with
 * the fencing token the holder must present on every write under it.
 *
 * The holder judges its lease conservatively, from its own clock: it counts the lease from the moment
 * it *sent* the last successful acquire or renew, so it believes it lost the lock no later than the
 * leader does (a new leader restarts every lease in full, which only lengthens the server's view).
 */
import { randomBytes, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { backoffMs, Deadline, sleep } from "../common/backoff.js";
import { DfsError, isDfsError } from "../common/errors.js";
import {
  type LockAcquireResponse,
  type LockMode,
  type LockRenewResponse,
  META_ROUTES,
} from "../common/protocol/index.js";
import type { Sessions } from "./session.js";

export interface LockOptions {
  mode?: LockMode;
  /** Lease length; renewed every ttlMs/3 until release. Default 30 s. */
  ttlMs?: number;
  /** Wait while someone else holds it (default true), at most `waitTimeoutMs` (default 30 s). */
  wait?: boolean;
  waitTimeoutMs?: number;
  /** Shown to other clients in LOCKED errors and `stat`. Default `host:pid:random`. */
  owner?: string;
  /** Observes every renewal, background or explicit (monitoring; the chaos tests' lock history). */
  onRenew?: (r: RenewObservation) => void;
}

/** One renewal as the holder saw it: sent and answered on this machine's clock (Date.now). */
export interface RenewObservation {
  sentAtMs: number;
  answeredAtMs: number;
  /** "unknown": failed without a verdict (timeout, no leader): it may or may not have been applied. */
  outcome: "ok" | "refused" | "unknown";
}

export const DEFAULT_LOCK_TTL_MS = 30_000;
const DEFAULT_WAIT_TIMEOUT_MS = 30_000;
const WAIT_BACKOFF = { baseMs: 50, maxMs: 500 };

export class LockHandle {
  private timer: NodeJS.Timeout | null = null;
  private renewing: Promise<void> | null = null;
  private readonly controller = new AbortController();
  private validUntilMs: number;
  private released = false;

  constructor(
    readonly path: string,
    readonly token: number,
    /**
     * The lock's own secret: with `token`, it lets another session (another process) write under this
     * lock, as `raftfs lock` lets its child. Renew and release stay with this handle's session.
     */
    readonly secret: string,
    readonly mode: LockMode,
    readonly ttlMs: number,
    sentAtMs: number,
    private readonly sessions: Sessions,
    private readonly onDone: (h: LockHandle) => void = () => undefined,
    private readonly onRenew: (r: RenewObservation) => void = () => undefined,
  ) {
    this.validUntilMs = sentAtMs + ttlMs;
    // renew() records a failure itself (markLost); the timer only has to keep it from going unhandled.
    this.timer = setInterval(
      () => void this.renew().catch(() => undefined),
      Math.max(10, Math.floor(ttlMs / 3)),
    );
    // A forgotten handle must not keep a process alive; a holder that is working keeps it alive anyway.
    this.timer.unref();
  }

  /** Aborted (with the reason) when the lease is lost or released: stop work that relies on it. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True once this holder can no longer be sure it holds the lock. */
  get lost(): boolean {
    return !this.released && (this.controller.signal.aborted || Date.now() > this.validUntilMs);
  }

  /** Extends the lease now (the background timer does this by itself). */
  async renew(): Promise<void> {
    if (this.released) throw new DfsError("LOCK_NOT_HELD", `the lock on ${this.path} was released`);
    if (this.lost) {
      const err = this.lostError();
      this.markLost(err);
      throw err;
    }
    // One renewal at a time: a slow one must not be overtaken by the next tick.
    this.renewing ??= (async () => {
      const sentAt = Date.now();
      try {
        await this.sessions.mutate<LockRenewResponse>(
          META_ROUTES.lockRenew,
          { path: this.path, token: this.token },
          { deadlineMs: Math.max(100, this.validUntilMs - sentAt) },
        );
        this.validUntilMs = sentAt + this.ttlMs;
        this.onRenew({ sentAtMs: sentAt, answeredAtMs: Date.now(), outcome: "ok" });
      } catch (err) {
        const refused = isDfsError(err, "LOCK_NOT_HELD") || isDfsError(err, "STALE_TOKEN");
        this.onRenew({
          sentAtMs: sentAt,
          answeredAtMs: Date.now(),
          outcome: refused ? "refused" : "unknown",
        });
        if (refused) this.markLost(err);
        else if (Date.now() > this.validUntilMs) this.markLost(this.lostError());
        throw err;
      } finally {
        this.renewing = null;
      }
    })();
    return this.renewing;
  }

  /** Gives the lock back. Idempotent; a lease that already expired is gone anyway. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopTimer();
    this.onDone(this);
    this.controller.abort(new DfsError("LOCK_NOT_HELD", `the lock on ${this.path} was released`));
    try {
      await this.sessions.mutate(META_ROUTES.lockRelease, { path: this.path, token: this.token });
    } catch (err) {
      if (!isDfsError(err, "LOCK_NOT_HELD")) throw err;
    }
  }

  private lostError(): DfsError {
    return new DfsError("LOCK_NOT_HELD", `the lease on ${this.path} (token ${this.token}) was lost`, {
      path: this.path,
      token: this.token,
    });
  }

  private markLost(reason: DfsError): void {
    this.stopTimer();
    this.onDone(this);
    if (!this.controller.signal.aborted) this.controller.abort(reason);
  }

  private stopTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

/** Acquires `path`, waiting (with capped backoff) while it is LOCKED, if asked to. */
export async function acquireLock(
  sessions: Sessions,
  path: string,
  opts: LockOptions = {},
  deps: { signal?: AbortSignal; onDone?: (h: LockHandle) => void } = {},
): Promise<LockHandle> {
  const mode = opts.mode ?? "exclusive";
  const ttlMs = opts.ttlMs ?? DEFAULT_LOCK_TTL_MS;
  // Every handle is its own holder: two handles of one client must exclude each other too.
  const owner = opts.owner ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  const wait = opts.wait ?? true;
  // Drawn once: a retried acquire sends the same body, so the state's hash matches what we keep.
  const secret = randomBytes(32).toString("base64url");
  const deadline = new Deadline(opts.waitTimeoutMs ?? DEFAULT_WAIT_TIMEOUT_MS);
  for (let attempt = 0; ; attempt++) {
    const sentAt = Date.now();
    try {
      const r = await sessions.mutate<LockAcquireResponse>(
        META_ROUTES.lockAcquire,
        {
          path,
          mode,
          ttlMs,
          owner,
          secret,
        },
        deps.signal ? { signal: deps.signal } : {},
      );
      return new LockHandle(path, r.token, secret, mode, ttlMs, sentAt, sessions, deps.onDone, opts.onRenew);
    } catch (err) {
      if (!isDfsError(err, "LOCKED") || !wait || deadline.expired()) throw err;
    }
    await sleep(Math.min(backoffMs(attempt, WAIT_BACKOFF), deadline.remainingMs()), deps.signal);
  }
}

/** Runs `fn` holding `handle`, then releases it; LOCK_NOT_HELD if the lease was lost before `fn` finished. */
export async function runHolding<T>(
  handle: LockHandle,
  fn: (lock: LockHandle) => Promise<T> | T,
): Promise<T> {
  let result: T;
  try {
    result = await fn(handle);
  } catch (err) {
    await handle.release().catch(() => undefined); // the original failure matters more
    throw err;
  }
  const lost = handle.lost;
  await handle.release();
  if (lost)
    throw new DfsError("LOCK_NOT_HELD", `the lease on ${handle.path} expired while it was held`, {
      path: handle.path,
      token: handle.token,
    });
  return result;
}
