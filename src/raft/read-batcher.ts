/**
 * Linearizable reads for the driver: callers in one event-loop turn share one ReadIndex round (one
 * heartbeat broadcast at the leader); a round is served once the state machine has applied the index
 * the leader confirmed. A round nobody answers (lost message, leader change, no leader yet) is sent
 * again with a fresh context; every caller has a deadline.
 */
import { DfsError } from "../common/errors.js";

export interface ReadBatcherOptions {
  /** Unique per node and boot, so contexts never collide at the leader. */
  ctxPrefix: string;
  readTimeoutMs: number;
  retryTicks: number;
  maxWaiters: number;
}

export interface ReadBatcherDeps {
  /** Starts a ReadIndex round in the core; false when it cannot now (no leader known). */
  issue(readCtx: string): boolean;
  /** The core has output to process. */
  kick(): void;
}

interface Waiter {
  resolve: () => void;
  reject: (err: unknown) => void;
  deadlineMs: number;
}

interface Round {
  ctx: string;
  waiters: Waiter[];
  index: number;
  issued: boolean;
  ticksSinceIssue: number;
}

export class ReadBatcher {
  private collecting: Waiter[] = [];
  private flushScheduled = false;
  private readonly unconfirmed = new Map<string, Round>();
  private confirmedRounds: Round[] = [];
  private seq = 0;
  private waiterCount = 0;
  private appliedIndex = 0;

  constructor(
    private readonly opts: ReadBatcherOptions,
    private readonly deps: ReadBatcherDeps,
  ) {}

  read(nowMs: number): Promise<void> {
    if (this.waiterCount >= this.opts.maxWaiters) {
      return Promise.reject(new DfsError("UNAVAILABLE", "too many pending linearizable reads; retry later"));
    }
    return new Promise((resolve, reject) => {
      this.collecting.push({ resolve, reject, deadlineMs: nowMs + this.opts.readTimeoutMs });
      this.waiterCount++;
      if (this.flushScheduled) return;
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.collecting.length === 0) return;
    const round: Round = { ctx: "", waiters: this.collecting, index: 0, issued: false, ticksSinceIssue: 0 };
    this.collecting = [];
    this.issue(round);
  }

  private issue(round: Round): void {
    if (round.ctx !== "") this.unconfirmed.delete(round.ctx);
    round.ctx = `${this.opts.ctxPrefix}.${++this.seq}`;
    round.ticksSinceIssue = 0;
    this.unconfirmed.set(round.ctx, round);
    round.issued = this.deps.issue(round.ctx);
    if (round.issued) this.deps.kick();
  }

  onTick(nowMs: number): void {
    for (const round of [...this.unconfirmed.values()]) {
      round.ticksSinceIssue++;
      this.expire(round, nowMs);
      if (round.waiters.length === 0) this.unconfirmed.delete(round.ctx);
      else if (!round.issued || round.ticksSinceIssue >= this.opts.retryTicks) this.issue(round);
    }
    this.confirmedRounds = this.confirmedRounds.filter((round) => {
      this.expire(round, nowMs);
      return round.waiters.length > 0;
    });
  }

  /** The core confirmed `readCtx` at `index`. Unknown contexts (timed out, superseded) are ignored. */
  confirmed(readCtx: string, index: number): void {
    const round = this.unconfirmed.get(readCtx);
    if (!round) return;
    this.unconfirmed.delete(readCtx);
    round.index = index;
    this.confirmedRounds.push(round);
  }

  applied(appliedIndex: number): void {
    this.appliedIndex = appliedIndex;
    if (this.confirmedRounds.length === 0) return;
    this.confirmedRounds = this.confirmedRounds.filter((round) => {
      if (round.index > this.appliedIndex) return true;
      for (const w of round.waiters) w.resolve();
      this.waiterCount -= round.waiters.length;
      return false;
    });
  }

  failAll(err: unknown): void {
    const rounds = [...this.unconfirmed.values(), ...this.confirmedRounds];
    const waiters = [...this.collecting, ...rounds.flatMap((r) => r.waiters)];
    this.collecting = [];
    this.unconfirmed.clear();
    this.confirmedRounds = [];
    this.waiterCount = 0;
    for (const w of waiters) w.reject(err);
  }

  private expire(round: Round, nowMs: number): void {
    const live = round.waiters.filter((w) => w.deadlineMs > nowMs);
    if (live.length === round.waiters.length) return;
    for (const w of round.waiters) {
      if (w.deadlineMs <= nowMs) {
        w.reject(new DfsError("UNAVAILABLE", `read not confirmed within ${this.opts.readTimeoutMs} ms`));
      }
    }
    this.waiterCount -= round.waiters.length - live.length;
    round.waiters = live;
  }
}
