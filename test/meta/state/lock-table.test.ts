/**
 * The lock table's promises that the command-level tests (locks.test.ts) left unpinned, found by
 * mutation testing (bench/RESULTS.md, "Mutation testing"): the order in which leases are listed, swept
 * and reported; the exact messages and details of its errors; expired leases below a directory; the
 * table's bound with expired leases in it; and the invariant checker, which must fire on a broken table.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AssertionError } from "../../../src/common/assert.js";
import { DfsError } from "../../../src/common/errors.js";
import { type AcquireRequest, LockTable } from "../../../src/meta/state/locks.js";
import type { LockHoldingSnapshot } from "../../../src/meta/state/types.js";
import { Harness, inline } from "./helpers.js";

const X = { type: "lockAcquire", mode: "exclusive", ttlMs: 1000, owner: "x" } as const;
const S = { type: "lockAcquire", mode: "shared", ttlMs: 1000, owner: "r" } as const;

function acquire(h: Harness, req: Record<string, unknown> & { path: string }, session?: number): number {
  return h.ok<{ token: number }>({ ...X, ...req }, session).token;
}

function req(over: Partial<AcquireRequest> & { path: string; token: number }): AcquireRequest {
  return { mode: "exclusive", ttlMs: 1000, owner: "x", sessionId: 1, ...over };
}

function lease(over: Partial<LockHoldingSnapshot> & { path: string; token: number }): LockHoldingSnapshot {
  return {
    mode: "exclusive",
    owner: "x",
    sessionId: 1,
    ttlMs: 1000,
    acquiredAtMs: 0,
    expiresAtMs: 1000,
    ...over,
  };
}

/** Runs `f`, which must fail with a DfsError; returns it. */
function dfsError(f: () => unknown): DfsError {
  try {
    f();
  } catch (e) {
    if (e instanceof DfsError) return e;
    throw e;
  }
  return expect.fail("expected a DfsError");
}

describe("lock listings are in path order, then token order, whatever the order of acquisition", () => {
  it("locks(), the snapshot, LOCKED holders and leaderChanged's unlocks", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    acquire(h, { ...S, path: "/d/z" }, a);
    acquire(h, { ...S, path: "/d/b" }, a);
    acquire(h, { ...S, path: "/d" }, a);
    const sorted = ["/d", "/d/b", "/d/z"];
    expect(h.fs.locks().map((l) => l.path)).toEqual(sorted);
    expect(h.fs.snapshot().locks.map((l) => l.path)).toEqual(sorted);
    // acquire's conflict check and fence both report the holders sorted.
    // The conflict check reports the holders sorted.
    expect(h.err({ ...X, path: "/d" }, b).holders).toMatchObject(sorted.map((path) => ({ path })));
    h.advance(5000);
    const r = h.apply({ type: "leaderChanged" });
    expect(r.changes.map((c) => c.path)).toEqual(sorted);
  });

  it("a fence over two targets reports the covering leases sorted, not in target order", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    h.ok({ type: "commit", path: "/z", content: inline("z") }, a);
    acquire(h, { path: "/a" }, a);
    acquire(h, { path: "/z" }, a);
    const e = h.err({ type: "rename", from: "/z", to: "/a" }, b);
    expect(e).toMatchObject({ code: "LOCKED", holders: [{ path: "/a" }, { path: "/z" }] });
  });

  it("many shared leases on one path list in token order (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 0, max: 39 }), (n, drop) => {
        const table = new LockTable(100);
        for (let t = 1; t <= n; t++)
          table.acquire(req({ path: "/p", mode: "shared", token: t, sessionId: t }), 0);
        if (drop < n) table.release("/p", drop + 1, drop + 1, 0);
        const tokens = table.list(undefined, 0).map((l) => l.token);
        expect(tokens).toEqual([...tokens].sort((x, y) => x - y));
        expect(table.breakPath("/p").map((l) => l.token)).toEqual(tokens);
      }),
    );
  });
});

describe("sweeping expired leases", () => {
  it("goes earliest expiry first, ties in token order, at most 16 per entry (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: 4 }), { minLength: 1, maxLength: 40 }), (ttls) => {
        const h = new Harness();
        const a = h.openSession();
        const leases = ttls.map((ttl, i) => {
          const path = `/f${i}`;
          const token = acquire(h, { ...S, path, ttlMs: ttl * 100 }, a);
          return { path, token, expiresAtMs: h.nowMs + ttl * 100 };
        });
        h.advance(1000);
        const expected = [...leases]
          .sort((x, y) => x.expiresAtMs - y.expiresAtMs || x.token - y.token)
          .map((l) => l.path);
        const swept: string[] = [];
        while (swept.length < expected.length) {
          const r = h.apply({ type: "noop" });
          const unlocks = r.changes.filter((c) => c.kind === "unlock").map((c) => c.path);
          expect(unlocks.length).toBe(Math.min(16, expected.length - swept.length));
          swept.push(...unlocks);
        }
        expect(swept).toEqual(expected);
      }),
    );
  });

  it("removes the second lease on a path, leaving the first", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const ta = acquire(h, { ...S, path: "/g" }, a);
    const tb = acquire(h, { ...S, path: "/g" }, b);
    h.ok({ type: "lockRelease", path: "/g", token: tb }, b);
    expect(h.fs.snapshot().locks.map((l) => l.token)).toEqual([ta]);
    h.fs.checkInvariants();
  });
});

describe("expired leases not yet swept", () => {
  it("below a directory do not block locking the directory", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    acquire(h, { path: "/d/e" }, a);
    h.advance(1001); // expired; the next entry is the acquire itself, which sweeps only afterwards
    acquire(h, { path: "/d" }, b);
  });

  it("are not shown by stat (17 expire at once; an entry sweeps 16)", () => {
    const h = new Harness();
    const a = h.openSession();
    h.ok({ type: "commit", path: "/f16", content: inline("f") }, a);
    for (let i = 0; i < 17; i++) acquire(h, { path: `/f${i}` }, a);
    h.advance(1001);
    h.apply({ type: "noop" });
    expect(h.fs.snapshot().locks.map((l) => l.path)).toEqual(["/f16"]);
    expect(h.fs.stat("/f16").lock).toBeUndefined();
  });

  it("free their place in a full table", () => {
    const table = new LockTable(2);
    table.acquire(req({ path: "/a", token: 1 }), 0);
    table.acquire(req({ path: "/b", token: 2, ttlMs: 10 }), 0);
    expect(dfsError(() => table.acquire(req({ path: "/c", token: 3 }), 0)).code).toBe("LIMIT_EXCEEDED");
    // /b's lease expired at 10; re-acquiring /b by anyone replaces it within the bound.
    const { expired } = table.acquire(req({ path: "/b", token: 4, sessionId: 2 }), 20);
    expect(expired.map((l) => l.token)).toEqual([2]);
    expect(table.holdingCount).toBe(2);
  });
});

describe("lock errors say what happened and carry their details", () => {
  it("LOCKED, LIMIT_EXCEEDED, STALE_TOKEN, LOCK_NOT_HELD", () => {
    const table = new LockTable(2);
    table.acquire(req({ path: "/f", token: 1 }), 0);
    const holder = { path: "/f", mode: "exclusive", owner: "x", sessionId: 1 };
    expect(
      dfsError(() => table.acquire(req({ path: "/f", token: 2, sessionId: 2 }), 0)).toJSON(),
    ).toMatchObject({
      code: "LOCKED",
      message: "/f is locked",
      path: "/f",
      holders: [holder],
    });
    table.acquire(req({ path: "/g", token: 3 }), 0);
    expect(dfsError(() => table.acquire(req({ path: "/h", token: 4 }), 0)).toJSON()).toEqual({
      code: "LIMIT_EXCEEDED",
      message: "the lock table is full (2 leases)",
      limit: 2,
    });
    const target = [{ path: "/f", subtree: false }];
    expect(dfsError(() => table.fence(target, undefined, { sessionId: 2 }, 0)).toJSON()).toMatchObject({
      code: "LOCKED",
      message: "/f is locked: a lock token is required",
      path: "/f",
      holders: [holder],
    });
    expect(dfsError(() => table.fence(target, 3, { sessionId: 1 }, 0)).toJSON()).toMatchObject({
      code: "STALE_TOKEN",
      message: "lock token 3 is not a live lock covering /f",
      path: "/f",
      token: 3,
      holders: [holder],
    });
    expect(dfsError(() => table.fence(target, 1, { sessionId: 2 }, 0)).toJSON()).toMatchObject({
      code: "LOCKED",
      message: "/f is locked: lock token 1 belongs to another session",
      path: "/f",
      token: 1,
      holders: [holder],
    });
    expect(dfsError(() => table.renew("/f", 1, 2, 0)).toJSON()).toEqual({
      code: "LOCK_NOT_HELD",
      message: "no live lock on /f with token 1 held by session 2",
      path: "/f",
      token: 1,
    });
  });

  it("a shared token, and a token alongside another holder's lease", () => {
    const table = new LockTable(10);
    table.acquire(req({ path: "/s", mode: "shared", token: 1 }), 0);
    const s = [{ path: "/s", subtree: false }];
    expect(dfsError(() => table.fence(s, 1, { sessionId: 1 }, 0)).toJSON()).toMatchObject({
      code: "LOCKED",
      message: "a shared lock does not permit writes",
      path: "/s",
      token: 1,
      holders: [{ path: "/s", mode: "shared" }],
    });
    // Two targets, the token's lease on one, another holder's (compatible) lease on the other.
    table.acquire(req({ path: "/a", token: 2 }), 0);
    table.acquire(req({ path: "/b", mode: "shared", token: 3, sessionId: 2 }), 0);
    const targets = [
      { path: "/a", subtree: true },
      { path: "/b", subtree: true },
    ];
    expect(dfsError(() => table.fence(targets, 2, { sessionId: 1 }, 0)).toJSON()).toMatchObject({
      code: "LOCKED",
      message: "/a is also locked by another holder",
      path: "/a",
      token: 2,
      holders: [{ path: "/b", sessionId: 2 }],
    });
  });
});

describe("holds (a transaction's lockToken condition)", () => {
  it("needs the exact path the token locks", () => {
    const h = new Harness();
    const a = h.openSession();
    const t = acquire(h, { path: "/d" }, a);
    const on = (path: string) => ({
      type: "txn",
      conditions: [{ kind: "lockToken", path, token: t }],
      ops: [],
    });
    expect(h.err(on("/d/e"), a).code).toBe("CONDITION_FAILED");
    expect(h.ok(on("/d"), a)).toEqual({ results: [] });
  });
});

describe("restoring from a snapshot", () => {
  it("refuses duplicate tokens and non-normal paths", () => {
    expect(() =>
      LockTable.fromSnapshot([lease({ path: "/a", token: 1 }), lease({ path: "/b", token: 1 })], 10),
    ).toThrow("snapshot: lease paths normal, tokens unique");
    expect(() => LockTable.fromSnapshot([lease({ path: "/a/", token: 1 })], 10)).toThrow(AssertionError);
    expect(() => LockTable.fromSnapshot([lease({ path: "/a", token: 1 })], 10)).not.toThrow();
  });
});

describe("checkInvariants fires on a broken table", () => {
  type Insides = { lockedBelow: Map<string, number>; byPath: Map<string, LockHoldingSnapshot[]> };
  const insides = (t: LockTable) => t as unknown as Insides;
  const two = (a: Partial<LockHoldingSnapshot>, b: Partial<LockHoldingSnapshot>) =>
    LockTable.fromSnapshot(
      [lease({ path: "/d", token: 1, ...a }), lease({ path: "/d/e", token: 2, ...b })],
      10,
    );

  it("two holders' live conflicting leases", () => {
    expect(() => two({}, { sessionId: 2 }).checkInvariants(0)).toThrow("leases 1 and 2 conflict");
    expect(() => two({ mode: "shared" }, { sessionId: 2 }).checkInvariants(0)).toThrow("conflict");
    expect(() => two({}, { sessionId: 2, mode: "shared" }).checkInvariants(0)).toThrow("conflict");
    // Not a conflict: both shared, one holder nesting, or one of them expired.
    two({ mode: "shared" }, { sessionId: 2, mode: "shared" }).checkInvariants(0);
    two({}, {}).checkInvariants(0);
    two({ expiresAtMs: 5 }, { sessionId: 2, expiresAtMs: 50 }).checkInvariants(10);
    two({ expiresAtMs: 50 }, { sessionId: 2, expiresAtMs: 5 }).checkInvariants(10);
  });

  it("derived indexes that disagree with the leases", () => {
    const extraKey = two({}, {});
    insides(extraKey).lockedBelow.set("/x", 1);
    expect(() => extraKey.checkInvariants(0)).toThrow("lockedBelow has the right keys");
    const wrongCount = two({}, {});
    insides(wrongCount).lockedBelow.set("/d", 5);
    expect(() => wrongCount.checkInvariants(0)).toThrow("lockedBelow(/d) is 2");
    const emptyList = two({}, {});
    insides(emptyList).byPath.get("/d")?.pop();
    expect(() => emptyList.checkInvariants(0)).toThrow("no empty lease lists");
    const wrongPath = two({}, {});
    // The lease object itself, so only its path disagrees with the list it is in.
    const e = insides(wrongPath).byPath.get("/d/e")?.[0];
    if (e !== undefined) insides(wrongPath).byPath.get("/d")?.push(e);
    expect(() => wrongPath.checkInvariants(0)).toThrow("indexes agree");
    const notIndexed = two({}, {});
    insides(notIndexed)
      .byPath.get("/d")
      ?.splice(0, 1, lease({ path: "/d", token: 1 }));
    expect(() => notIndexed.checkInvariants(0)).toThrow("indexes agree");
  });
});
