/**
 * The batch route (src/meta/batch-route.ts) against a real replica in this process (LevelDB, Raft,
 * HTTP on 127.0.0.1): every item answers what its own route would have answered; a whole batch is
 * refused for a duplicate seq, too many items or too many bytes, with nothing applied; each item is
 * authorized by its own route's rule; a follower refuses the whole batch with NOT_LEADER.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import Fastify from "fastify";
import { pack } from "msgpackr";
import { Agent, Client } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DfsError } from "../../src/common/errors.js";
import {
  BATCH_MAX_ITEMS,
  BATCH_MSGPACK_TYPE,
  META_ROUTES,
  type WireSession,
} from "../../src/common/protocol/index.js";
import { buildMetaServer } from "../../src/meta/app.js";
import { type RunningMeta, runMetaReplica } from "../../src/meta/main.js";
import type { ReplicaApi } from "../../src/meta/replica-api.js";
import { freePort, waitFor } from "../support/cluster-harness.js";

const TOKENS = [
  { name: "reader", token: "t-read-0123456789abcdef", role: "read" as const },
  { name: "writer", token: "t-write-0123456789abcdef", role: "write" as const },
];
const READER = TOKENS[0]!.token;
const WRITER = TOKENS[1]!.token;

let dir: string;
let meta: RunningMeta;
let http: Client;

async function call(
  method: "GET" | "POST",
  path: string,
  token: string | null,
  body?: unknown,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await http.request({
    method,
    path,
    headers: {
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    body: body !== undefined ? JSON.stringify(body) : null,
  });
  return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
}

/** A session and its next seq, as a client keeps them. */
class TestSession {
  private seq = 1;
  constructor(
    readonly id: number,
    readonly secret: string,
  ) {}
  static async open(): Promise<TestSession> {
    const r = await call("POST", META_ROUTES.openSession, WRITER, {});
    expect(r.status).toBe(200);
    return new TestSession(r.body.sessionId as number, r.body.secret as string);
  }
  /** The next seq; `ackedSeq` as a client with calls in flight sends it: below the oldest unanswered. */
  next(ackedSeq?: number): WireSession {
    const seq = this.seq++;
    return { id: this.id, seq, ackedSeq: ackedSeq ?? seq - 1, secret: this.secret };
  }
}

const stat = (path: string, token = WRITER) =>
  call("GET", `${META_ROUTES.stat}?path=${encodeURIComponent(path)}`, token);
const batch = (items: unknown[], token: string | null = WRITER) =>
  call("POST", META_ROUTES.batch, token, { items });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "raftfs-batch-"));
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "batch-route-secret-0123456789",
      raft: { tickIntervalMs: 20 },
      meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
      tokens: TOKENS,
    }),
  );
  process.env.RAFTFS_LOG_LEVEL = "silent";
  meta = await runMetaReplica({ configPath, id: 1 });
  await waitFor("the replica to lead", async () => (meta.replica.isLeader() ? true : null));
  http = new Client(meta.url);
}, 60_000);

afterAll(async () => {
  await http?.close();
  await meta?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** An answer with what differs between two equal histories taken apart: clocks, and the prefix. */
function normalized(v: unknown, prefix: string): unknown {
  const text = JSON.stringify(v).replaceAll(prefix, "<p>");
  // A node's id (`ino`) is per tree too: the twins' files are different nodes.
  return JSON.parse(text, (key, value) =>
    key.endsWith("AtMs") || key === "sessionId" || key === "ino" ? 0 : value,
  );
}

type Gen =
  | { kind: "commit"; name: string; data: string; expectedVersion?: number; createParents: boolean }
  | { kind: "stat"; name: string };

const NAMES = ["x", "y", "d/z", "d", "d/e/f"];
const genItem: fc.Arbitrary<Gen> = fc.oneof(
  fc.record(
    {
      kind: fc.constant("commit" as const),
      name: fc.constantFrom(...NAMES),
      data: fc.string({ maxLength: 40 }),
      expectedVersion: fc.integer({ min: 0, max: 3 }),
      createParents: fc.boolean(),
    },
    { requiredKeys: ["kind", "name", "data", "createParents"] },
  ),
  fc.record({ kind: fc.constant("stat" as const), name: fc.constantFrom(...NAMES) }),
);

describe("the batch route", () => {
  test("each item answers what its own route answers (any mix of commits and stats)", async () => {
    // Two twins of one history: `a` through batches, `b` through the single routes, item by item.
    const sa = await TestSession.open();
    const sb = await TestSession.open();
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(genItem, { minLength: 1, maxLength: 12 }), async (gens) => {
        run++;
        const pa = `/batch-prop/${run}/a`;
        const pb = `/batch-prop/${run}/b`;
        const commitBody = (g: Gen & { kind: "commit" }, prefix: string, s: TestSession) => ({
          path: `${prefix}/${g.name}`,
          content: { kind: "inline", dataBase64: Buffer.from(g.data).toString("base64") },
          ...(g.expectedVersion !== undefined ? { expectedVersion: g.expectedVersion } : {}),
          ...(g.createParents ? { createParents: true } : {}),
          session: s.next(),
        });
        // Before: the twins hold the same tree (the prefix directories exist in both).
        for (const p of [pa, pb]) {
          const s = p === pa ? sa : sb;
          const r = await call("POST", META_ROUTES.mkdir, WRITER, {
            path: p,
            parents: true,
            session: s.next(),
          });
          expect(r.status).toBe(200);
        }
        const statsBefore = new Map<number, unknown>();
        for (const [i, g] of gens.entries()) {
          if (g.kind === "stat") statsBefore.set(i, normalized((await stat(`${pb}/${g.name}`)).body, pb));
        }
        const items = gens.map((g) =>
          g.kind === "commit"
            ? { kind: "commit", body: commitBody(g, pa, sa) }
            : { kind: "stat", path: `${pa}/${g.name}` },
        );
        const answer = await batch(items);
        expect(answer.status).toBe(200);
        const results = answer.body.results as { value?: unknown; error?: unknown }[];
        expect(results).toHaveLength(gens.length);
        // The single routes, in item order (the order the batch proposed its commits in).
        for (const [i, g] of gens.entries()) {
          if (g.kind !== "commit") continue;
          const single = await call("POST", META_ROUTES.commit, WRITER, commitBody(g, pb, sb));
          const got = results[i]!;
          const want = single.status === 200 ? { value: single.body } : { error: single.body };
          expect(normalized(got, pa)).toEqual(normalized(want, pb));
        }
        // A stat is concurrent with the batch's commits: it sees the tree before them or after them.
        for (const [i, g] of gens.entries()) {
          if (g.kind !== "stat") continue;
          const after = normalized((await stat(`${pb}/${g.name}`)).body, pb);
          const r = results[i]!;
          const got = normalized(r.value ?? r.error, pa);
          expect([statsBefore.get(i), after]).toContainEqual(got);
        }
        // And the twins end equal.
        for (const name of NAMES) {
          expect(normalized((await stat(`${pa}/${name}`)).body, pa)).toEqual(
            normalized((await stat(`${pb}/${name}`)).body, pb),
          );
        }
      }),
      { numRuns: 25 },
    );
  }, 120_000);

  test("a batch's commits reach the log as one entry, not one entry per commit", async () => {
    const s = await TestSession.open();
    const commits = 20;
    const items = Array.from({ length: commits }, (_, n) => ({
      kind: "commit",
      body: {
        path: `/one-entry/${n}`,
        content: { kind: "inline", dataBase64: Buffer.from(`v${n}`).toString("base64") },
        createParents: true,
        session: s.next(0),
      },
    }));
    const before = meta.replica.status().commitIndex;
    const r = await batch(items);
    expect(r.status).toBe(200);
    expect((r.body.results as { value?: { version: number } }[]).map((x) => x.value?.version)).toEqual(
      items.map(() => 1),
    );
    // One entry for the batch; the slack is for a leader duty that may propose meanwhile.
    expect(meta.replica.status().commitIndex - before).toBeLessThan(5);
  });

  test("a retried batch (same body, same seqs) is applied once: each item gets its first answer", async () => {
    const s = await TestSession.open();
    // Sent together, none answered yet: every item acknowledges only what came before the batch.
    const items = [1, 2, 3].map((n) => ({
      kind: "commit",
      body: {
        path: `/retry/${n}`,
        content: { kind: "inline", dataBase64: Buffer.from(`v${n}`).toString("base64") },
        createParents: true,
        session: s.next(0),
      },
    }));
    const first = await batch(items);
    const again = await batch(items);
    expect(again).toEqual(first);
    for (const n of [1, 2, 3]) expect((await stat(`/retry/${n}`)).body.version).toBe(1);
  });

  test("a msgpack body carries inline bytes as they are: the same answers and content as base64 in JSON", async () => {
    const s = await TestSession.open();
    const bytes = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7) & 0xff));
    const commit = (path: string, content: unknown) => ({
      kind: "commit",
      body: { path, content, createParents: true, session: s.next() },
    });
    const send = async (body: Buffer) => {
      const res = await http.request({
        method: "POST",
        path: META_ROUTES.batch,
        headers: { authorization: `Bearer ${WRITER}`, "content-type": BATCH_MSGPACK_TYPE },
        body,
      });
      return { status: res.statusCode, body: (await res.body.json()) as Record<string, unknown> };
    };
    const binary = await send(
      pack({
        items: [
          commit("/packed/bin", { kind: "inline", data: bytes }),
          commit("/packed/b64", { kind: "inline", dataBase64: bytes.toString("base64") }),
          { kind: "stat", path: "/packed" },
        ],
      }),
    );
    expect(binary.status).toBe(200);
    expect(binary.body.results).toEqual([
      { value: { version: 1 } },
      { value: { version: 1 } },
      expect.anything(),
    ]);
    for (const name of ["bin", "b64"]) {
      const r = await call("GET", `${META_ROUTES.read}?path=/packed/${name}`, WRITER);
      expect((r.body.content as { dataBase64: string }).dataBase64).toBe(bytes.toString("base64"));
    }
    // Bytes over the inline threshold, a body that is not msgpack, bytes where a string belongs: 4xx.
    const big = await send(
      pack({ items: [commit("/packed/big", { kind: "inline", data: Buffer.alloc(70_000) })] }),
    );
    expect(big.body.results).toEqual([{ error: expect.objectContaining({ code: "PAYLOAD_TOO_LARGE" }) }]);
    expect((await send(Buffer.from([0xc1, 0x00]))).status).toBe(400);
    const wrong = await send(pack({ items: [{ kind: "stat", path: Buffer.from("/packed") }] }));
    expect(wrong.status).toBe(400);
    expect((await stat("/packed/big")).body.code).toBe("NOT_FOUND");
  });

  test("the whole batch is refused, with nothing applied, for one seq used twice", async () => {
    const s = await TestSession.open();
    const session = s.next();
    const item = (path: string) => ({
      kind: "commit",
      body: { path, content: { kind: "inline", dataBase64: "eA==" }, createParents: true, session },
    });
    const r = await batch([item("/dup/a"), item("/dup/b")]);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe("BAD_REQUEST");
    expect(r.body.message).toMatch(/twice/);
    expect((await stat("/dup/a")).body.code).toBe("NOT_FOUND");
    expect((await stat("/dup/b")).body.code).toBe("NOT_FOUND");
  });

  test("more than BATCH_MAX_ITEMS items, more than 1 MiB, or no items: refused, nothing applied", async () => {
    const s = await TestSession.open();
    const many = Array.from({ length: BATCH_MAX_ITEMS + 1 }, (_, i) => ({
      kind: "commit",
      body: {
        path: `/over/${i}`,
        content: { kind: "inline", dataBase64: "eA==" },
        createParents: true,
        session: s.next(),
      },
    }));
    const tooMany = await batch(many);
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.code).toBe("BAD_REQUEST");
    // 20 items of 60 KiB (80 KiB in base64): 1.6 MB of body.
    const big = Array.from({ length: 20 }, (_, i) => ({
      kind: "commit",
      body: {
        path: `/big/${i}`,
        content: { kind: "inline", dataBase64: Buffer.alloc(60 * 1024, i).toString("base64") },
        createParents: true,
        session: s.next(),
      },
    }));
    const tooBig = await batch(big);
    expect(tooBig.status).toBe(413);
    expect(tooBig.body.code).toBe("PAYLOAD_TOO_LARGE");
    expect((await batch([])).body.code).toBe("BAD_REQUEST");
    expect((await stat("/over/0")).body.code).toBe("NOT_FOUND");
    expect((await stat("/big/0")).body.code).toBe("NOT_FOUND");
  });

  test("each item is authorized by its own route: a read token's commit is FORBIDDEN, its stat answered", async () => {
    const s = await TestSession.open();
    const seed = await call("POST", META_ROUTES.commit, WRITER, {
      path: "/roles/seen",
      content: { kind: "inline", dataBase64: "eA==" },
      createParents: true,
      session: s.next(),
    });
    expect(seed.status).toBe(200);
    const smuggled = {
      kind: "commit",
      body: {
        path: "/roles/smuggled",
        content: { kind: "inline", dataBase64: "eA==" },
        createParents: true,
        session: s.next(),
      },
    };
    const r = await batch([{ kind: "stat", path: "/roles/seen" }, smuggled], READER);
    expect(r.status).toBe(200);
    const [seen, refused] = r.body.results as { value?: Record<string, unknown>; error?: { code: string } }[];
    expect(seen?.value?.version).toBe(1);
    expect(refused?.error?.code).toBe("FORBIDDEN");
    // Exactly what the commit route answers the same token.
    const single = await call("POST", META_ROUTES.commit, READER, smuggled.body);
    expect(single.status).toBe(403);
    expect(refused?.error).toEqual(single.body);
    expect((await stat("/roles/smuggled")).body.code).toBe("NOT_FOUND");
    // No token at all: the batch route itself is refused.
    expect((await batch([{ kind: "stat", path: "/roles/seen" }], null)).status).toBe(401);
  });
});

describe("the batch route on a follower", () => {
  test("refuses the whole batch with NOT_LEADER and the leader's hints; proposes and reads nothing", async () => {
    const touched: string[] = [];
    const hint = { leaderId: 2, leaderUrl: "http://127.0.0.1:7002" };
    const replica = {
      isLeader: () => false,
      notLeader: () => new DfsError("NOT_LEADER", "this replica is not the leader", hint),
      mutate: async () => touched.push("mutate"),
      read: async () => touched.push("read"),
    } as unknown as ReplicaApi;
    const dispatcher = new Agent();
    const app = buildMetaServer(
      {
        secret: "s".repeat(32),
        inlineThresholdBytes: 1024,
        replication: 3,
        chunkSizeBytes: 65536,
        bodyLimitBytes: 65536,
      },
      { replica, dispatcher, app: Fastify({ logger: false }) },
    );
    try {
      const res = await app.inject({
        method: "POST",
        url: META_ROUTES.batch,
        payload: { items: [{ kind: "stat", path: "/a" }] },
      });
      expect(res.statusCode).toBe(new DfsError("NOT_LEADER", "").httpStatus);
      expect(res.json()).toMatchObject({ code: "NOT_LEADER", ...hint });
      expect(touched).toEqual([]);
    } finally {
      await app.close();
      await dispatcher.close();
    }
  });
});
