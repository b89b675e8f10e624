import { describe, expect, it } from "vitest";
import { FsState, MAX_RESULTS_PER_SESSION } from "../../../src/meta/state/index.js";
import { DEFAULT_OPTS, Harness, hashOf, inline, secretHash, visibleParts } from "./helpers.js";

const keepAlive = (sessionId: number) => ({ type: "keepAlive", sessionId, secretHash: hashOf(sessionId) });

describe("sessions", () => {
  it("openSession returns the entry's index as the session id", () => {
    const h = new Harness();
    h.apply({ type: "noop" });
    const r = h.apply({ type: "openSession", secretHash: hashOf(2) });
    expect(r).toEqual({ ok: true, value: { sessionId: 2, timeoutMs: 60_000 }, changes: [] });
  });

  it("openSession needs a secret hash: the state keeps only the SHA-256 of the secret", () => {
    const h = new Harness();
    for (const secretHash of [undefined, "", "x".repeat(64), "A".repeat(64), 7]) {
      expect(h.apply({ type: "openSession", secretHash })).toMatchObject({
        ok: false,
        error: { code: "BAD_REQUEST" },
      });
    }
    const s = h.openSession();
    expect(h.fs.snapshot().sessions.map((x) => [x.id, x.secretHash])).toEqual([[s, hashOf(s)]]);
  });

  it("an unknown session is SESSION_EXPIRED and nothing is applied", () => {
    const h = new Harness();
    const r = h.apply({ type: "mkdir", path: "/a", session: h.ref(77, 1, 0) });
    expect(r).toMatchObject({ ok: false, error: { code: "SESSION_EXPIRED", sessionId: 77 }, changes: [] });
    expect(h.fs.list("/")).toEqual([]);
    expect(h.apply({ type: "keepAlive", sessionId: 77, secretHash: hashOf(77) })).toMatchObject({
      error: { code: "SESSION_EXPIRED" },
    });
  });

  it("expires after sessionTimeoutMs of inactivity, judged with entry time; keepAlive extends", () => {
    const h = new Harness({ sessionTimeoutMs: 1000 });
    const s = h.openSession();
    h.advance(900);
    expect(h.apply(keepAlive(s)).ok).toBe(true);
    h.advance(1000);
    expect(h.ok({ type: "mkdir", path: "/a" }, s)).toEqual({ created: ["/a"] });
    h.advance(1001);
    expect(h.err({ type: "mkdir", path: "/b" }, s).code).toBe("SESSION_EXPIRED");
    expect(h.fs.sessionCount).toBe(0);
  });

  it("expires idle sessions when any entry is applied, a bounded number per entry", () => {
    const h = new Harness({ sessionTimeoutMs: 1000 });
    for (let i = 0; i < 40; i++) h.openSession();
    expect(h.fs.sessionCount).toBe(40);
    h.advance(5000);
    h.apply({ type: "noop" });
    expect(h.fs.sessionCount).toBe(24);
    h.apply({ type: "noop" });
    h.apply({ type: "noop" });
    expect(h.fs.sessionCount).toBe(0);
  });

  it("timestamps going backwards (a lagging new leader) do not move time back", () => {
    const h = new Harness({ sessionTimeoutMs: 1000 });
    const s = h.openSession();
    h.advance(1500);
    h.apply({ type: "noop" });
    // An entry stamped in the past is still judged at the latest time seen.
    const r = h.apply(keepAlive(s), 1_000);
    expect(r.ok).toBe(false);
    expect(h.fs.lastTimestampMs).toBe(2_500);
  });

  it("leaderChanged restarts every session's idle timer", () => {
    const h = new Harness({ sessionTimeoutMs: 1000 });
    const s = h.openSession();
    h.advance(900);
    h.apply({ type: "leaderChanged" });
    h.advance(900);
    expect(h.apply(keepAlive(s)).ok).toBe(true);
  });

  it("closeSession forgets the session", () => {
    const h = new Harness();
    const s = h.openSession();
    expect(h.apply({ type: "closeSession", sessionId: s, secretHash: hashOf(s) }).ok).toBe(true);
    expect(h.err({ type: "mkdir", path: "/a" }, s).code).toBe("SESSION_EXPIRED");
    expect(h.apply({ type: "closeSession", sessionId: s, secretHash: hashOf(s) }).ok).toBe(false);
  });

  it("a full table drops an expired session to make room, the least recently active first", () => {
    const h = new Harness({ maxSessions: 3, sessionTimeoutMs: 1000 });
    const [a, b] = [h.openSession(), h.openSession()];
    h.advance(600);
    const c = h.openSession();
    h.apply(keepAlive(a));
    h.advance(600); // b has been idle for 1200 ms: expired; a and c are live
    const d = h.openSession();
    expect(h.fs.sessionCount).toBe(3);
    expect(h.apply(keepAlive(b)).ok).toBe(false);
    for (const s of [a, c, d]) expect(h.apply(keepAlive(s)).ok).toBe(true);
  });

  it("a table full of live sessions refuses a new one instead of evicting (LIMIT_EXCEEDED)", () => {
    const h = new Harness({ maxSessions: 3 });
    const live = [h.openSession(), h.openSession(), h.openSession()];
    const before = h.fs.partHashes().sessions;
    const r = h.apply({ type: "openSession", secretHash: hashOf(h.index + 1) });
    expect(r).toMatchObject({ ok: false, error: { code: "LIMIT_EXCEEDED", limit: 3 }, changes: [] });
    expect(h.fs.partHashes().sessions).toBe(before);
    for (const s of live) expect(h.ok({ type: "mkdir", path: `/s${s}` }, s)).toEqual({ created: [`/s${s}`] });
  });
});

describe("sessions per client", () => {
  const open = (h: Harness, client: string) =>
    h.apply({ type: "openSession", secretHash: hashOf(h.index + 1), client });

  it("a client holding its share of live sessions is refused; others are not; expiry frees its share", () => {
    const h = new Harness({ maxSessionsPerClient: 2, sessionTimeoutMs: 1000 });
    expect(open(h, "token a").ok).toBe(true);
    h.advance(600);
    expect(open(h, "token a").ok).toBe(true);
    const before = h.fs.partHashes().sessions;
    expect(open(h, "token a")).toMatchObject({ ok: false, error: { code: "LIMIT_EXCEEDED", limit: 2 } });
    expect(h.fs.partHashes().sessions).toBe(before);
    expect(open(h, "token b").ok).toBe(true);
    // Sessions recorded without a client (older entries) count for nobody.
    expect(h.apply({ type: "openSession", secretHash: hashOf(h.index + 1) }).ok).toBe(true);
    h.advance(500); // the first of a's sessions has expired (unswept): a may open one more
    expect(open(h, "token a").ok).toBe(true);
    expect(open(h, "token a").ok).toBe(false);
  });

  it("the per-client counts survive a snapshot", () => {
    const h = new Harness({ maxSessionsPerClient: 1 });
    expect(open(h, "token a").ok).toBe(true);
    const restored = FsState.restore(h.fs.snapshot(), { ...DEFAULT_OPTS, maxSessionsPerClient: 1 });
    const r = restored.apply({
      index: h.index + 1,
      timestampMs: h.nowMs,
      command: { type: "openSession", secretHash: hashOf(h.index + 1), client: "token a" },
    });
    expect(r).toMatchObject({ ok: false, error: { code: "LIMIT_EXCEEDED" } });
  });
});

describe("session secrets", () => {
  it("another session's id and seq with a wrong or missing secret get no cached answer and change nothing", () => {
    const h = new Harness();
    const victim = h.openSession();
    const first = h.send({ type: "commit", path: "/f", content: inline("mine") }, victim);
    expect(first).toMatchObject({ ok: true, value: { version: 1 } });
    const before = h.fs.partHashes();
    for (const session of [
      { id: victim, seq: 1, ackedSeq: 0, secretHash: secretHash("guess") },
      { id: victim, seq: 1, ackedSeq: 0 },
      // Acknowledging the victim's results would make its retries fail: refused too.
      { id: victim, seq: 2, ackedSeq: 1, secretHash: secretHash("guess") },
    ]) {
      const r = h.apply({ type: "commit", path: "/f", content: inline("theirs"), session });
      expect(r).toMatchObject({ ok: false, error: { code: "FORBIDDEN", sessionId: victim }, changes: [] });
      expect(JSON.stringify(r)).not.toContain("version");
    }
    const after = h.fs.partHashes();
    expect({ ...after, meta: "" }).toEqual({ ...before, meta: "" });
    // The victim's own retry still gets its answer, and its next write goes through.
    expect(
      h.apply({ type: "commit", path: "/f", content: inline("mine"), session: h.ref(victim, 1) }),
    ).toEqual({
      ok: true,
      value: { version: 1 },
      changes: [],
    });
    expect(h.ok({ type: "commit", path: "/f", content: inline("mine 2") }, victim)).toEqual({ version: 2 });
  });

  it("a sequence number reused for another kind of request is refused; the same request is replayed", () => {
    const h = new Harness();
    const s = h.openSession();
    expect(h.ok({ type: "mkdir", path: "/d" }, s)).toEqual({ created: ["/d"] });
    const removed = h.send({ type: "delete", path: "/d" }, s);
    expect(removed.ok).toBe(true);
    const before = h.fs.partHashes();
    // The edge fuzz found this: a mkdir under the delete's seq got the delete's answer, which the
    // API's mkdir schema could not encode (500).
    const reused = h.apply({ type: "mkdir", path: "/d", session: h.ref(s, 2, 1) });
    expect(reused).toMatchObject({ ok: false, error: { code: "BAD_REQUEST", seq: 2 }, changes: [] });
    expect(h.fs.partHashes()).toEqual({ ...before, meta: h.fs.partHashes().meta });
    expect(h.apply({ type: "delete", path: "/d", session: h.ref(s, 2, 1) })).toEqual({
      ...removed,
      changes: [],
    });
  });

  it("keepAlive and closeSession need the session's secret", () => {
    const h = new Harness();
    const s = h.openSession();
    const before = h.fs.partHashes().sessions;
    for (const type of ["keepAlive", "closeSession"]) {
      expect(h.apply({ type, sessionId: s, secretHash: secretHash("guess") })).toMatchObject({
        ok: false,
        error: { code: "FORBIDDEN" },
      });
      expect(h.apply({ type, sessionId: s })).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
    }
    expect(h.fs.partHashes().sessions).toBe(before);
    expect(h.fs.sessionCount).toBe(1);
  });

  it("a session restored from a snapshot written before secrets cannot be used by anyone", () => {
    const h = new Harness();
    const s = h.openSession();
    const snap = h.fs.snapshot();
    for (const x of snap.sessions) delete x.secretHash;
    const restored = FsState.restore(snap, DEFAULT_OPTS);
    const r = restored.apply({
      index: h.index + 1,
      timestampMs: h.nowMs,
      command: { type: "mkdir", path: "/a", session: h.ref(s, 1) } as never,
    });
    expect(r).toMatchObject({ ok: false, error: { code: "FORBIDDEN" } });
  });
});

describe("exactly-once", () => {
  it("a retried seq returns the stored result and is not applied again", () => {
    const h = new Harness();
    const s = h.session;
    const cmd = { type: "commit", path: "/f", content: inline("x"), session: h.ref(s, 1, 0) };
    const first = h.apply(cmd);
    expect(first).toMatchObject({ ok: true, value: { version: 1 } });
    const before = h.fs.partHashes();
    h.advance(10);
    const again = h.apply(cmd);
    expect(again).toEqual({ ok: true, value: { version: 1 }, changes: [] });
    expect(h.fs.versions("/f")).toHaveLength(1);
    expect(h.fs.partHashes().namespace).toBe(before.namespace);
  });

  it("a failed result is remembered too", () => {
    const h = new Harness();
    const s = h.session;
    const cmd = { type: "mkdir", path: "/x/y", session: h.ref(s, 1, 0) };
    expect(h.apply(cmd)).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(h.apply({ type: "mkdir", path: "/x", session: h.ref(s, 2, 0) }).ok).toBe(true);
    expect(h.apply(cmd)).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(() => h.fs.stat("/x/y")).toThrow();
  });

  it("a seq at or below ackedSeq is refused as already acknowledged", () => {
    const h = new Harness();
    const s = h.session;
    h.apply({ type: "mkdir", path: "/a", session: h.ref(s, 1, 0) });
    h.apply({ type: "mkdir", path: "/b", session: h.ref(s, 2, 1) });
    const r = h.apply({ type: "mkdir", path: "/a", session: h.ref(s, 1, 0) });
    expect(r).toMatchObject({
      ok: false,
      error: { code: "BAD_REQUEST", message: expect.stringMatching(/acknowledged/) },
    });
  });

  it("results are kept for out-of-order seqs above ackedSeq", () => {
    const h = new Harness();
    const s = h.session;
    const c3 = { type: "mkdir", path: "/c", session: h.ref(s, 3, 0) };
    const c2 = { type: "mkdir", path: "/b", session: h.ref(s, 2, 0) };
    expect(h.apply(c3).ok).toBe(true);
    expect(h.apply(c2).ok).toBe(true);
    expect(h.apply(c3)).toEqual({ ok: true, value: { created: ["/c"] }, changes: [] });
  });

  it(`keeps at most ${MAX_RESULTS_PER_SESSION} results; the oldest dropped is treated as acknowledged`, () => {
    const h = new Harness();
    const s = h.session;
    for (let seq = 1; seq <= MAX_RESULTS_PER_SESSION + 1; seq++) {
      h.apply({ type: "noop", session: h.ref(s, seq, 0) });
      h.apply({ type: "mkdir", path: `/d${seq}`, session: h.ref(s, seq, 0) });
    }
    const r1 = h.apply({ type: "mkdir", path: "/d1", session: h.ref(s, 1, 0) });
    expect(r1).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
    const r2 = h.apply({ type: "mkdir", path: "/d2", session: h.ref(s, 2, 0) });
    expect(r2).toEqual({ ok: true, value: { created: ["/d2"] }, changes: [] });
    expect(h.fs.list("/")).toHaveLength(MAX_RESULTS_PER_SESSION + 1);
  });

  it("stored results are frozen: a caller editing one cannot change the state", () => {
    const h = new Harness();
    const r = h.send({ type: "mkdir", path: "/a" });
    expect(r.ok && Object.isFrozen(r.value)).toBe(true);
  });

  it("validates the session reference", () => {
    const h = new Harness();
    const s = h.session;
    for (const session of [
      undefined,
      {},
      { id: s, seq: 0, ackedSeq: 0 },
      { id: s, seq: 2, ackedSeq: 2 },
      { id: s, seq: 1.5, ackedSeq: 0 },
    ]) {
      expect(h.apply({ type: "mkdir", path: "/a", session })).toMatchObject({
        ok: false,
        error: { code: "BAD_REQUEST" },
      });
    }
  });

  it("a failed command changes nothing but session bookkeeping", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const before = visibleParts(h.fs);
    h.err({ type: "commit", path: "/f", content: inline("y"), expectedVersion: 7 });
    h.err({ type: "rename", from: "/f", to: "/f" });
    expect(visibleParts(h.fs)).toEqual(before);
  });
});

describe("malformed commands", () => {
  it("are refused with BAD_REQUEST, never a crash", () => {
    const h = new Harness();
    for (const cmd of [null, 42, "noop", [], {}, { type: "bogus" }, { type: "keepAlive" }, { type: "txn" }]) {
      const r = h.apply(cmd);
      expect(r.ok).toBe(false);
      if (!r.ok) expect(r.error.code).toBe("BAD_REQUEST");
    }
    expect(h.fs.lastAppliedIndex).toBe(8);
  });

  it("noop succeeds with no changes", () => {
    const h = new Harness();
    expect(h.apply({ type: "noop" })).toEqual({ ok: true, value: null, changes: [] });
  });
});
