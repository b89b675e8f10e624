/**
 * Leader following, with the network replaced by a script (the `send` seam): which replica is asked,
 * in which order, how long the client waits, and what it finally throws.
 */
import { describe, expect, test } from "vitest";
import type { JsonRequest } from "../../src/client/http.js";
import { MetaConnection, type SendFn } from "../../src/client/meta-connection.js";
import { DfsError } from "../../src/common/errors.js";

const A = "http://a:1";
const B = "http://b:2";
const C = "http://c:3";

const unreachable = (url: string) =>
  new DfsError("UNAVAILABLE", `cannot reach ${url}`, { transport: true, url });
const notLeader = (leaderUrl: string | null) =>
  new DfsError("NOT_LEADER", "not the leader", { leaderId: null, leaderUrl });

/** A scripted cluster: `answer(url, req, n)` decides each reply; every call is recorded. */
function scripted(answer: (url: string, req: JsonRequest, n: number) => unknown) {
  const calls: { url: string; req: JsonRequest }[] = [];
  const send: SendFn = async (url, req) => {
    calls.push({ url, req });
    const r = answer(url, req, calls.length);
    if (r instanceof Error) throw r;
    return r;
  };
  return { calls, send };
}

function connection(send: SendFn, deadlineMs = 2000) {
  const waits: number[] = [];
  const conn = new MetaConnection(
    { endpoints: [A, B, C], deadlineMs, requestTimeoutMs: 500, backoff: { baseMs: 1, maxMs: 4 } },
    { send, random: () => 0.5, onRetry: (r) => waits.push(r.waitMs) },
  );
  return { conn, waits };
}

describe("leader following", () => {
  test("follows a NOT_LEADER hint at once, then remembers the leader", async () => {
    const { calls, send } = scripted((url) => (url === C ? { ok: url } : notLeader(C)));
    const { conn, waits } = connection(send);
    expect(await conn.call({ method: "GET", path: "/v1/fs/stat" })).toEqual({ ok: C });
    expect(calls.map((c) => c.url)).toEqual([A, C]);
    expect(waits).toEqual([]); // a hint is followed without a pause
    expect(conn.leaderUrl).toBe(C);
    await conn.call({ method: "GET", path: "/v1/fs/stat" });
    expect(calls.map((c) => c.url)).toEqual([A, C, C]);
  });

  test("a hint to a replica outside the configured list is ignored: the configured ones are tried", async () => {
    const D = "http://d:4";
    const ignored: string[] = [];
    const { calls, send } = scripted((url) => (url === B ? "ok" : notLeader(`${D}/`)));
    const conn = new MetaConnection(
      { endpoints: [A, B, C], deadlineMs: 2000, requestTimeoutMs: 500, backoff: { baseMs: 1, maxMs: 4 } },
      { send, random: () => 0.5, onIgnoredHint: (i) => ignored.push(i.why) },
    );
    expect(await conn.call({ method: "GET", path: "/x" })).toBe("ok");
    expect(calls.map((c) => c.url)).toEqual([A, B]);
    expect(conn.knownEndpoints).not.toContain(D);
    expect(ignored).toEqual(["not one of the configured endpoints"]);
  });

  test("a hint that downgrades https to http is ignored, even to a configured host", async () => {
    const [SA, SB] = ["https://a:1", "https://b:2"];
    const ignored: string[] = [];
    // Mixed endpoints: the http one is configured, but following it from https would expose the token.
    const { calls, send } = scripted((url) => (url === SB ? "ok" : notLeader("http://a:1")));
    const conn = new MetaConnection(
      {
        endpoints: [SA, SB, "http://a:1"],
        deadlineMs: 2000,
        requestTimeoutMs: 500,
        backoff: { baseMs: 1, maxMs: 4 },
      },
      { send, random: () => 0.5, onIgnoredHint: (i) => ignored.push(i.why) },
    );
    expect(await conn.call({ method: "GET", path: "/x" })).toBe("ok");
    expect(calls.map((c) => c.url)).toEqual([SA, SB]);
    expect(ignored).toEqual(["downgrades https to http"]);
  });

  test("a hint that is not a URL is ignored, not thrown", async () => {
    const { calls, send } = scripted((url) => (url === B ? "ok" : notLeader("::not a url::")));
    const { conn } = connection(send);
    expect(await conn.call({ method: "GET", path: "/x" })).toBe("ok");
    expect(calls.map((c) => c.url)).toEqual([A, B]);
  });

  test("an unreachable replica is skipped for the next, with a pause between rounds", async () => {
    const { calls, send } = scripted((url) => (url === B ? "ok" : unreachable(url)));
    const { conn, waits } = connection(send);
    expect(await conn.call({ method: "POST", path: "/v1/fs/commit", body: { x: 1 } })).toBe("ok");
    expect(calls.map((c) => c.url)).toEqual([A, B]);
    expect(waits).toHaveLength(1);
  });

  test("when the leader dies, the next call moves on and finds the new one", async () => {
    let leader = A;
    const { calls, send } = scripted((url) =>
      url === leader ? "ok" : url === B ? notLeader(leader) : unreachable(url),
    );
    const { conn } = connection(send);
    await conn.call({ method: "GET", path: "/x" });
    expect(conn.leaderUrl).toBe(A);
    leader = C;
    calls.length = 0;
    const answer = await conn.call({ method: "GET", path: "/x" });
    expect(answer).toBe("ok");
    expect(calls[0]!.url).toBe(A); // the remembered leader first
    expect(calls.at(-1)!.url).toBe(C);
    expect(conn.leaderUrl).toBe(C);
  });

  test("during an election (no hint) it keeps trying with backoff until one answers", async () => {
    const { send } = scripted((_url, _req, n) => (n < 7 ? notLeader(null) : "elected"));
    const { conn, waits } = connection(send);
    expect(await conn.call({ method: "GET", path: "/x" })).toBe("elected");
    expect(waits.length).toBe(6);
    for (const w of waits) expect(w).toBeLessThanOrEqual(4);
  });

  test("two replicas naming each other cannot make it spin: hops are bounded per round", async () => {
    const { calls, send } = scripted((url) => notLeader(url === A ? B : A));
    const { conn, waits } = connection(send, 100);
    await expect(conn.call({ method: "GET", path: "/x" })).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(waits.length).toBeGreaterThan(0);
    expect(calls.length).toBeLessThan(waits.length * 5 + 5);
  });

  test("past the deadline: UNAVAILABLE when nobody could be reached, with the last cause", async () => {
    const { send } = scripted((url) => unreachable(url));
    const { conn } = connection(send, 50);
    const err = await conn.call({ method: "GET", path: "/v1/fs/list" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DfsError);
    expect((err as DfsError).code).toBe("UNAVAILABLE");
    expect((err as DfsError).message).toMatch(/within 50 ms.*cannot reach/);
    expect((err as DfsError).exitCode).toBe(5);
  });

  test("past the deadline with the leader still refusing: the error says the leader answered, and why", async () => {
    const { send } = scripted(() => new DfsError("UNAVAILABLE", "only 1 live data nodes with room"));
    const { conn } = connection(send, 50);
    const err = await conn.call({ method: "POST", path: "/v1/chunks/placement" }).catch((e: unknown) => e);
    expect((err as DfsError).code).toBe("UNAVAILABLE");
    expect((err as DfsError).message).toBe(
      "the metadata leader still refused POST /v1/chunks/placement after 50 ms: only 1 live data nodes with room",
    );
  });

  test("past the deadline after timeouts: TIMEOUT", async () => {
    const { send } = scripted((url) => new DfsError("TIMEOUT", "slow", { transport: true, url }));
    const { conn } = connection(send, 50);
    await expect(conn.call({ method: "GET", path: "/x" })).rejects.toMatchObject({ code: "TIMEOUT" });
  });

  test("an answer that is not retryable is thrown at once, typed", async () => {
    const { calls, send } = scripted(() => new DfsError("NOT_FOUND", "/x does not exist", { path: "/x" }));
    const { conn } = connection(send);
    await expect(conn.call({ method: "GET", path: "/x" })).rejects.toMatchObject({
      code: "NOT_FOUND",
      details: { path: "/x" },
    });
    expect(calls).toHaveLength(1);
  });

  test("a busy leader (UNAVAILABLE answer) is retried, unless the caller wants the answer", async () => {
    const busy = () => new DfsError("UNAVAILABLE", "too many uncommitted proposals; retry later");
    const retried = scripted((_u, _r, n) => (n < 3 ? busy() : "ok"));
    expect(await connection(retried.send).conn.call({ method: "POST", path: "/x" })).toBe("ok");
    expect(retried.calls.map((c) => c.url)).toEqual([A, A, A]); // the same (live) leader
    const direct = scripted(() => busy());
    await expect(
      connection(direct.send).conn.call({ method: "POST", path: "/x", retryAnswers: false }),
    ).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(direct.calls).toHaveLength(1);
  });

  test("every attempt of one call sends the same body (a retried mutation keeps its seq)", async () => {
    const { calls, send } = scripted((url, _r, n) => (n < 3 ? unreachable(url) : "ok"));
    const { conn } = connection(send);
    const body = { path: "/f", session: { id: 7, seq: 3, ackedSeq: 2 } };
    await conn.call({ method: "POST", path: "/v1/fs/commit", body });
    expect(calls.map((c) => c.req.body)).toEqual([body, body, body]);
  });

  test("each attempt's timeout never exceeds what is left of the deadline", async () => {
    const { calls, send } = scripted((url) => unreachable(url));
    const { conn } = connection(send, 120);
    await conn.call({ method: "GET", path: "/x" }).catch(() => undefined);
    for (const c of calls) expect(c.req.timeoutMs).toBeLessThanOrEqual(120);
    expect(calls[0]!.req.timeoutMs).toBeLessThanOrEqual(120);
  });

  test("closing the client (its signal) ends a call at once", async () => {
    const controller = new AbortController();
    const { send } = scripted((url) => unreachable(url));
    const conn = new MetaConnection(
      { endpoints: [A], deadlineMs: 60_000, requestTimeoutMs: 500, backoff: { baseMs: 1000, maxMs: 1000 } },
      { send, signal: controller.signal },
    );
    const pending = conn.call({ method: "GET", path: "/x" });
    setTimeout(() => controller.abort(new DfsError("UNAVAILABLE", "the client was closed")), 20);
    const started = Date.now();
    await expect(pending).rejects.toBeDefined();
    // Not after the 1 s backoff it was sleeping in (the bound leaves a busy machine all the room it can).
    expect(Date.now() - started).toBeLessThan(1000);
  });
});

// Without the search these calls sleep out a one-minute backoff: the timeout fails them instead.
describe("leader search while no leader is known", { timeout: 20_000 }, () => {
  /**
   * A dead A, followers B and C that know no leader, and C elected after its `electedAfter`-th
   * /status probe. The backoff is a minute long: only the search can end a pause in time.
   */
  function election(electedAfter: number) {
    let statusProbesOfC = 0;
    const script = scripted((url, req) => {
      if (url === A) return unreachable(url);
      if (req.path === "/status") {
        if (url === C && ++statusProbesOfC >= electedAfter) return { role: "leader", term: 2 };
        return { role: "follower", term: 2, leaderUrl: A }; // a follower's stale idea: not followed
      }
      return url === C && statusProbesOfC >= electedAfter ? "ok" : notLeader(null);
    });
    const conn = new MetaConnection(
      {
        endpoints: [A, B, C],
        deadlineMs: 120_000,
        requestTimeoutMs: 500,
        backoff: { baseMs: 60_000, maxMs: 60_000 },
        leaderSearch: { probeIntervalMs: 1, probeTimeoutMs: 100 },
      },
      { send: script.send, random: () => 0.5 },
    );
    return { ...script, conn };
  }

  test("a pause ends as soon as a replica says it leads, and the call goes there", async () => {
    const { calls, conn } = election(3);
    expect(await conn.call({ method: "POST", path: "/v1/fs/commit", body: {} })).toBe("ok");
    expect(conn.leaderUrl).toBe(C);
    expect(calls.at(-1)).toMatchObject({ url: C, req: { path: "/v1/fs/commit" } });
    // Every replica was asked in each round; a follower's word about another replica was not taken.
    const probed = new Set(calls.filter((c) => c.req.path === "/status").map((c) => c.url));
    expect(probed).toEqual(new Set([A, B, C]));
  });

  test("calls in flight share one search: probes per replica do not grow with the calls", async () => {
    const { calls, conn } = election(3);
    const answers = await Promise.all(
      Array.from({ length: 32 }, () => conn.call({ method: "POST", path: "/v1/fs/commit", body: {} })),
    );
    expect(answers.every((a) => a === "ok")).toBe(true);
    const probesOfC = calls.filter((c) => c.url === C && c.req.path === "/status").length;
    expect(probesOfC).toBeLessThanOrEqual(4); // three rounds (and a straggler), not 32 × 3
  });

  test("of two replicas claiming leadership, the one of the higher term is taken", async () => {
    const script = scripted((url, req) => {
      if (req.path === "/status") {
        if (url === A) return { role: "leader", term: 1 }; // deposed, not yet aware
        if (url === B) return { role: "leader", term: 3 };
        return unreachable(url);
      }
      if (url === B) return "ok";
      return url === A ? notLeader(null) : unreachable(url);
    });
    const conn = new MetaConnection(
      {
        endpoints: [C, A, B],
        deadlineMs: 120_000,
        requestTimeoutMs: 500,
        backoff: { baseMs: 60_000, maxMs: 60_000 },
        leaderSearch: { probeIntervalMs: 1, probeTimeoutMs: 100 },
      },
      { send: script.send, random: () => 0.5 },
    );
    expect(await conn.call({ method: "GET", path: "/x" })).toBe("ok");
    expect(conn.leaderUrl).toBe(B);
  });
  test("a follower that names a live leader ends the search at once, before the leader's own answer", async () => {
    // C leads but its /status answer never comes in time (a busy leader); B already follows it.
    const script = scripted((url, req) => {
      if (url === A) return unreachable(url);
      if (req.path === "/status") {
        if (url === C) return new DfsError("TIMEOUT", "slow", { transport: true, url });
        return { role: "follower", term: 3, leaderUrl: C };
      }
      return url === C ? "ok" : notLeader(null);
    });
    const conn = new MetaConnection(
      {
        endpoints: [A, B, C],
        deadlineMs: 120_000,
        requestTimeoutMs: 500,
        backoff: { baseMs: 60_000, maxMs: 60_000 },
        leaderSearch: { probeIntervalMs: 1, probeTimeoutMs: 100 },
      },
      { send: script.send, random: () => 0.5 },
    );
    expect(await conn.call({ method: "POST", path: "/v1/fs/commit", body: {} })).toBe("ok");
    expect(conn.leaderUrl).toBe(C);
    // One probe round, then the call: A (dead), the round's three probes, C.
    expect(script.calls.map((c) => `${c.url} ${c.req.path}`)).toEqual([
      `${A} /v1/fs/commit`,
      `${A} /status`,
      `${B} /status`,
      `${C} /status`,
      `${C} /v1/fs/commit`,
    ]);
  });

  test("a leader met by the search starts a fresh backoff: its first busy answer waits the shortest pause", async () => {
    let probesOfC = 0;
    let commitsToC = 0;
    const script = scripted((url, req) => {
      if (url === A) return unreachable(url);
      if (req.path === "/status") {
        // C is elected on its 4th probe: the pauses before grew with each round.
        if (url === C && ++probesOfC >= 4) return { role: "leader", term: 2 };
        return { role: "follower", term: 2, leaderUrl: null };
      }
      if (url !== C || probesOfC < 4) return notLeader(null);
      // The new leader is busy once (its first entry not committed yet), then answers.
      return ++commitsToC === 1 ? new DfsError("UNAVAILABLE", "not ready") : "ok";
    });
    const waits: number[] = [];
    const conn = new MetaConnection(
      {
        endpoints: [A, B, C],
        deadlineMs: 120_000,
        requestTimeoutMs: 500,
        backoff: { baseMs: 4, maxMs: 60_000 },
        leaderSearch: { probeIntervalMs: 20, probeTimeoutMs: 100 },
      },
      { send: script.send, random: () => 0.5, onRetry: (r) => waits.push(r.waitMs) },
    );
    expect(await conn.call({ method: "POST", path: "/v1/fs/commit", body: {} })).toBe("ok");
    expect(waits.length).toBeGreaterThanOrEqual(3);
    // The pause before the busy leader's retry is backoff step 0 again (3 ms), not the grown one.
    expect(waits.at(-1)).toBe(3);
    expect(Math.max(...waits.slice(0, -1))).toBeGreaterThan(3);
  });
});
