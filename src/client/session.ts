/**
 * Exactly-once mutations (Raft dissertation §6.3): the client opens a session lazily and numbers its
 * mutations. A retry of one mutation (inside `MetaConnection.call`, after a timeout or a leader change)
 * sends the very same body, hence the same seq, so the state machine answers with the first result
 * instead of applying it twice. `ackedSeq` tells the replicas which results they may forget: every seq
 * below the oldest one still in flight.
 *
 * When the session itself has expired (idle past `sessionTimeoutMs`), the mutation is retried once in
 * a new session with a new seq. That one retry is NOT exactly-once: if the first attempt had been
 * applied before the session expired, it is applied again. It can only happen after a long silence,
 * and every path that cannot tolerate it should use `expectedVersion` or a lock token.
 */

import { Deadline, sleep } from "../common/backoff.js";
import { isDfsError } from "../common/errors.js";
import {
  type CommitRequest,
  META_ROUTES,
  type OpenSessionResponse,
  type WireSession,
} from "../common/protocol/index.js";
import type { MetaBatcher } from "./meta-batcher.js";
import type { MetaCall, MetaConnection } from "./meta-connection.js";

/** How long opening a session waits out the replica's rate limit before giving up. */
export const OPEN_WAIT_MS = 30_000;
const MIN_OPEN_RETRY_MS = 10;

class OpenSession {
  private nextSeq = 1;
  private readonly inFlight = new Set<number>();

  constructor(
    readonly id: number,
    private readonly secret: string,
  ) {}

  begin(): WireSession {
    const seq = this.nextSeq++;
    this.inFlight.add(seq);
    return { id: this.id, seq, ackedSeq: this.ackedSeq(), secret: this.secret };
  }

  end(seq: number): void {
    this.inFlight.delete(seq);
  }

  /** Every result up to here has been received (or given up on): the replicas may drop them. */
  ackedSeq(): number {
    let oldest = this.nextSeq;
    for (const s of this.inFlight) if (s < oldest) oldest = s;
    return oldest - 1;
  }
}

export class Sessions {
  private current: OpenSession | null = null;
  private opening: Promise<OpenSession> | null = null;

  /** `batcher`: commits go through it (coalesced with others in flight); other mutations go alone. */
  constructor(
    private readonly meta: MetaConnection,
    private readonly batcher: MetaBatcher | null = null,
  ) {}

  /** The id of the session in use, if one is open (for diagnostics and tests). */
  get sessionId(): number | null {
    return this.current?.id ?? null;
  }

  /** Posts a mutation to `route` with `{...body, session}`; see the file comment for the retry rules. */
  async mutate<T>(route: string, body: Record<string, unknown>, call: Partial<MetaCall> = {}): Promise<T> {
    const first = await this.session();
    try {
      return await this.send<T>(first, route, body, call);
    } catch (err) {
      if (!isDfsError(err, "SESSION_EXPIRED")) throw err;
      this.drop(first);
      return this.send<T>(await this.session(), route, body, call);
    }
  }

  private async send<T>(
    s: OpenSession,
    route: string,
    body: Record<string, unknown>,
    call: Partial<MetaCall>,
  ): Promise<T> {
    const session = s.begin();
    try {
      if (route === META_ROUTES.commit && this.batcher !== null) {
        return await this.batcher.commit<T>({ ...body, session } as CommitRequest, call);
      }
      return await this.meta.call<T>({ ...call, method: "POST", path: route, body: { ...body, session } });
    } finally {
      s.end(session.seq);
    }
  }

  private drop(s: OpenSession): void {
    if (this.current === s) this.current = null;
  }

  private session(): Promise<OpenSession> {
    if (this.current) return Promise.resolve(this.current);
    // Concurrent first mutations share one open request.
    this.opening ??= this.open()
      .then((s) => {
        this.current = s;
        return s;
      })
      .finally(() => {
        this.opening = null;
      });
    return this.opening;
  }

  private async open(): Promise<OpenSession> {
    const deadline = new Deadline(OPEN_WAIT_MS);
    for (;;) {
      try {
        const r = await this.meta.call<OpenSessionResponse>({
          method: "POST",
          path: META_ROUTES.openSession,
          body: {},
        });
        return new OpenSession(r.sessionId, r.secret);
      } catch (err) {
        if (!isDfsError(err, "RATE_LIMITED") || deadline.expired()) throw err;
        const after = Number(err.details.retryAfterMs);
        const waitMs = Number.isFinite(after) ? Math.max(MIN_OPEN_RETRY_MS, after) : MIN_OPEN_RETRY_MS;
        if (waitMs > deadline.remainingMs()) throw err;
        await sleep(waitMs);
      }
    }
  }
}
