/**
 * Client sessions for exactly-once semantics (Raft dissertation §6.3).
 *
 * A session remembers the result of every request with seq > ackedSeq, so a retry (after a timeout or a
 * leader change) gets the first result back instead of being applied twice. Memory is bounded twice:
 * at most `maxResultsPerSession` results (when full, the oldest is dropped and `ackedSeq` rises to it,
 * so a late retry of it is refused — never re-applied), and at most `maxSessions` sessions. A full
 * table makes room only by dropping sessions that have already expired: a live session is never
 * evicted (that would silently break its exactly-once promise), so a new open is refused instead; and
 * one client (as named by the shell: token name or address) may hold at most `maxSessionsPerClient`,
 * so no one client can fill the table.
 *
 * A session is a capability: it was opened with a random secret of which the table keeps only the
 * SHA-256, and every use must present the same hash. A request with the wrong one is refused before it
 * touches the session (no activity, no acknowledgement, no cached answer). The comparison need not be
 * constant-time: an attacker cannot steer the bytes of a SHA-256 to learn it prefix by prefix.
 *
 * The Map is kept in activity order (every touch moves a session to the end, and entry time never goes
 * backwards), so expiring idle sessions looks only at the front: bounded work per entry, deterministic.
 * That order is state: snapshots keep it.
 */
import { assert } from "../../common/assert.js";
import type { SessionRef } from "./commands.js";
import { fail } from "./outcome.js";
import type { SessionSnapshot, StoredResult } from "./types.js";

interface Session {
  id: number;
  /** Who opened it (a client token's name, or an address), as the shell saw it; "" if unknown. */
  client: string;
  /** SHA-256 of the session's secret; "" for sessions restored from a snapshot older than secrets. */
  secretHash: string;
  lastActiveMs: number;
  /** Results with seq ≤ ackedSeq are forgotten; such requests are refused. */
  ackedSeq: number;
  results: Map<number, StoredResult>;
}

export interface SessionLimits {
  timeoutMs: number;
  maxSessions: number;
  /** Sessions one client may hold at once, so that no one client can fill the table. */
  maxSessionsPerClient: number;
  maxResultsPerSession: number;
}

export type SeqCheck = { kind: "replay"; result: StoredResult } | { kind: "acked" } | { kind: "new" };

/** Stored results are shared with callers of `apply`; freezing them keeps callers from editing state. */
function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !ArrayBuffer.isView(v) && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

export class SessionTable {
  private readonly sessions = new Map<number, Session>();
  /** Sessions per named client (derived: rebuilt on restore). */
  private readonly perClient = new Map<string, number>();

  constructor(private readonly limits: SessionLimits) {}

  get count(): number {
    return this.sessions.size;
  }

  /**
   * Opens session `id` for `client`; returns the ids of expired sessions dropped to make room. Fails
   * with LIMIT_EXCEEDED when the table is full of live sessions (those are never evicted), or when
   * `client` already holds its share.
   */
  open(id: number, secretHash: string, client: string, nowMs: number): number[] {
    assert(!this.sessions.has(id), "session ids (entry indexes) are unique");
    if (client !== "" && (this.perClient.get(client) ?? 0) >= this.limits.maxSessionsPerClient) {
      // Its expired sessions may still await the bounded sweep: finish it (each session goes once).
      this.expireIdle(nowMs, this.sessions.size);
      if ((this.perClient.get(client) ?? 0) >= this.limits.maxSessionsPerClient) {
        fail("LIMIT_EXCEEDED", `${client} holds ${this.limits.maxSessionsPerClient} live sessions`, {
          limit: this.limits.maxSessionsPerClient,
        });
      }
    }
    const evicted: number[] = [];
    // Activity order: the front is the least recently active, so the first live one ends the search.
    for (const s of this.sessions.values()) {
      if (this.sessions.size - evicted.length < this.limits.maxSessions) break;
      if (!this.expired(s, nowMs)) {
        fail("LIMIT_EXCEEDED", `the session table is full (${this.limits.maxSessions} live sessions)`, {
          limit: this.limits.maxSessions,
        });
      }
      evicted.push(s.id);
    }
    for (const e of evicted) this.forget(e);
    this.add({ id, client, secretHash, lastActiveMs: nowMs, ackedSeq: 0, results: new Map() });
    return evicted;
  }

  /** Whether a retry of (id, seq) would replay a stored result. Read-only: touches nothing. */
  hasResult(id: number, seq: number): boolean {
    return this.sessions.get(id)?.results.has(seq) === true;
  }

  /**
   * The session `id` if `secretHash` proves ownership, marked active now. SESSION_EXPIRED if unknown or
   * idle too long (then it is forgotten); FORBIDDEN, changing nothing, if the hash is wrong.
   */
  authenticate(id: number, secretHash: string, nowMs: number): Session {
    const s = this.sessions.get(id);
    if (s === undefined || this.expired(s, nowMs)) {
      this.forget(id);
      return fail("SESSION_EXPIRED", `session ${id} has expired or never existed`, { sessionId: id });
    }
    if (s.secretHash === "" || s.secretHash !== secretHash) {
      return fail("FORBIDDEN", `session ${id}: wrong session secret`, { sessionId: id });
    }
    this.sessions.delete(id);
    s.lastActiveMs = nowMs;
    this.sessions.set(id, s);
    return s;
  }

  close(id: number, secretHash: string, nowMs: number): void {
    this.authenticate(id, secretHash, nowMs);
    this.forget(id);
  }

  private add(s: Session): void {
    this.sessions.set(s.id, s);
    if (s.client !== "") this.perClient.set(s.client, (this.perClient.get(s.client) ?? 0) + 1);
  }

  private forget(id: number): void {
    const s = this.sessions.get(id);
    if (s === undefined) return;
    this.sessions.delete(id);
    if (s.client === "") return;
    const n = (this.perClient.get(s.client) ?? 0) - 1;
    assert(n >= 0, "per-client session counts stay non-negative");
    if (n === 0) this.perClient.delete(s.client);
    else this.perClient.set(s.client, n);
  }

  private expired(s: Session, nowMs: number): boolean {
    return nowMs - s.lastActiveMs > this.limits.timeoutMs;
  }

  /** Forgets up to `max` sessions idle for longer than the timeout; returns how many. */
  expireIdle(nowMs: number, max: number): number {
    const expired: number[] = [];
    for (const s of this.sessions.values()) {
      if (expired.length >= max || !this.expired(s, nowMs)) break;
      expired.push(s.id);
    }
    for (const id of expired) this.forget(id);
    return expired.length;
  }

  /**
   * After a leader change every session counts as active now: clients could not reach anyone during the
   * election, so their silence says nothing (ZooKeeper resets session timers on a new leader likewise).
   */
  restartAll(nowMs: number): void {
    for (const s of this.sessions.values()) s.lastActiveMs = nowMs;
  }

  /** Processes the acknowledgement in `ref`, then classifies `ref.seq`. */
  check(s: Session, ref: SessionRef): SeqCheck {
    if (ref.ackedSeq > s.ackedSeq) {
      s.ackedSeq = ref.ackedSeq;
      for (const seq of s.results.keys()) if (seq <= s.ackedSeq) s.results.delete(seq);
    }
    const stored = s.results.get(ref.seq);
    if (stored !== undefined) return { kind: "replay", result: stored };
    return ref.seq <= s.ackedSeq ? { kind: "acked" } : { kind: "new" };
  }

  store(s: Session, seq: number, result: StoredResult): void {
    assert(seq > s.ackedSeq && !s.results.has(seq), "store: a new sequence number");
    s.results.set(seq, deepFreeze(result));
    if (s.results.size > this.limits.maxResultsPerSession) {
      let oldest = seq;
      for (const k of s.results.keys()) if (k < oldest) oldest = k;
      s.results.delete(oldest);
      s.ackedSeq = Math.max(s.ackedSeq, oldest);
    }
  }

  // ---- snapshot ----

  toSnapshot(): SessionSnapshot[] {
    return [...this.sessions.values()].map((s) => ({
      id: s.id,
      ...(s.client !== "" ? { client: s.client } : {}),
      secretHash: s.secretHash,
      lastActiveMs: s.lastActiveMs,
      ackedSeq: s.ackedSeq,
      results: [...s.results]
        .sort(([a], [b]) => a - b)
        .map(([seq, result]) => ({ seq, result: structuredClone(result) })),
    }));
  }

  static fromSnapshot(sessions: readonly SessionSnapshot[], limits: SessionLimits): SessionTable {
    const table = new SessionTable(limits);
    let prevActiveMs = Number.NEGATIVE_INFINITY;
    for (const s of sessions) {
      assert(!table.sessions.has(s.id), "snapshot: session ids unique");
      assert(s.lastActiveMs >= prevActiveMs, "snapshot: sessions in activity order");
      prevActiveMs = s.lastActiveMs;
      const results = new Map<number, StoredResult>();
      for (const r of s.results) {
        assert(r.seq > s.ackedSeq, "snapshot: only unacknowledged results are kept");
        results.set(r.seq, deepFreeze(structuredClone(r.result)));
      }
      table.add({
        id: s.id,
        client: s.client ?? "",
        secretHash: s.secretHash ?? "",
        lastActiveMs: s.lastActiveMs,
        ackedSeq: s.ackedSeq,
        results,
      });
    }
    return table;
  }
}
