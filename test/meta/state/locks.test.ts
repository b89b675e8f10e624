import { describe, expect, it } from "vitest";
import { Harness, inline, liveHoldings, secretHash } from "./helpers.js";

const X = { type: "lockAcquire", mode: "exclusive", ttlMs: 1000, owner: "x" } as const;
const S = { type: "lockAcquire", mode: "shared", ttlMs: 1000, owner: "r" } as const;

function acquire(h: Harness, req: Record<string, unknown> & { path: string }, session?: number): number {
  return h.ok<{ token: number }>({ ...X, ...req }, session).token;
}

describe("lockAcquire / renew / release", () => {
  it("grants a fencing token equal to the entry index; stat and locks() show the holder but never the token", () => {
    const h = new Harness();
    const s = h.session;
    const r = h.send({ ...X, path: "/f" });
    expect(r).toEqual({
      ok: true,
      value: { token: h.index, expiresAtMs: h.nowMs + 1000 },
      changes: [{ index: h.index, path: "/f", kind: "lock" }],
    });
    expect(h.fs.locks()).toEqual([
      {
        path: "/f",
        mode: "exclusive",
        owner: "x",
        sessionId: s,
        ttlMs: 1000,
        acquiredAtMs: h.nowMs,
        expiresAtMs: h.nowMs + 1000,
      },
    ]);
    h.ok({ type: "commit", path: "/f", content: inline("x"), lockToken: h.index });
    expect(h.fs.stat("/f").lock).toMatchObject({
      mode: "exclusive",
      holders: [{ owner: "x", sessionId: s }],
    });
    expect(h.fs.stat("/f").lock?.holders[0]).not.toHaveProperty("token");
  });

  it("exclusive conflicts with any other holder; shared only with exclusive", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    acquire(h, { path: "/f" }, a);
    expect(h.err({ ...X, path: "/f", owner: "y" }, b)).toMatchObject({
      code: "LOCKED",
      holders: [{ path: "/f", owner: "x", sessionId: a, mode: "exclusive" }],
    });
    expect(h.err({ ...S, path: "/f" }, b).code).toBe("LOCKED");
    // Same owner name, other session: another holder.
    expect(h.err({ ...X, path: "/f" }, b).code).toBe("LOCKED");

    acquire(h, { ...S, path: "/g" }, a);
    acquire(h, { ...S, path: "/g" }, b);
    expect(h.fs.locks("/g")).toHaveLength(2);
    expect(h.err({ ...X, path: "/g", owner: "w" }, b).code).toBe("LOCKED");
  });

  it("is hierarchical: a lease on a directory conflicts with other holders' leases below and above it", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    acquire(h, { path: "/d" }, a);
    expect(h.err({ ...X, path: "/d/e/f" }, b).code).toBe("LOCKED");
    expect(h.err({ ...S, path: "/d/e" }, b).code).toBe("LOCKED");
    // The holder itself may nest.
    acquire(h, { path: "/d/e" }, a);
    acquire(h, { ...S, path: "/p/q" }, a);
    expect(h.err({ ...X, path: "/p" }, b).code).toBe("LOCKED");
    expect(h.err({ ...X, path: "/" }, b).code).toBe("LOCKED");
    acquire(h, { ...S, path: "/p" }, b);
    h.fs.checkInvariants();
  });

  it("re-acquiring replaces the holder's own lease with a fresh token (upgrade, downgrade)", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const t1 = acquire(h, { ...S, path: "/f", owner: "x" }, a);
    const t2 = acquire(h, { path: "/f" }, a);
    expect(t2).toBeGreaterThan(t1);
    expect(liveHoldings(h.fs, "/f").map((l) => [l.token, l.mode])).toEqual([[t2, "exclusive"]]);
    expect(h.err({ type: "commit", path: "/f", content: inline("x"), lockToken: t1 }, a).code).toBe(
      "STALE_TOKEN",
    );
    const t3 = acquire(h, { ...S, path: "/f", owner: "x" }, a);
    acquire(h, { ...S, path: "/f", owner: "y" }, b);
    // Upgrading now conflicts with b's shared lease: refused, and a keeps its shared lease t3.
    expect(h.err({ ...X, path: "/f" }, a).code).toBe("LOCKED");
    expect(liveHoldings(h.fs, "/f").map((l) => l.token)).toContain(t3);
  });

  it("renew extends the lease to now + ttl; release removes it with an unlock change", () => {
    const h = new Harness();
    const t = acquire(h, { path: "/f" });
    h.advance(800);
    expect(h.ok({ type: "lockRenew", path: "/f", token: t })).toEqual({ expiresAtMs: h.nowMs + 1000 });
    h.advance(800);
    const r = h.send({ type: "lockRelease", path: "/f", token: t });
    expect(r).toEqual({
      ok: true,
      value: { released: true },
      changes: [{ index: h.index, path: "/f", kind: "unlock" }],
    });
    expect(h.fs.locks()).toEqual([]);
    expect(h.err({ type: "lockRelease", path: "/f", token: t }).code).toBe("LOCK_NOT_HELD");
    expect(h.err({ type: "lockRenew", path: "/f", token: t }).code).toBe("LOCK_NOT_HELD");
  });

  it("a renewed lease is not swept at its old expiry", () => {
    const h = new Harness();
    const t = acquire(h, { path: "/f" });
    h.advance(800);
    h.ok({ type: "lockRenew", path: "/f", token: t });
    h.advance(400); // past the first expiry, before the renewed one
    expect(h.apply({ type: "noop" }).changes).toEqual([]);
    expect(liveHoldings(h.fs).map((l) => l.token)).toEqual([t]);
    h.advance(600); // exactly the renewed expiry: still live
    expect(h.apply({ type: "noop" }).changes).toEqual([]);
    h.advance(1);
    expect(h.apply({ type: "noop" }).changes).toEqual([{ index: h.index, path: "/f", kind: "unlock" }]);
  });

  it("renew or release with the wrong path or token is LOCK_NOT_HELD", () => {
    const h = new Harness();
    const t = acquire(h, { path: "/f" });
    expect(h.err({ type: "lockRenew", path: "/g", token: t }).code).toBe("LOCK_NOT_HELD");
    expect(h.err({ type: "lockRelease", path: "/f", token: t + 1 }).code).toBe("LOCK_NOT_HELD");
  });

  it("an expired lease is released: others may lock, it cannot be renewed, and it shows as unlock", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const t = acquire(h, { path: "/f" }, a);
    h.advance(1000);
    h.apply({ type: "noop" });
    expect(h.fs.locks()).toHaveLength(1); // live while now <= expiresAtMs
    h.advance(1);
    h.apply({ type: "bogus" }); // a failed entry moves time but sweeps nothing
    expect(h.fs.locks()).toHaveLength(0); // queries judge liveness at the last entry's time
    expect(h.fs.snapshot().locks).toHaveLength(1); // still physically there
    expect(h.err({ type: "lockRenew", path: "/f", token: t }, a).code).toBe("LOCK_NOT_HELD");
    const r = h.send({ ...X, path: "/f", owner: "y" }, b);
    expect(r.changes.map((c) => c.kind)).toEqual(["unlock", "lock"]);
  });

  it("expired leases are swept by later successful entries, reported as unlock", () => {
    const h = new Harness();
    acquire(h, { path: "/f" });
    acquire(h, { path: "/g", ttlMs: 5000 });
    h.advance(2000);
    const r = h.apply({ type: "noop" });
    expect(r.changes).toEqual([{ index: h.index, path: "/f", kind: "unlock" }]);
    expect(h.fs.snapshot().locks.map((l) => l.path)).toEqual(["/g"]);
  });

  it("leaderChanged restarts every live lease in full and drops expired ones", () => {
    const h = new Harness();
    const t = acquire(h, { path: "/f" });
    acquire(h, { path: "/g", ttlMs: 100 });
    h.advance(900);
    const r = h.apply({ type: "leaderChanged" });
    expect(r).toEqual({ ok: true, value: null, changes: [{ index: h.index, path: "/g", kind: "unlock" }] });
    expect(liveHoldings(h.fs)).toMatchObject([{ token: t, expiresAtMs: h.nowMs + 1000 }]);
    h.advance(900);
    expect(h.ok({ type: "lockRenew", path: "/f", token: t })).toEqual({ expiresAtMs: h.nowMs + 1000 });
  });

  it("validates ttl, mode and owner, and bounds the table", () => {
    const h = new Harness({ maxLockHoldings: 2 });
    for (const bad of [
      { ttlMs: 0 },
      { ttlMs: 25 * 3600 * 1000 },
      { mode: "read" },
      { owner: "" },
      { owner: 7 },
    ]) {
      expect(h.err({ ...X, path: "/f", ...bad }).code).toBe("BAD_REQUEST");
    }
    acquire(h, { path: "/a" });
    acquire(h, { path: "/b" });
    expect(h.err({ ...X, path: "/c" }).code).toBe("LIMIT_EXCEEDED");
    // Re-acquiring one's own lease replaces it, so it fits.
    acquire(h, { path: "/a" });
  });
});

describe("fencing", () => {
  it("a mutation of a locked path needs a current token: none → LOCKED, old → STALE_TOKEN", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const ta = acquire(h, { path: "/f", owner: "a" }, a);
    expect(h.err({ type: "commit", path: "/f", content: inline("b") }, b).code).toBe("LOCKED");
    h.ok({ type: "commit", path: "/f", content: inline("a1"), lockToken: ta }, a);
    h.advance(1001); // a's lease expires (a GC pause, say), b takes the lock
    const tb = acquire(h, { path: "/f", owner: "b" }, b);
    const stale = h.err({ type: "commit", path: "/f", content: inline("a2"), lockToken: ta }, a);
    expect(stale).toMatchObject({ code: "STALE_TOKEN", token: ta, holders: [{ owner: "b", sessionId: b }] });
    // An error shows who holds the lock, never the holder's token.
    expect((stale.holders as object[])[0]).not.toHaveProperty("token");
    h.ok({ type: "commit", path: "/f", content: inline("b1"), lockToken: tb }, b);
    expect(h.fs.stat("/f").version).toBe(2);
  });

  it("a token whose lease expired is stale even if nobody took the lock", () => {
    const h = new Harness();
    const t = acquire(h, { path: "/f" });
    h.advance(2000);
    expect(h.err({ type: "commit", path: "/f", content: inline("x"), lockToken: t }).code).toBe(
      "STALE_TOKEN",
    );
    h.ok({ type: "commit", path: "/f", content: inline("x") });
  });

  it("a lock may name a file that does not exist yet", () => {
    const h = new Harness();
    const t = acquire(h, { path: "/new" });
    expect(h.err({ type: "commit", path: "/new", content: inline("x"), lockToken: undefined }).code).toBe(
      "LOCKED",
    );
    expect(h.err({ type: "mkdir", path: "/new" }).code).toBe("LOCKED");
    expect(
      h.ok({ type: "commit", path: "/new", content: inline("x"), lockToken: t, expectedVersion: 0 }),
    ).toEqual({
      version: 1,
    });
  });

  it("a lease on a directory covers everything below it", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/d/f", content: inline("x"), createParents: true });
    const t = acquire(h, { path: "/d" });
    expect(h.err({ type: "commit", path: "/d/f", content: inline("y") }).code).toBe("LOCKED");
    expect(h.err({ type: "delete", path: "/d/f" }).code).toBe("LOCKED");
    expect(h.err({ type: "rename", from: "/d/f", to: "/g" }).code).toBe("LOCKED");
    expect(h.err({ type: "rename", from: "/g", to: "/d/g" }).code).toBe("LOCKED");
    h.ok({ type: "commit", path: "/d/f", content: inline("y"), lockToken: t });
  });

  it("deleting or renaming a directory is fenced by leases anywhere below it", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/d/e/f", content: inline("x"), createParents: true });
    const t = acquire(h, { path: "/d/e/f" });
    expect(h.err({ type: "delete", path: "/d", recursive: true }).code).toBe("LOCKED");
    expect(h.err({ type: "rename", from: "/d", to: "/z" }).code).toBe("LOCKED");
    h.ok({ type: "rename", from: "/d", to: "/z", lockToken: t });
    // The lease stays on the name /d/e/f, which no longer exists; the moved file is free.
    h.ok({ type: "commit", path: "/z/e/f", content: inline("y") });
  });

  it("shared leases block writers, including their own holders", () => {
    const h = new Harness();
    const t = acquire(h, { ...S, path: "/f" });
    expect(h.err({ type: "commit", path: "/f", content: inline("x") }).code).toBe("LOCKED");
    expect(h.err({ type: "commit", path: "/f", content: inline("x"), lockToken: t })).toMatchObject({
      code: "LOCKED",
      message: expect.stringMatching(/shared/),
    });
  });

  it("one holder's token admits a rename between two paths it holds; a token for another path is stale", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/a", content: inline("x") });
    const ta = acquire(h, { path: "/a" });
    acquire(h, { path: "/b" });
    h.ok({ type: "rename", from: "/a", to: "/b", lockToken: ta });
    const tc = acquire(h, { path: "/c" });
    expect(h.err({ type: "commit", path: "/x", content: inline("x"), lockToken: tc }).code).toBe(
      "STALE_TOKEN",
    );
  });

  it("a token does not admit paths also covered by another holder's lease", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    h.ok({ type: "commit", path: "/a", content: inline("x") }, a);
    const ta = acquire(h, { path: "/a" }, a);
    acquire(h, { path: "/b", owner: "other" }, b);
    expect(h.err({ type: "rename", from: "/a", to: "/b", lockToken: ta }, a)).toMatchObject({
      code: "LOCKED",
      holders: [{ path: "/b" }],
    });
  });
});

describe("lock tokens are capabilities of the acquiring session", () => {
  it("another session cannot renew, release or write under the lock, even with the right token", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const t = acquire(h, { path: "/f", owner: "a" }, a);
    const before = h.fs.partHashes();
    expect(h.err({ type: "lockRenew", path: "/f", token: t }, b).code).toBe("LOCK_NOT_HELD");
    expect(h.err({ type: "lockRelease", path: "/f", token: t }, b).code).toBe("LOCK_NOT_HELD");
    const fenced = h.err({ type: "commit", path: "/f", content: inline("b"), lockToken: t }, b);
    expect(fenced).toMatchObject({ code: "LOCKED", message: expect.stringMatching(/another session/) });
    expect(h.err({ type: "delete", path: "/f", lockToken: t }, b).code).toBe("LOCKED");
    expect(
      h.err({ type: "txn", conditions: [], ops: [{ type: "mkdir", path: "/f", lockToken: t }] }, b).code,
    ).toBe("LOCKED");
    // Nothing the foreign session did changed a lease or a file.
    const after = h.fs.partHashes();
    expect([after.locks, after.namespace]).toEqual([before.locks, before.namespace]);
    // The holder still can.
    h.ok({ type: "commit", path: "/f", content: inline("a"), lockToken: t }, a);
    h.ok({ type: "lockRenew", path: "/f", token: t }, a);
    h.ok({ type: "lockRelease", path: "/f", token: t }, a);
  });

  it("the lock's own secret delegates writing under it to another session, not renewing or releasing", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const t = acquire(h, { path: "/f", secretHash: secretHash("lock secret") }, a);
    expect(JSON.stringify([h.fs.locks(), h.fs.stat("/").lock ?? null])).not.toContain(
      secretHash("lock secret"),
    );
    const write = (lockSecretHash: string) => ({
      type: "commit",
      path: "/f",
      content: inline("b"),
      lockToken: t,
      lockSecretHash,
    });
    expect(h.err(write(secretHash("guess")), b).code).toBe("LOCKED");
    expect(h.ok(write(secretHash("lock secret")), b)).toEqual({ version: 1 });
    const txn = {
      type: "txn",
      conditions: [],
      ops: [{ ...write(secretHash("lock secret")), type: "commit" }],
    };
    expect(h.ok(txn, b)).toMatchObject({ results: [{ version: 2 }] });
    expect(h.err({ type: "lockRenew", path: "/f", token: t }, b).code).toBe("LOCK_NOT_HELD");
    expect(h.err({ type: "lockRelease", path: "/f", token: t }, b).code).toBe("LOCK_NOT_HELD");
    // A lock acquired without a secret cannot be delegated.
    const t2 = acquire(h, { path: "/g" }, a);
    const g = {
      type: "commit",
      path: "/g",
      content: inline("b"),
      lockToken: t2,
      lockSecretHash: secretHash(""),
    };
    expect(h.err(g, b).code).toBe("LOCKED");
    expect(h.err({ ...write("nothex"), path: "/f" }, b).code).toBe("BAD_REQUEST");
  });

  it("a transaction's lockToken condition holds only for the holding session", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const t = acquire(h, { path: "/f" }, a);
    const txn = { type: "txn", conditions: [{ kind: "lockToken", path: "/f", token: t }], ops: [] };
    expect(h.err(txn, b).code).toBe("CONDITION_FAILED");
    expect(h.ok(txn, a)).toEqual({ results: [] });
  });
});

describe("breakLock (admin)", () => {
  it("removes every lease on exactly the path, whoever holds it, and reports them without tokens", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const ta = acquire(h, { ...S, path: "/d", owner: "a" }, a);
    acquire(h, { ...S, path: "/d", owner: "b" }, b);
    const below = acquire(h, { path: "/d/e/f", ...S, owner: "a2" }, a);
    const r = h.apply({ type: "breakLock", path: "/d/", by: "token ops" });
    expect(r).toMatchObject({
      ok: true,
      value: {
        path: "/d",
        broken: [
          { path: "/d", mode: "shared", owner: "a", sessionId: a },
          { path: "/d", mode: "shared", owner: "b", sessionId: b },
        ],
      },
      changes: [{ index: h.index, path: "/d", kind: "unlock" }],
    });
    expect(JSON.stringify(r)).not.toContain('"token"');
    expect(liveHoldings(h.fs).map((l) => l.token)).toEqual([below]);
    // The broken holder learns it at its next renewal; its token no longer fences anything.
    expect(h.err({ type: "lockRenew", path: "/d", token: ta }, a).code).toBe("LOCK_NOT_HELD");
    acquire(h, { ...S, path: "/d" }, b);
    h.fs.checkInvariants();
  });

  it("on an unlocked path breaks nothing; with a session it is exactly-once", () => {
    const h = new Harness();
    expect(h.apply({ type: "breakLock", path: "/x", by: "admin" })).toEqual({
      ok: true,
      value: { path: "/x", broken: [] },
      changes: [],
    });
    const admin = h.openSession();
    const t = acquire(h, { path: "/x" });
    const cmd = { type: "breakLock", path: "/x", by: "admin", session: h.ref(admin, 1) };
    expect(h.apply(cmd)).toMatchObject({ ok: true, value: { broken: [{ path: "/x" }] } });
    const t2 = acquire(h, { path: "/x" });
    expect(t2).toBeGreaterThan(t);
    // A retry of the break (after a timeout) must not break the lease granted since.
    expect(h.apply(cmd)).toMatchObject({ ok: true, changes: [] });
    expect(liveHoldings(h.fs).map((l) => l.token)).toEqual([t2]);
    expect(h.apply({ type: "breakLock", path: "/x" })).toMatchObject({ error: { code: "BAD_REQUEST" } });
  });
});
