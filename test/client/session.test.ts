/** Exactly-once sessions over a scripted network: seq numbering, retries, acknowledgements, expiry. */
import { describe, expect, test, vi } from "vitest";
import type { JsonRequest } from "../../src/client/http.js";
import { MetaConnection } from "../../src/client/meta-connection.js";
import { Sessions } from "../../src/client/session.js";
import { DfsError } from "../../src/common/errors.js";
import type { WireSession } from "../../src/common/protocol/index.js";

type Handler = (req: JsonRequest) => unknown | Promise<unknown>;

function setup(handler: Handler, onOpen: () => Error | null = () => null) {
  const sent: JsonRequest[] = [];
  let sessions = 0;
  const meta = new MetaConnection(
    { endpoints: ["http://a:1"], deadlineMs: 2000, requestTimeoutMs: 500, backoff: { baseMs: 1, maxMs: 2 } },
    {
      send: async (_url, req) => {
        sent.push(req);
        if (req.path === "/v1/sessions") {
          const refused = onOpen();
          if (refused) throw refused;
          sessions++;
          return { sessionId: 100 + sessions, timeoutMs: 60_000, secret: `secret-${100 + sessions}` };
        }
        const r = await handler(req);
        if (r instanceof Error) throw r;
        return r;
      },
    },
  );
  const mutations = () => sent.filter((r) => r.path !== "/v1/sessions");
  const sessionOf = (r: JsonRequest) => (r.body as { session: WireSession }).session;
  return { s: new Sessions(meta), sent, mutations, sessionOf, opened: () => sessions };
}

describe("sessions", () => {
  test("a rate-limited open is waited out (retryAfterMs), then the mutation goes through", async () => {
    let refusals = 2;
    const limited = () =>
      refusals-- > 0 ? new DfsError("RATE_LIMITED", "too many sessions", { retryAfterMs: 1 }) : null;
    const t = setup(() => ({ ok: true }), limited);
    expect(await t.s.mutate("/v1/fs/mkdir", { path: "/a" })).toEqual({ ok: true });
    expect(t.sent.filter((r) => r.path === "/v1/sessions")).toHaveLength(3);
    expect(t.opened()).toBe(1);
  });

  test("an open refused for another reason is not retried", async () => {
    const t = setup(
      () => ({ ok: true }),
      () => new DfsError("LIMIT_EXCEEDED", "the session table is full"),
    );
    await expect(t.s.mutate("/v1/fs/mkdir", { path: "/a" })).rejects.toMatchObject({
      code: "LIMIT_EXCEEDED",
    });
    expect(t.sent.filter((r) => r.path === "/v1/sessions")).toHaveLength(1);
  });

  test("every mutation carries the secret its session was opened with", async () => {
    const t = setup(() => ({ ok: true }));
    await t.s.mutate("/v1/fs/mkdir", { path: "/a" });
    await t.s.mutate("/v1/fs/mkdir", { path: "/b" });
    expect(t.mutations().map((r) => t.sessionOf(r).secret)).toEqual(["secret-101", "secret-101"]);
  });

  test("opens one session lazily, shared by concurrent first mutations; seq increases per mutation", async () => {
    const t = setup(() => ({ ok: true }));
    await Promise.all([
      t.s.mutate("/v1/fs/mkdir", { path: "/a" }),
      t.s.mutate("/v1/fs/mkdir", { path: "/b" }),
    ]);
    await t.s.mutate("/v1/fs/mkdir", { path: "/c" });
    expect(t.opened()).toBe(1);
    expect(t.mutations().map((r) => t.sessionOf(r).seq)).toEqual([1, 2, 3]);
    expect(t.mutations().every((r) => t.sessionOf(r).id === 101)).toBe(true);
  });

  test("a retry after a lost answer carries the same seq (the replicas answer it from memory)", async () => {
    let n = 0;
    const t = setup(() =>
      ++n === 1 ? new DfsError("TIMEOUT", "slow", { transport: true }) : { version: 1 },
    );
    expect(await t.s.mutate("/v1/fs/commit", { path: "/f" })).toEqual({ version: 1 });
    expect(t.mutations().map((r) => t.sessionOf(r).seq)).toEqual([1, 1]);
  });

  test("ackedSeq never passes a mutation still in flight", async () => {
    const gates: (() => void)[] = [];
    const t = setup(
      (req) =>
        new Promise((resolve) => {
          const seq = (req.body as { session: WireSession }).session.seq;
          if (seq === 1) gates.push(() => resolve("first"));
          else resolve("later");
        }),
    );
    const first = t.s.mutate("/x", {});
    // Polled, not slept: seq 1 must be held at the gate before the next calls go out.
    await vi.waitFor(() => expect(gates).toHaveLength(1), { timeout: 10_000, interval: 5 });
    await t.s.mutate("/x", {});
    await t.s.mutate("/x", {});
    // seq 1 is still waiting: nothing may be acknowledged yet.
    expect(t.mutations().map((r) => t.sessionOf(r).ackedSeq)).toEqual([0, 0, 0]);
    gates[0]!();
    await first;
    await t.s.mutate("/x", {});
    expect(t.sessionOf(t.mutations().at(-1)!)).toEqual({
      id: 101,
      seq: 4,
      ackedSeq: 3,
      secret: "secret-101",
    });
  });

  test("a failed mutation is acknowledged too (its result will never be asked for again)", async () => {
    let n = 0;
    const t = setup(() => (++n === 1 ? new DfsError("EXISTS", "exists") : "ok"));
    await expect(t.s.mutate("/x", {})).rejects.toMatchObject({ code: "EXISTS" });
    await t.s.mutate("/x", {});
    expect(t.sessionOf(t.mutations().at(-1)!)).toEqual({
      id: 101,
      seq: 2,
      ackedSeq: 1,
      secret: "secret-101",
    });
  });

  test("SESSION_EXPIRED: a new session, and one retry with a new seq", async () => {
    const t = setup((req) => {
      const s = (req.body as { session: WireSession }).session;
      return s.id === 101 ? new DfsError("SESSION_EXPIRED", "expired") : { ok: s };
    });
    await t.s.mutate("/x", {});
    expect(t.opened()).toBe(2);
    expect(t.mutations().map((r) => t.sessionOf(r))).toEqual([
      { id: 101, seq: 1, ackedSeq: 0, secret: "secret-101" },
      { id: 102, seq: 1, ackedSeq: 0, secret: "secret-102" },
    ]);
    expect(t.s.sessionId).toBe(102);
  });

  test("SESSION_EXPIRED twice in a row is thrown (no retry loop)", async () => {
    const t = setup(() => new DfsError("SESSION_EXPIRED", "expired"));
    await expect(t.s.mutate("/x", {})).rejects.toMatchObject({ code: "SESSION_EXPIRED" });
    expect(t.mutations()).toHaveLength(2);
  });
});
