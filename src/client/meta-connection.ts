/**
 * Talking to "the" metadata service: remembers the leader, follows NOT_LEADER hints, moves on to the
 * next replica when one cannot be reached, and paces retries with capped, jittered backoff, all within
 * one deadline per call. Every route is sent to the leader: it serves linearizable reads without the
 * extra hop a follower would make, and it alone places chunks.
 *
 * A hint is followed only to one of the configured endpoints, and never from https to http: the
 * client's token goes wherever it follows, and a hint is whatever the answering server (or anyone
 * between it and us, over http) chose to write. An ignored hint counts as no hint.
 *
 * While no leader is known (the last one went away, or an election runs), a pause between attempts
 * is spent asking every replica at once whether it leads (`/status`), and ends at the first answer
 * that names a leader: a replica that says it leads, or a follower that names one which has not just
 * failed us (a follower's stale idea is the leader that died). The client meets a new leader within
 * one probe interval of its election instead of at the end of a growing backoff, and a leader so met
 * starts a fresh backoff: the pause after its first busy answer is the shortest, not the one the
 * election grew. Concurrent calls share one search, so 64 calls in flight still send one probe per
 * replica per interval.
 */

import { type BackoffOptions, backoffMs, Deadline, sleep } from "../common/backoff.js";
import { DfsError } from "../common/errors.js";
import { META_ROUTES } from "../common/protocol/index.js";
import { isTransportError, type JsonRequest } from "./http.js";

/** Sends one request to one replica (an injected seam: tests script it, the client uses undici). */
export type SendFn = (origin: string, req: JsonRequest) => Promise<unknown>;

export interface MetaConnectionOptions {
  endpoints: readonly string[];
  deadlineMs: number;
  requestTimeoutMs: number;
  backoff: BackoffOptions;
  /**
   * Search for the leader by asking every replica at once during retry pauses (see the top). Off,
   * a pause is only a pause (the scripted tests of the plain retry rules run so).
   */
  leaderSearch?: { probeIntervalMs: number; probeTimeoutMs: number };
}

export interface MetaConnectionDeps {
  send: SendFn;
  random?: () => number;
  now?: () => number;
  /** Aborted when the client closes: every wait ends at once. */
  signal?: AbortSignal;
  /** Observability: called before each pause (the CLI shows it with `-v`; tests count it). */
  onRetry?: (info: { attempt: number; url: string; error: DfsError; waitMs: number }) => void;
  /** Observability: a NOT_LEADER hint that was not followed, and why. */
  onIgnoredHint?: (info: { url: string; hint: string; why: string }) => void;
}

export interface MetaCall {
  method: "GET" | "POST";
  path: string;
  query?: JsonRequest["query"];
  body?: unknown;
  /** Overrides the connection's deadline for this call (long polls, lock renewals). */
  deadlineMs?: number;
  /** Overrides the per-attempt timeout (a long poll waits longer than an ordinary request). */
  requestTimeoutMs?: number;
  /**
   * When false, an UNAVAILABLE/TIMEOUT *answered by the leader* is thrown at once instead of being
   * retried (a placement that excluded nodes wants to decide itself). Unreachable replicas and
   * NOT_LEADER are always handled here.
   */
  retryAnswers?: boolean;
  signal?: AbortSignal;
}

function normalizeUrl(url: string): string {
  return new URL(url).origin;
}

function originOrNull(url: string): string | null {
  try {
    return normalizeUrl(url);
  } catch {
    return null;
  }
}

export class MetaConnection {
  private readonly endpoints: string[];
  private leader: string | null = null;
  private rotation = 0;
  private readonly random: () => number;
  private readonly now: () => number;
  /** The leader search under way, shared by every call that waits for a leader. */
  private search: Promise<void> | null = null;
  /** Replicas that refused or dropped a connection since they last answered: their names are not hints. */
  private readonly unreachable = new Set<string>();

  constructor(
    private readonly opts: MetaConnectionOptions,
    private readonly deps: MetaConnectionDeps,
  ) {
    if (opts.endpoints.length === 0) throw new DfsError("BAD_REQUEST", "no metadata endpoints to connect to");
    this.endpoints = [...new Set(opts.endpoints.map(normalizeUrl))];
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
  }

  /** The leader this connection last saw answer (null before the first call or after a failure). */
  get leaderUrl(): string | null {
    return this.leader;
  }

  get knownEndpoints(): readonly string[] {
    return this.endpoints;
  }

  async call<T>(call: MetaCall): Promise<T> {
    const deadline = new Deadline(call.deadlineMs ?? this.opts.deadlineMs, this.now);
    const signal = call.signal ?? this.deps.signal;
    let attempt = 0;
    // Hints followed in a row without a pause: bounded, so two replicas that name each other
    // during an election cannot make us spin.
    let hops = 0;
    let last: DfsError | null = null;
    // The last refusal came from a replica that answered (a leader short of data nodes, busy), not from
    // the search for one: the error then says so instead of "no leader answered".
    let lastAnswered = false;
    for (;;) {
      if (signal?.aborted) throw signal.reason;
      const remaining = deadline.remainingMs();
      if (remaining <= 0) throw this.exhausted(call, deadline, last, lastAnswered);
      const target = this.leader ?? this.nextEndpoint();
      try {
        const answer = (await this.deps.send(target, {
          method: call.method,
          path: call.path,
          ...(call.query ? { query: call.query } : {}),
          ...(call.body !== undefined ? { body: call.body } : {}),
          timeoutMs: Math.min(call.requestTimeoutMs ?? this.opts.requestTimeoutMs, remaining),
          ...(signal ? { signal } : {}),
        })) as T;
        this.leader = target;
        this.unreachable.delete(target);
        return answer;
      } catch (err) {
        if (!(err instanceof DfsError)) throw err;
        last = err;
        lastAnswered = err.code !== "NOT_LEADER" && !isTransportError(err);
        if (err.code === "NOT_LEADER") {
          const hint = this.acceptableHint(target, err.details.leaderUrl);
          // A hint to a replica that has just failed us is the follower's stale idea: search instead.
          if (
            hint !== null &&
            hint !== target &&
            !this.unreachable.has(hint) &&
            hops < this.endpoints.length
          ) {
            hops++;
            this.follow(hint);
            continue;
          }
          this.forget(target);
        } else if (isTransportError(err)) {
          this.unreachable.add(target);
          this.forget(target);
        } else if ((err.code === "UNAVAILABLE" || err.code === "TIMEOUT") && call.retryAnswers !== false) {
          // The leader itself is busy (election in progress, back-pressure): same target, later.
        } else {
          throw err;
        }
      }
      hops = 0;
      const waitMs = Math.min(backoffMs(attempt, this.opts.backoff, this.random), deadline.remainingMs());
      this.deps.onRetry?.({ attempt, url: target, error: last, waitMs });
      attempt++;
      if (this.leader === null && this.opts.leaderSearch) {
        await this.searchLeader(waitMs, signal);
        // A leader just met: its first refusal (busy, not ready yet) waits the shortest pause.
        if (this.leader !== null) attempt = 0;
      } else await sleep(waitMs, signal);
    }
  }

  /**
   * Waits up to `waitMs`, or until a replica says it leads (then `leader` names it). One search runs
   * at a time; a call joining it waits for it, then for the rest of its own pause if still leaderless.
   */
  private async searchLeader(waitMs: number, signal: AbortSignal | undefined): Promise<void> {
    const until = this.now() + waitMs;
    while (this.leader === null && this.now() < until) {
      if (signal?.aborted) throw signal.reason;
      this.search ??= this.probeRound().finally(() => {
        this.search = null;
      });
      const round = this.search;
      await round;
      if (this.leader !== null) return;
      const rest = until - this.now();
      if (rest > 0) await sleep(Math.min(rest, this.opts.leaderSearch!.probeIntervalMs), signal);
    }
  }

  /**
   * One probe of every replica at once; resolves at the first answer that names a leader, or when
   * all have answered. A replica's word about itself beats a follower's about another.
   */
  private probeRound(): Promise<void> {
    const { probeTimeoutMs } = this.opts.leaderSearch!;
    return new Promise<void>((resolve) => {
      let pending = this.endpoints.length;
      let bestTerm = -1;
      let claimed = false;
      const settle = () => {
        if (--pending === 0) resolve();
      };
      for (const url of this.endpoints) {
        this.deps
          .send(url, { method: "GET", path: META_ROUTES.replicaStatus, timeoutMs: probeTimeoutMs })
          .then((answer) => {
            this.unreachable.delete(url);
            const s = answer as { role?: unknown; term?: unknown; leaderUrl?: unknown } | null;
            const term = typeof s?.term === "number" ? s.term : -1;
            // Two claimants (an old leader not yet deposed): the higher term is the live one.
            if (s?.role === "leader" && term > bestTerm) {
              bestTerm = term;
              claimed = true;
              this.leader = url;
              resolve();
              return;
            }
            // A follower that names a leader: taken until a claim comes, unless the one named has
            // just failed us (then it is the follower's stale idea of the leader that died).
            if (claimed || this.leader !== null || typeof s?.leaderUrl !== "string") return;
            const hint = this.acceptableHint(url, s.leaderUrl);
            if (hint === null || hint === url || this.unreachable.has(hint)) return;
            this.leader = hint;
            resolve();
          })
          .catch(() => {
            // A probe that fails says nothing about the others: the round ends without it.
            this.unreachable.add(url);
          })
          .finally(settle);
      }
    });
  }

  /** The hint's origin when it may be followed (see the top of this file), else null. */
  private acceptableHint(target: string, leaderUrl: unknown): string | null {
    if (typeof leaderUrl !== "string") return null;
    const hint = originOrNull(leaderUrl);
    let why: string | null = null;
    if (hint === null) why = "not a URL";
    else if (target.startsWith("https:") && !hint.startsWith("https:")) why = "downgrades https to http";
    else if (!this.endpoints.includes(hint)) why = "not one of the configured endpoints";
    if (why === null) return hint;
    this.deps.onIgnoredHint?.({ url: target, hint: leaderUrl.slice(0, 200), why });
    return null;
  }

  private follow(url: string): void {
    this.leader = url;
  }

  /** The round-robin's next replica, passing over those that have just failed us while others remain. */
  private nextEndpoint(): string {
    const n = this.endpoints.length;
    for (let k = 0; k < n; k++) {
      const url = this.endpoints[(this.rotation + k) % n]!;
      if (!this.unreachable.has(url)) return url;
    }
    return this.endpoints[this.rotation % n]!;
  }

  private forget(target: string): void {
    if (this.leader === target) this.leader = null;
    // Start the round-robin after the replica that just failed.
    const i = this.endpoints.indexOf(target);
    this.rotation = i >= 0 ? i + 1 : this.rotation + 1;
  }

  private exhausted(call: MetaCall, deadline: Deadline, last: DfsError | null, answered: boolean): DfsError {
    const what = `${call.method} ${call.path}`;
    const why = last ? `: ${last.message}` : "";
    // Only a series of timeouts is a TIMEOUT; refused connections and elections are UNAVAILABLE.
    const code = last?.code === "TIMEOUT" ? "TIMEOUT" : "UNAVAILABLE";
    const said = answered
      ? `the metadata leader still refused ${what} after ${deadline.budgetMs} ms${why}`
      : `no metadata leader answered ${what} within ${deadline.budgetMs} ms${why}`;
    return new DfsError(
      code,
      said,
      { lastCode: last?.code ?? null, endpoints: this.endpoints },
      { cause: last ?? undefined },
    );
  }
}
