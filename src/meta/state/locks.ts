/**
 * The lock table: leases on *names* (a path need not exist to be locked), exclusive or shared.
 *
 * Rules (the "why" is in DESIGN.md; these are the choices made here):
 * - A holder is the pair (owner, sessionId). Every grant gets a fresh fencing token: the Raft index of
 *   the grant, so tokens strictly increase across the whole table.
 * - A token is a capability only together with its session: tokens are log indexes, easy to guess, so
 *   renew, release and fencing accept a token only from the session that acquired it (that session
 *   proved itself with its secret before the command got here). Nothing anyone else can see carries a
 *   token: listings, `stat` and LOCKED errors show the holder's session, owner, mode and expiry.
 * - Locks are hierarchical: a lease on `/a` covers the subtree `/a/**`. A request conflicts with another
 *   holder's live lease on the same path, on an ancestor, or on a descendant — exclusive against
 *   anything, shared only against exclusive. A holder never conflicts with itself (it may nest).
 * - Re-acquiring a path you already hold replaces your lease there with a fresh token (the old one turns
 *   stale). That is how a holder upgrades shared → exclusive or downgrades; if the new mode conflicts
 *   with others, the request fails and the old lease stays as it was.
 * - A lease is live while `now <= expiresAtMs`. An expired lease is treated as released at once; it is
 *   physically removed (and reported as an "unlock" change) by the bounded per-entry sweep, by a
 *   request on its path, or by `leaderChanged`. Renewing or releasing an expired lease fails with
 *   LOCK_NOT_HELD: the holder must not believe it still held the lock.
 * - `leaderChanged` restarts every live lease in full, so a failover never expires a lock early.
 * - Fencing (see `fence`): a mutation of a path covered by any live lease needs the token of a live
 *   *exclusive* lease among those covering it, held by the mutating session, and all covering leases
 *   must belong to that token's holder. Shared leases therefore block writers (a reader lease means
 *   "nobody changes this").
 * - An admin may break the leases on a path (`breakPath`): they go at once, whoever holds them.
 */
import { assert } from "../../common/assert.js";
import { ancestorsOf, isAncestor, isAncestorOrSelf, isNormalPath } from "../../common/paths.js";
import type { LockMode } from "./commands.js";
import { MinHeap } from "./min-heap.js";
import { fail } from "./outcome.js";
import type { LockHolderInfo, LockHoldingSnapshot } from "./types.js";

export type Holding = LockHoldingSnapshot;

export interface AcquireRequest {
  path: string;
  mode: LockMode;
  ttlMs: number;
  owner: string;
  sessionId: number;
  token: number;
  secretHash?: string;
}

/** Who presents a token to `fence`: the mutating session, and the hash of a lock secret it was given. */
export interface FenceCaller {
  sessionId: number | undefined;
  lockSecretHash?: string | undefined;
}

/** A path a mutation touches; `subtree` when the whole subtree below it moves or disappears. */
export interface FenceTarget {
  path: string;
  subtree: boolean;
}

interface HeapItem {
  expiresAtMs: number;
  token: number;
}

export function isLive(h: Holding, nowMs: number): boolean {
  return nowMs <= h.expiresAtMs;
}

/** What anyone may see of a lease: everything but its token and its secret's hash. */
export function holderInfo(h: Holding): LockHolderInfo {
  const { token: _token, secretHash: _secretHash, ...visible } = h;
  return visible;
}

function byPathThenToken(a: Holding, b: Holding): number {
  return a.path < b.path ? -1 : a.path > b.path ? 1 : a.token - b.token;
}

function sameHolder(
  a: { owner: string; sessionId: number },
  b: { owner: string; sessionId: number },
): boolean {
  return a.owner === b.owner && a.sessionId === b.sessionId;
}

export class LockTable {
  private readonly byPath = new Map<string, Holding[]>();
  private readonly byToken = new Map<number, Holding>();
  /** For each path, how many locked paths lie at or below it: "anything locked under /a?" in O(1). */
  private readonly lockedBelow = new Map<string, number>();
  /** Expiry order; may hold stale items (renewed or removed leases), skipped when popped. */
  private readonly expiry = new MinHeap<HeapItem>(
    (a, b) => a.expiresAtMs < b.expiresAtMs || (a.expiresAtMs === b.expiresAtMs && a.token < b.token),
  );

  constructor(private readonly maxHoldings: number) {}

  get holdingCount(): number {
    return this.byToken.size;
  }

  /** Live leases on `path`, on its ancestors and, with `subtree`, below it; sorted by path and token. */
  related(path: string, subtree: boolean, nowMs: number): Holding[] {
    const out: Holding[] = [];
    for (const p of [...ancestorsOf(path), path]) {
      // Nothing locked at or below p means nothing further down either.
      if (!this.lockedBelow.has(p)) return out;
      for (const h of this.byPath.get(p) ?? []) if (isLive(h, nowMs)) out.push(h);
    }
    const below = (this.lockedBelow.get(path) ?? 0) - (this.byPath.has(path) ? 1 : 0);
    if (subtree && below > 0) {
      for (const [p, list] of this.byPath) {
        if (isAncestor(path, p)) for (const h of list) if (isLive(h, nowMs)) out.push(h);
      }
    }
    return out.sort(byPathThenToken);
  }

  /** Live leases at or below `path` (all of them without a path), sorted by path and token. */
  list(path: string | undefined, nowMs: number): Holding[] {
    const out: Holding[] = [];
    for (const [p, list] of this.byPath) {
      if (path !== undefined && !isAncestorOrSelf(path, p)) continue;
      for (const h of list) if (isLive(h, nowMs)) out.push(h);
    }
    return out.sort(byPathThenToken);
  }

  liveOn(path: string, nowMs: number): Holding[] {
    return (this.byPath.get(path) ?? []).filter((h) => isLive(h, nowMs));
  }

  /** Grants a lease or fails with LOCKED / LIMIT_EXCEEDED; returns it and the expired leases it cleared. */
  acquire(req: AcquireRequest, nowMs: number): { holding: Holding; expired: Holding[] } {
    assert(!this.byToken.has(req.token), "fencing tokens are unique");
    const others = this.related(req.path, true, nowMs).filter((h) => !sameHolder(h, req));
    const conflicts = req.mode === "exclusive" ? others : others.filter((h) => h.mode === "exclusive");
    if (conflicts.length > 0) {
      fail("LOCKED", `${req.path} is locked`, { path: req.path, holders: conflicts.map(holderInfo) });
    }
    const here = this.byPath.get(req.path) ?? [];
    const expired = here.filter((h) => !isLive(h, nowMs));
    const replaced = here.filter((h) => isLive(h, nowMs) && sameHolder(h, req));
    if (this.byToken.size - expired.length - replaced.length >= this.maxHoldings) {
      fail("LIMIT_EXCEEDED", `the lock table is full (${this.maxHoldings} leases)`, {
        limit: this.maxHoldings,
      });
    }
    for (const h of [...expired, ...replaced]) this.remove(h);
    const holding: Holding = {
      path: req.path,
      mode: req.mode,
      token: req.token,
      owner: req.owner,
      sessionId: req.sessionId,
      ttlMs: req.ttlMs,
      acquiredAtMs: nowMs,
      expiresAtMs: nowMs + req.ttlMs,
      ...(req.secretHash !== undefined ? { secretHash: req.secretHash } : {}),
    };
    this.add(holding);
    return { holding, expired };
  }

  renew(path: string, token: number, sessionId: number, nowMs: number): Holding {
    const h = this.liveHolding(path, token, sessionId, nowMs);
    h.expiresAtMs = nowMs + h.ttlMs;
    this.expiry.push({ expiresAtMs: h.expiresAtMs, token });
    return h;
  }

  release(path: string, token: number, sessionId: number, nowMs: number): Holding {
    const h = this.liveHolding(path, token, sessionId, nowMs);
    this.remove(h);
    return h;
  }

  /** Removes every lease on exactly `path`, live or expired, whoever holds it (an admin's break). */
  breakPath(path: string): Holding[] {
    const here = [...(this.byPath.get(path) ?? [])].sort(byPathThenToken);
    for (const h of here) this.remove(h);
    return here;
  }

  /**
   * Admits or refuses a mutation of `targets` by `caller` presenting `token`: LOCKED when a live lease
   * covers a target and no (or a non-exclusive, or another holder's) token is given, or one that the
   * caller may not use (neither its session's nor delegated with the lock's secret); STALE_TOKEN when
   * the token is not a live lease covering the targets — expired, released, superseded, or for another
   * path.
   */
  fence(
    targets: readonly FenceTarget[],
    token: number | undefined,
    caller: FenceCaller,
    nowMs: number,
  ): void {
    if (this.byPath.size === 0 && token === undefined) return;
    const seen = new Map<number, Holding>();
    for (const t of targets) for (const h of this.related(t.path, t.subtree, nowMs)) seen.set(h.token, h);
    const covering = [...seen.values()].sort(byPathThenToken);
    const path = targets[0]?.path;
    const holders = covering.map(holderInfo);
    if (token === undefined) {
      if (covering.length > 0)
        fail("LOCKED", `${path} is locked: a lock token is required`, { path, holders });
      return;
    }
    const mine = seen.get(token);
    if (mine === undefined) {
      fail("STALE_TOKEN", `lock token ${token} is not a live lock covering ${path}`, {
        path,
        token,
        holders,
      });
    }
    const delegated = mine.secretHash !== undefined && mine.secretHash === caller.lockSecretHash;
    if (mine.sessionId !== caller.sessionId && !delegated) {
      fail("LOCKED", `${path} is locked: lock token ${token} belongs to another session`, {
        path,
        token,
        holders,
      });
    }
    if (mine.mode !== "exclusive")
      fail("LOCKED", "a shared lock does not permit writes", { path, token, holders });
    const foreign = covering.filter((h) => !sameHolder(h, mine));
    if (foreign.length > 0) {
      fail("LOCKED", `${path} is also locked by another holder`, {
        path,
        token,
        holders: foreign.map(holderInfo),
      });
    }
  }

  /** Removes up to `max` expired leases, earliest expiry first. Stale heap items cost amortized O(1). */
  sweep(nowMs: number, max: number): Holding[] {
    const removed: Holding[] = [];
    while (removed.length < max) {
      const top = this.expiry.peek();
      if (top === undefined || top.expiresAtMs >= nowMs) break;
      this.expiry.pop();
      const h = this.byToken.get(top.token);
      if (h === undefined || h.expiresAtMs !== top.expiresAtMs) continue;
      this.remove(h);
      removed.push(h);
    }
    return removed;
  }

  /** After a leader change: drop what already expired, restart every other lease in full. O(leases). */
  restartAll(nowMs: number): Holding[] {
    const all = [...this.byToken.values()].sort(byPathThenToken);
    const expired = all.filter((h) => !isLive(h, nowMs));
    for (const h of expired) this.remove(h);
    this.expiry.clear();
    for (const h of this.byToken.values()) {
      h.expiresAtMs = nowMs + h.ttlMs;
      this.expiry.push({ expiresAtMs: h.expiresAtMs, token: h.token });
    }
    return expired;
  }

  /** The caller's live lease; another session's answers exactly as a missing one does (no oracle). */
  private liveHolding(path: string, token: number, sessionId: number, nowMs: number): Holding {
    const h = this.byToken.get(token);
    if (h === undefined || h.path !== path || !isLive(h, nowMs) || h.sessionId !== sessionId) {
      fail("LOCK_NOT_HELD", `no live lock on ${path} with token ${token} held by session ${sessionId}`, {
        path,
        token,
      });
    }
    return h;
  }

  /** A live lease on exactly `path` with `token`, held by `sessionId` (a transaction's condition). */
  holds(path: string, token: number, sessionId: number | undefined, nowMs: number): boolean {
    const h = this.byToken.get(token);
    return h !== undefined && h.path === path && isLive(h, nowMs) && h.sessionId === sessionId;
  }

  private add(h: Holding): void {
    let list = this.byPath.get(h.path);
    if (list === undefined) {
      list = [];
      this.byPath.set(h.path, list);
      this.countLockedPath(h.path, 1);
    }
    list.push(h);
    this.byToken.set(h.token, h);
    this.expiry.push({ expiresAtMs: h.expiresAtMs, token: h.token });
  }

  private remove(h: Holding): void {
    const list = this.byPath.get(h.path);
    const i = list?.indexOf(h) ?? -1;
    assert(list !== undefined && i >= 0, "remove: the lease is in the table");
    list.splice(i, 1);
    this.byToken.delete(h.token);
    if (list.length === 0) {
      this.byPath.delete(h.path);
      this.countLockedPath(h.path, -1);
    }
  }

  private countLockedPath(path: string, delta: number): void {
    for (const p of [...ancestorsOf(path), path]) {
      const n = (this.lockedBelow.get(p) ?? 0) + delta;
      assert(n >= 0, "lockedBelow stays non-negative");
      if (n === 0) this.lockedBelow.delete(p);
      else this.lockedBelow.set(p, n);
    }
  }

  // ---- snapshot and checks ----

  toSnapshot(): LockHoldingSnapshot[] {
    return [...this.byToken.values()].map((h) => ({ ...h })).sort(byPathThenToken);
  }

  static fromSnapshot(holdings: readonly LockHoldingSnapshot[], maxHoldings: number): LockTable {
    const table = new LockTable(maxHoldings);
    for (const h of holdings) {
      assert(
        isNormalPath(h.path) && !table.byToken.has(h.token),
        "snapshot: lease paths normal, tokens unique",
      );
      table.add({ ...h });
    }
    return table;
  }

  /** For tests: the derived indexes match the leases, and no two holders' live leases conflict. */
  checkInvariants(nowMs: number): void {
    const expected = new Map<string, number>();
    for (const p of this.byPath.keys()) {
      for (const a of [...ancestorsOf(p), p]) expected.set(a, (expected.get(a) ?? 0) + 1);
    }
    assert(expected.size === this.lockedBelow.size, "lockedBelow has the right keys");
    for (const [p, n] of expected) assert(this.lockedBelow.get(p) === n, `lockedBelow(${p}) is ${n}`);
    for (const [p, list] of this.byPath) {
      assert(list.length > 0, "no empty lease lists");
      for (const h of list) assert(h.path === p && this.byToken.get(h.token) === h, "indexes agree");
    }
    for (const h of this.byToken.values()) {
      if (!isLive(h, nowMs)) continue;
      for (const o of this.related(h.path, true, nowMs)) {
        if (sameHolder(o, h)) continue;
        assert(h.mode === "shared" && o.mode === "shared", `leases ${h.token} and ${o.token} conflict`);
      }
    }
  }
}
