/**
 * The watch route and the rename bound on a real replica (runMetaReplica: LevelDB, HTTP on
 * 127.0.0.1, alone in its cluster so that it leads), with client tokens: long-polls are bounded per
 * token and in all, dropped when the client disconnects, and `after` is checked against the log; a
 * rename over `maxRenameEntries` is refused by the leader before anything reaches the log.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { META_ROUTES } from "../../src/common/protocol/index.js";
import { type RunningMeta, runMetaReplica } from "../../src/meta/main.js";
import { freePort, waitFor } from "../support/cluster-harness.js";

const TOKENS = {
  alice: "alice-token-0123456789",
  bob: "bob-token-0123456789",
  carol: "carol-token-0123456789",
  writer: "writer-token-0123456789",
};
const MAX_RENAME = 5;

let dir: string;
let meta: RunningMeta;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "raftfs-watch-rename-"));
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "watch-rename-test-secret",
      raft: { tickIntervalMs: 20 },
      maxRenameEntries: MAX_RENAME,
      watch: { maxWaiters: 3, maxWaitersPerClient: 2, afterSlackEntries: 5 },
      tokens: [
        { name: "alice", token: TOKENS.alice, role: "read" },
        { name: "bob", token: TOKENS.bob, role: "read" },
        { name: "carol", token: TOKENS.carol, role: "read" },
        { name: "writer", token: TOKENS.writer, role: "write" },
      ],
      meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
    }),
  );
  process.env.RAFTFS_LOG_LEVEL = "silent";
  meta = await runMetaReplica({ configPath, id: 1 });
  await waitFor("replica 1 to lead", async () => (meta.replica.isLeader() ? true : null));
});
afterAll(async () => {
  await meta?.close();
  rmSync(dir, { recursive: true, force: true });
});

type Answer = { status: number; body: Record<string, unknown> };

async function call(
  who: keyof typeof TOKENS,
  method: "GET" | "POST",
  path: string,
  opts: { body?: unknown; query?: Record<string, string | number>; signal?: AbortSignal } = {},
): Promise<Answer> {
  const res = await request(`${meta.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${TOKENS[who]}`,
      ...(opts.body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(opts.query ? { query: opts.query } : {}),
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
    headersTimeout: 60_000,
    bodyTimeout: 60_000,
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

const watch = (who: keyof typeof TOKENS, after: number | string, signal?: AbortSignal) =>
  call(who, "GET", META_ROUTES.watch, { query: { after, timeoutMs: 30_000 }, ...(signal ? { signal } : {}) });

describe("GET /v1/watch on a replica", () => {
  test("`after` beyond the applied index + slack, negative or fractional is a 400", async () => {
    // A linearizable read first: it returns only once the new leader's own first entry is applied, so
    // the applied index read next is not passed by that entry while the requests are on their way (a
    // CI run read it one entry early, and `applied + 6` was then within the slack).
    expect((await call("alice", "GET", META_ROUTES.stat, { query: { path: "/" } })).status).toBe(200);
    const applied = meta.replica.machine.appliedIndex;
    for (const after of [applied + 6, 1e15, -1, "1.5", "abc"]) {
      const r = await watch("alice", after);
      expect(r.status, String(after)).toBe(400);
      expect(r.body.code).toBe("BAD_REQUEST");
    }
    const ok = await call("alice", "GET", META_ROUTES.watch, { query: { after: applied, timeoutMs: 0 } });
    expect(ok).toMatchObject({ status: 200, body: { reset: false } });
  });

  test("long-polls are bounded per token and in all (429 TOO_MANY_WATCHERS), and dropped when their client disconnects", async () => {
    const feed = meta.replica.feed;
    const after = meta.replica.machine.appliedIndex;
    const clients = Array.from({ length: 3 }, () => new AbortController());
    const held = [
      watch("alice", after, clients[0]!.signal),
      watch("alice", after, clients[1]!.signal),
      watch("bob", after, clients[2]!.signal),
    ].map((p) => p.catch((err: unknown) => err));
    await waitFor("three long-polls held", async () => (feed.waiterCount === 3 ? true : null), 10_000);

    const third = await watch("alice", after);
    expect(third).toMatchObject({
      status: 429,
      body: { code: "TOO_MANY_WATCHERS", scope: "client", limit: 2 },
    });
    const carol = await watch("carol", after);
    expect(carol).toMatchObject({
      status: 429,
      body: { code: "TOO_MANY_WATCHERS", scope: "replica", limit: 3 },
    });

    const metrics = await (await request(`${meta.url}/metrics`)).body.text();
    expect(metrics).toMatch(/^raftfs_meta_watch_waiters\{replica="1"\} 3$/m);
    expect(metrics).toMatch(/^raftfs_meta_watch_clients\{replica="1"\} 2$/m);
    expect(metrics).toMatch(/^raftfs_meta_watch_refused_total\{replica="1"\} 2$/m);

    // The clients go away: their waiters go with them, long before their 30 s timeout.
    for (const c of clients) c.abort();
    await Promise.all(held);
    await waitFor(
      "the waiters of gone clients to be dropped",
      async () => (feed.waiterCount === 0 ? true : null),
      5_000,
    );
    expect(feed.clientCount).toBe(0);

    // The freed slots serve again; a change wakes the waiter.
    const again = watch("carol", meta.replica.machine.appliedIndex);
    await waitFor("carol's long-poll held", async () => (feed.waiterCount === 1 ? true : null), 10_000);
    const session = await openSession();
    await mutate("mkdir", { path: "/woken" }, session);
    const r = await again;
    expect(r.status).toBe(200);
    expect(r.body.changes).toEqual([expect.objectContaining({ path: "/woken", kind: "mkdir" })]);
  });
});

let seq = 0;
let sessionSecret = "";
async function openSession(): Promise<number> {
  const r = await call("writer", "POST", META_ROUTES.openSession, { body: {} });
  expect(r.status).toBe(200);
  seq = 0;
  sessionSecret = r.body.secret as string;
  return r.body.sessionId as number;
}

async function mutate(
  route: "mkdir" | "commit" | "rename" | "txn",
  body: Record<string, unknown>,
  id: number,
) {
  seq++;
  return call("writer", "POST", META_ROUTES[route], {
    body: { ...body, session: { id, seq, ackedSeq: seq - 1, secret: sessionSecret } },
  });
}

describe("the rename bound on the leader", () => {
  test("a rename or txn moving more than maxRenameEntries is refused (409 RENAME_TOO_LARGE) before it reaches the log", async () => {
    const id = await openSession();
    expect((await mutate("mkdir", { path: "/big" }, id)).status).toBe(200);
    for (let i = 0; i < MAX_RENAME; i++) {
      const c = await mutate(
        "commit",
        { path: `/big/f${i}`, content: { kind: "inline", dataBase64: "eA==" } },
        id,
      );
      expect(c.status).toBe(200);
    }
    const lastLogIndex = () => meta.replica.driver.status().lastLogIndex;
    const before = lastLogIndex();
    const r = await mutate("rename", { from: "/big", to: "/moved" }, id);
    expect(r).toMatchObject({
      status: 409,
      body: {
        code: "RENAME_TOO_LARGE",
        path: "/big",
        entriesAtLeast: MAX_RENAME + 1,
        maxRenameEntries: MAX_RENAME,
      },
    });
    const t = await mutate(
      "txn",
      { conditions: [], ops: [{ type: "rename", from: "/big", to: "/moved" }] },
      id,
    );
    expect(t).toMatchObject({ status: 409, body: { code: "RENAME_TOO_LARGE", opIndex: 0 } });
    expect(lastLogIndex()).toBe(before);
    // Under the bound, the same route works.
    expect((await mutate("rename", { from: "/big/f0", to: "/f0" }, id)).status).toBe(200);
    expect((await mutate("rename", { from: "/big", to: "/moved" }, id)).status).toBe(200);
  });
});
