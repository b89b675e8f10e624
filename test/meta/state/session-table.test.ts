/**
 * The session table on its own (sessions.test.ts drives it through commands): exact error messages
 * and details, the idle timeout's boundary, the sweep's bound, result eviction and acknowledgement,
 * and the snapshot's shape and validation. Written for mutation testing (bench/RESULTS.md).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DfsError } from "../../../src/common/errors.js";
import { type SessionLimits, SessionTable } from "../../../src/meta/state/sessions.js";
import type { SessionSnapshot, StoredResult } from "../../../src/meta/state/types.js";

const LIMITS: SessionLimits = {
  timeoutMs: 1000,
  maxSessions: 3,
  maxSessionsPerClient: 2,
  maxResultsPerSession: 3,
};

function dfsError(f: () => unknown): ReturnType<DfsError["toJSON"]> {
  try {
    f();
  } catch (e) {
    if (e instanceof DfsError) return e.toJSON();
    throw e;
  }
  return expect.fail("expected a DfsError");
}

const ok = (value: unknown): StoredResult => ({ ok: true, value });
const ref = (id: number, seq: number, ackedSeq = 0) => ({ id, seq, ackedSeq, secretHash: "h" });

describe("SessionTable errors", () => {
  it("say which session and which limit", () => {
    const t = new SessionTable(LIMITS);
    expect(dfsError(() => t.authenticate(5, "h", 0))).toEqual({
      code: "SESSION_EXPIRED",
      message: "session 5 has expired or never existed",
      sessionId: 5,
    });
    t.open(1, "h", "c", 0);
    expect(dfsError(() => t.authenticate(1, "other", 0))).toEqual({
      code: "FORBIDDEN",
      message: "session 1: wrong session secret",
      sessionId: 1,
    });
    t.open(2, "h", "c", 0);
    expect(dfsError(() => t.open(3, "h", "c", 0))).toEqual({
      code: "LIMIT_EXCEEDED",
      message: "c holds 2 live sessions",
      limit: 2,
    });
    t.open(3, "h", "", 0);
    expect(dfsError(() => t.open(4, "h", "", 0))).toEqual({
      code: "LIMIT_EXCEEDED",
      message: "the session table is full (3 live sessions)",
      limit: 3,
    });
  });
});

describe("the idle timeout", () => {
  it("a session idle exactly timeoutMs is live; one more millisecond and it is gone", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    expect(t.authenticate(1, "h", 1000).id).toBe(1);
    expect(t.expireIdle(2000, 10)).toBe(0);
    expect(t.expireIdle(2001, 10)).toBe(1);
    expect(t.count).toBe(0);
  });

  it("expireIdle forgets at most max sessions, the least recently active first (property)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 0, max: 25 }), (n, max) => {
        const t = new SessionTable({ ...LIMITS, maxSessions: 100 });
        for (let id = 1; id <= n; id++) t.open(id, "h", "", id);
        const gone = t.expireIdle(5000, max);
        expect(gone).toBe(Math.min(n, max));
        expect(t.toSnapshot().map((s) => s.id)).toEqual(
          Array.from({ length: n - gone }, (_, i) => gone + i + 1),
        );
      }),
    );
  });

  it("a client at its share gets a place once one of its sessions expired, and its count falls", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "c", 0);
    t.open(2, "h", "c", 500);
    t.open(3, "h", "c", 1200); // 1 expired: swept on demand
    expect(t.toSnapshot().map((s) => s.id)).toEqual([2, 3]);
    t.close(2, "h", 1200);
    t.open(4, "h", "c", 1200);
    expect(dfsError(() => t.open(5, "h", "c", 1200)).code).toBe("LIMIT_EXCEEDED");
  });
});

describe("results and acknowledgements", () => {
  it("an acknowledgement forgets results at or below it; a seq at or below it is acked", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    const s = t.authenticate(1, "h", 0);
    t.store(s, 1, ok("a"));
    t.store(s, 2, ok("b"));
    expect(t.check(s, ref(1, 2, 1))).toEqual({ kind: "replay", result: ok("b") });
    expect(t.hasResult(1, 1)).toBe(false);
    expect(t.hasResult(1, 2)).toBe(true);
    expect(t.check(s, ref(1, 1, 0))).toEqual({ kind: "acked" });
    expect(t.check(s, ref(1, 3, 0))).toEqual({ kind: "new" });
    expect(t.toSnapshot()[0]).toMatchObject({ ackedSeq: 1, results: [{ seq: 2 }] });
  });

  it("over maxResultsPerSession the smallest seq goes and counts as acknowledged", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    const s = t.authenticate(1, "h", 0);
    for (const seq of [5, 2, 9, 7]) t.store(s, seq, ok(seq));
    expect(t.toSnapshot()[0]).toMatchObject({
      ackedSeq: 2,
      results: [{ seq: 5 }, { seq: 7 }, { seq: 9 }],
    });
    expect(t.check(s, ref(1, 2, 0))).toEqual({ kind: "acked" });
  });
});

describe("SessionTable snapshots", () => {
  const snap = (over: Partial<SessionSnapshot> & { id: number }): SessionSnapshot => ({
    secretHash: "h",
    lastActiveMs: 0,
    ackedSeq: 0,
    results: [],
    ...over,
  });

  it("keep the client only when known, and the results in seq order", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    const s = t.authenticate(1, "h", 0);
    t.store(s, 3, ok(3));
    t.store(s, 2, ok(2));
    t.open(2, "h", "c", 0);
    const out = t.toSnapshot();
    expect(out[0]).not.toHaveProperty("client");
    expect(out[0]?.results.map((r) => r.seq)).toEqual([2, 3]);
    expect(out[1]?.client).toBe("c");
    // The per-client count comes back with the snapshot.
    const back = SessionTable.fromSnapshot(out, { ...LIMITS, maxSessions: 10, maxSessionsPerClient: 1 });
    expect(dfsError(() => back.open(3, "h", "c", 0)).code).toBe("LIMIT_EXCEEDED");
    back.open(4, "h", "d", 0);
  });

  it("refuse duplicate ids, sessions out of activity order, and acknowledged results", () => {
    expect(() => SessionTable.fromSnapshot([snap({ id: 1 }), snap({ id: 1 })], LIMITS)).toThrow(
      "snapshot: session ids unique",
    );
    expect(() =>
      SessionTable.fromSnapshot([snap({ id: 1, lastActiveMs: 5 }), snap({ id: 2, lastActiveMs: 4 })], LIMITS),
    ).toThrow("snapshot: sessions in activity order");
    SessionTable.fromSnapshot([snap({ id: 1, lastActiveMs: 5 }), snap({ id: 2, lastActiveMs: 5 })], LIMITS);
    expect(() =>
      SessionTable.fromSnapshot([snap({ id: 1, ackedSeq: 2, results: [{ seq: 2, result: ok(1) }] })], LIMITS),
    ).toThrow("snapshot: only unacknowledged results are kept");
  });

  it("a restored result is frozen and a copy of the snapshot's", () => {
    const value = { n: 1 };
    const t = SessionTable.fromSnapshot([snap({ id: 1, results: [{ seq: 1, result: ok(value) }] })], LIMITS);
    value.n = 2;
    const s = t.authenticate(1, "h", 0);
    const r = t.check(s, ref(1, 1));
    expect(r).toEqual({ kind: "replay", result: ok({ n: 1 }) });
    if (r.kind === "replay") expect(Object.isFrozen((r.result as { value: object }).value)).toBe(true);
  });
});

// Written from the survivors of `npx stryker run --mutate src/meta/state/sessions.ts` (bench/RESULTS.md).
describe("opening a session", () => {
  it("a full table evicts only as many expired sessions as it needs, least recently active first", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    t.open(2, "h", "", 0);
    t.open(3, "h", "", 1500);
    // 1 and 2 are expired; one place is enough, so 2 stays until it is needed or swept.
    expect(t.open(4, "h", "", 1500)).toEqual([1]);
    expect(t.toSnapshot().map((s) => s.id)).toEqual([2, 3, 4]);
    expect(t.open(5, "h", "", 1500)).toEqual([2]);
    expect(t.count).toBe(3);
  });

  it("a client below its share, or unnamed, opens without sweeping anyone's expired sessions", () => {
    const t = new SessionTable({ ...LIMITS, maxSessions: 10 });
    t.open(1, "h", "c", 0);
    t.open(2, "h", "", 0);
    t.open(3, "h", "c", 5000);
    t.open(4, "h", "", 5000);
    expect(t.toSnapshot().map((s) => s.id)).toEqual([1, 2, 3, 4]);
  });

  it("an unnamed client is never limited per client, whatever the share", () => {
    const t = new SessionTable({ ...LIMITS, maxSessionsPerClient: 0 });
    t.open(1, "h", "", 0);
    t.open(2, "h", "", 0);
    expect(t.count).toBe(2);
    expect(dfsError(() => t.open(3, "h", "c", 0)).code).toBe("LIMIT_EXCEEDED");
  });

  it("a client that closes its last session may open again", () => {
    const t = new SessionTable({ ...LIMITS, maxSessionsPerClient: 1 });
    t.open(1, "h", "c", 0);
    t.close(1, "h", 0);
    t.open(2, "h", "c", 0);
    expect(t.toSnapshot().map((s) => [s.id, s.client])).toEqual([[2, "c"]]);
  });

  it("refuses an id already in the table (ids are entry indexes)", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    expect(() => t.open(1, "h", "", 0)).toThrow("session ids (entry indexes) are unique");
  });
});

describe("session secrets and stored results", () => {
  it("a session restored without a secret hash is refused whatever is presented, and stays so", () => {
    const t = SessionTable.fromSnapshot([{ id: 1, lastActiveMs: 0, ackedSeq: 0, results: [] }], LIMITS);
    expect(dfsError(() => t.authenticate(1, "", 0)).code).toBe("FORBIDDEN");
    expect(dfsError(() => t.authenticate(1, "h", 0)).code).toBe("FORBIDDEN");
    expect(t.toSnapshot()).toEqual([{ id: 1, secretHash: "", lastActiveMs: 0, ackedSeq: 0, results: [] }]);
  });

  it("hasResult of an unknown session is false", () => {
    expect(new SessionTable(LIMITS).hasResult(9, 1)).toBe(false);
  });

  it("store refuses a seq it holds or one at or below the acknowledgement", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    const s = t.authenticate(1, "h", 0);
    t.store(s, 2, ok("a"));
    expect(() => t.store(s, 2, ok("b"))).toThrow("store: a new sequence number");
    t.check(s, ref(1, 3, 1));
    expect(() => t.store(s, 1, ok("c"))).toThrow("store: a new sequence number");
    expect(t.check(s, ref(1, 2, 1))).toEqual({ kind: "replay", result: ok("a") });
  });

  it("a result holding bytes is stored and replayed as it was (byte arrays cannot be frozen)", () => {
    const t = new SessionTable(LIMITS);
    t.open(1, "h", "", 0);
    const s = t.authenticate(1, "h", 0);
    t.store(s, 1, ok({ data: new Uint8Array([1, 2, 3]), n: null }));
    const r = t.check(s, ref(1, 1));
    expect(r).toEqual({ kind: "replay", result: ok({ data: new Uint8Array([1, 2, 3]), n: null }) });
  });
});
