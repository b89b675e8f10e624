/**
 * The metadata API's mapping from a replica's outcomes to HTTP (src/meta/app.ts), through fastify's
 * `inject()` over a fake replica (ReplicaApi): no Raft, no LevelDB, no process. Each route answers a
 * follower's NOT_LEADER with the leader's hints, every error code with its status from the one table,
 * an unexpected failure with a bare 500, and a result with its body; bodies over their limits are
 * refused before anything is proposed. (Who may call a route: test/meta/authorization.test.ts.)
 */

import fc from "fast-check";
import Fastify from "fastify";
import { Agent } from "undici";
import { afterAll, describe, expect, test } from "vitest";
import { DfsError, ERROR_CODES, type ErrorCode } from "../../src/common/errors.js";
import {
  MAX_READ_TICKETS_PER_READ,
  META_ROUTES,
  type ReplicaStatus,
  SECRET_HEADER,
} from "../../src/common/protocol/index.js";
import { buildMetaServer } from "../../src/meta/app.js";
import type { TrackedNode } from "../../src/meta/data-tracker.js";
import { EventLog } from "../../src/meta/events.js";
import type { FsQueries, LeaderDataPath, ReplicaApi } from "../../src/meta/replica-api.js";
import type { BatchableCommand, Command } from "../../src/meta/state/index.js";

const SECRET = "api-outcomes-secret-0123456789";
const LEADER = { leaderId: 2, leaderUrl: "http://127.0.0.1:7002" };
const BODY_LIMIT_BYTES = 16 * 1024;
const INLINE_BYTES = 1024;
const CHUNK = (n: number) => n.toString(16).padStart(64, "0");
const session = { id: 1, seq: 1, ackedSeq: 0, secret: "session-secret" };

/** What the fake replica does with the next call: answer, refuse with a DfsError, or fail. */
type Outcome = { ok: unknown } | { err: Error };

const node = (id: number): TrackedNode => ({
  id,
  url: `http://127.0.0.1:${9000 + id}`,
  zone: `z${id}`,
  pid: id,
  capacityBytes: 1e9,
  freeBytes: 1e9,
  usedBytes: 0,
  chunks: new Set(),
  lastSeenMs: 0,
  reported: true,
  queue: [],
});

/** A replica whose every answer the test sets; it records what the routes asked of it. */
class FakeReplica implements ReplicaApi {
  leader = true;
  outcome: Outcome = { ok: {} };
  readonly proposed: Command[] = [];
  readonly reads: boolean[] = [];
  readonly registered: number[] = [];
  readonly placed: string[] = [];
  available = [node(1), node(2), node(3)];
  removedNodes = new Set<number>();
  readonly events = new EventLog(50, () => 1);
  readonly feed = { wait: async () => ({ index: 0, changes: [], reset: false }) };
  readonly fs = {
    dataNodeState: (id: number) => (this.removedNodes.has(id) ? "removed" : "active"),
  } as const;
  /** The file system the read routes query: each query answers with the outcome's value. */
  private readonly queries: FsQueries = {
    stat: () => this.answer(),
    listAsync: async () => this.answer(),
    versions: () => this.answer(),
    readVersion: () => this.answer(),
    locks: () => this.answer(),
    dataNodeState: () => "active",
  } as unknown as FsQueries;
  private readonly dataPath: LeaderDataPath = {
    nodes: new Map([[1, node(1)]]),
    choose: (_size, count, exclude) => this.available.filter((n) => !exclude.has(n.id)).slice(0, count),
    recordPlacement: (chunkId) => void this.placed.push(chunkId),
    ticket: (chunkId) => `ticket-for-${chunkId.slice(0, 4)}`,
    locations: (chunkId) => (chunkId === CHUNK(7) ? [{ id: 1, url: node(1).url }] : []),
    deadNodeIds: () => [3],
    register: (r) => void this.registered.push(r.id),
    heartbeat: () => ({ reregister: false, commands: [{ type: "delete", chunkIds: [CHUNK(9)] }] }),
    signQueued: () => {},
  };

  reset(): void {
    this.leader = true;
    this.outcome = { ok: {} };
    this.proposed.length = 0;
    this.reads.length = 0;
    this.registered.length = 0;
    this.placed.length = 0;
    this.available = [node(1), node(2), node(3)];
    this.removedNodes = new Set();
  }

  get tracker(): LeaderDataPath | null {
    return this.leader ? this.dataPath : null;
  }
  private answer(): never {
    if ("err" in this.outcome) throw this.outcome.err;
    return this.outcome.ok as never;
  }
  private async settle<T>(): Promise<T> {
    await Promise.resolve();
    return this.answer();
  }
  isLeader(): boolean {
    return this.leader;
  }
  notLeader(): DfsError {
    return new DfsError("NOT_LEADER", "this replica is not the leader", LEADER);
  }
  async mutate(command: Command): Promise<unknown> {
    if (!this.leader) throw this.notLeader();
    this.proposed.push(command);
    return this.settle();
  }
  async mutateBatch(commands: BatchableCommand[]): Promise<PromiseSettledResult<unknown>[]> {
    if (!this.leader) throw this.notLeader();
    this.proposed.push(...commands);
    return Promise.allSettled(commands.map(() => this.settle()));
  }
  async read<T>(stale: boolean, query: (fs: FsQueries) => T): Promise<{ value: T; index: number }> {
    this.reads.push(stale);
    if (!this.leader && !stale) throw this.notLeader();
    await Promise.resolve();
    return { value: query(this.queries), index: 42 };
  }
  status(): ReplicaStatus {
    return {
      id: 1,
      url: "http://127.0.0.1:7001",
      role: this.leader ? "leader" : "follower",
      term: 3,
      leader: this.leader ? 1 : LEADER.leaderId,
      leaderUrl: this.leader ? "http://127.0.0.1:7001" : LEADER.leaderUrl,
      commitIndex: 5,
      appliedIndex: 5,
      lastLogIndex: 5,
      snapshotIndex: 0,
      snapshotsInstalled: 0,
      pid: 1,
      member: "voter",
      peers: [],
    };
  }
  dataStatus() {
    return { data: [], underReplicatedChunks: 0, corruptChunks: 0 };
  }
  private async admin<T>(): Promise<T> {
    if (!this.leader) throw this.notLeader();
    return this.settle();
  }
  addMetaReplica = () => this.admin<{ id: number; url: string; state: "learner" }>();
  removeMetaReplica = () => this.admin<{ id: number; removed: true }>();
  decommissionDataNode = () => this.admin<{ id: number; state: string; remainingChunks: number }>();
  removeDataNode = () => this.admin<{ id: number; state: string }>();
}

/**
 * One server for the whole file (building one compiles every route's schemas); each test starts from a
 * reset replica, so no test sees another's answers.
 */
let shared: ReturnType<typeof build> | null = null;
afterAll(async () => {
  await shared?.app.close();
  await shared?.dispatcher.close();
});

function build() {
  const replica = new FakeReplica();
  const dispatcher = new Agent();
  const app = buildMetaServer(
    {
      secret: SECRET,
      inlineThresholdBytes: INLINE_BYTES,
      replication: 3,
      chunkSizeBytes: 65536,
      bodyLimitBytes: BODY_LIMIT_BYTES,
    },
    { replica, dispatcher, app: Fastify({ logger: false, bodyLimit: BODY_LIMIT_BYTES }) },
  );
  const call = async (r: Call) => {
    const res = await app.inject({
      method: r.method,
      url: r.url,
      ...(r.body !== undefined ? { payload: r.body as object } : {}),
      headers: r.url.startsWith("/internal/") ? { [SECRET_HEADER]: SECRET } : {},
    });
    return { status: res.statusCode, body: res.json() as Record<string, unknown> };
  };
  return { app, dispatcher, replica, call };
}

function setup() {
  shared ??= build();
  shared.replica.reset();
  return shared;
}

interface Call {
  name: string;
  method: "GET" | "POST";
  url: string;
  body?: unknown;
  /** A result the replica may give, and the body the client must see for it. */
  ok: unknown;
  sees?: unknown;
}

const post = (name: keyof typeof META_ROUTES, body: unknown, ok: unknown, sees?: unknown): Call => ({
  name,
  method: "POST",
  url: META_ROUTES[name],
  body,
  ok,
  ...(sees !== undefined ? { sees } : {}),
});
const get = (name: keyof typeof META_ROUTES, query: string, ok: unknown, sees?: unknown): Call => ({
  name,
  method: "GET",
  url: `${META_ROUTES[name]}?${query}`,
  ok,
  ...(sees !== undefined ? { sees } : {}),
});

/** Routes that propose through `mutate`. */
const MUTATIONS: Call[] = [
  post("keepAlive", { sessionId: 1, secret: "s" }, { sessionId: 1 }),
  post("mkdir", { path: "/a", session }, { created: ["/a"] }),
  post(
    "commit",
    { path: "/a", content: { kind: "inline", dataBase64: "aGk=" }, session },
    { version: 3, path: "/a" },
  ),
  post("rename", { from: "/a", to: "/b", session }, {}),
  post("delete", { path: "/a", session }, { removed: 1 }),
  post(
    "txn",
    { conditions: [], ops: [{ type: "mkdir", path: "/t" }], session },
    { results: [{ created: ["/t"] }] },
  ),
  post(
    "lockAcquire",
    { path: "/a", mode: "exclusive", ttlMs: 1000, owner: "me", session },
    { token: 5, expiresAtMs: 2000 },
  ),
  post("lockRenew", { path: "/a", token: 5, session }, { expiresAtMs: 3000 }),
  post("lockRelease", { path: "/a", token: 5, session }, { released: true }),
  post("abandon", { chunkIds: [CHUNK(1)], session }, {}),
  post("adminBreakLock", { path: "/a", session }, { path: "/a", broken: [] }),
];
/** Routes that query the state through `read`. */
const READS: Call[] = [
  get("stat", "path=/a", { path: "/a", type: "file", createdAtMs: 1, modifiedAtMs: 2, version: 1 }),
  get("list", "path=/", [{ name: "a", path: "/a", type: "file" }], {
    entries: [{ name: "a", path: "/a", type: "file" }],
    truncated: false,
  }),
  get("versions", "path=/a", [{ path: "/a", version: 1, sizeBytes: 2 }], {
    versions: [{ path: "/a", version: 1, sizeBytes: 2 }],
  }),
  get(
    "read",
    "path=/a",
    {
      path: "/a",
      version: 1,
      sizeBytes: 2,
      createdAtMs: 1,
      content: { kind: "inline", data: Buffer.from("hi") },
    },
    {
      path: "/a",
      version: 1,
      sizeBytes: 2,
      createdAtMs: 1,
      content: { kind: "inline", dataBase64: "aGk=" },
      index: 42,
    },
  ),
  get("locks", "path=/a", [], { locks: [] }),
];
/** Admin routes answered by the replica's own methods. */
const ADMIN: Call[] = [
  post("adminAddMeta", { id: 4 }, { id: 4, url: "http://127.0.0.1:7004", state: "learner" }),
  post("adminRemoveMeta", { id: 3 }, { id: 3, removed: true }),
  post("adminDecommissionData", { id: 2 }, { id: 2, state: "draining", remainingChunks: 7 }),
  post("adminRemoveData", { id: 2 }, { id: 2, state: "removed" }),
];
/** Leader-only data-path routes (the tracker exists only on the leader). */
const DATA_PATH: Call[] = [
  post("placement", { chunkId: CHUNK(1), sizeBytes: 100 }, null),
  get("locations", `ids=${CHUNK(7)}`, null),
  post(
    "dataRegister",
    {
      id: 1,
      url: "http://127.0.0.1:9001",
      zone: "a",
      pid: 1,
      capacityBytes: 1,
      freeBytes: 1,
      usedBytes: 0,
      chunks: [],
    },
    null,
  ),
  post(
    "dataHeartbeat",
    { id: 1, pid: 1, freeBytes: 1, usedBytes: 0, chunkCount: 0, added: [], removed: [], corrupt: [] },
    null,
  ),
  get("clusterStatus", "", null),
  post("placements", { chunks: [{ chunkId: CHUNK(1), sizeBytes: 100 }] }, null),
  get("deadDataNodes", "", null),
];
const REPLICA_ANSWERS = [...MUTATIONS, ...READS, ...ADMIN];

describe("a follower's answer", () => {
  test.each([...MUTATIONS, ...ADMIN, ...DATA_PATH, post("openSession", {}, null)].map((c) => [c.name, c]))(
    "%s: 421 NOT_LEADER with the leader's id and URL, nothing proposed",
    async (_name, c) => {
      const { replica, call } = setup();
      replica.leader = false;
      const r = await call(c);
      expect(r.status).toBe(421);
      expect(r.body).toMatchObject({ code: "NOT_LEADER", ...LEADER });
      expect(replica.proposed).toEqual([]);
      expect(replica.registered).toEqual([]);
    },
  );

  test.each(READS.map((c) => [c.name, c]))(
    "%s: linearizable on a follower → 421 with hints; stale → served",
    async (_n, c) => {
      const { replica, call } = setup();
      replica.leader = false;
      replica.outcome = { ok: c.ok };
      const r = await call(c);
      expect(r.status).toBe(421);
      expect(r.body).toMatchObject({ code: "NOT_LEADER", ...LEADER });
      const stale = await call({ ...c, url: `${c.url}&stale=true` });
      expect(stale.status).toBe(200);
      expect(replica.reads).toEqual([false, true]);
    },
  );
});

describe("error codes → HTTP status", () => {
  const codes = Object.keys(ERROR_CODES) as ErrorCode[];

  test("every code a replica refuses with reaches the client with its status, code, message and details", async () => {
    const { replica, call } = setup();
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...REPLICA_ANSWERS),
        fc.constantFrom(...codes),
        fc.string({ maxLength: 40 }),
        async (c, code, message) => {
          replica.outcome = { err: new DfsError(code, message, { path: "/detail", retryAfterMs: 5 }) };
          const r = await call(c);
          expect(r.status).toBe(ERROR_CODES[code].httpStatus);
          expect(r.body).toEqual({ code, message, path: "/detail", retryAfterMs: 5 });
        },
      ),
      { numRuns: 300, seed: 13 },
    );
  });

  test.each(REPLICA_ANSWERS.map((c) => [c.name, c]))(
    "%s: an unexpected failure is a bare 500 INTERNAL (its message stays in the server)",
    async (_n, c) => {
      const { replica, call } = setup();
      replica.outcome = { err: new Error("disk on fire at /secret/path") };
      const r = await call(c);
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ code: "INTERNAL", message: "internal error" });
    },
  );

  test("an unknown route is a JSON 404 NOT_FOUND", async () => {
    const { call } = setup();
    const r = await call({ name: "none", method: "GET", url: "/v1/nothing?x=1", ok: null });
    expect(r).toEqual({ status: 404, body: { code: "NOT_FOUND", message: "no route GET /v1/nothing" } });
  });
});

describe("results → 200 bodies", () => {
  test.each(REPLICA_ANSWERS.map((c) => [c.name, c]))(
    "%s: the replica's result is the body",
    async (_n, c) => {
      const { replica, call } = setup();
      replica.outcome = { ok: c.ok };
      const r = await call(c);
      expect(r.status).toBe(200);
      expect(r.body).toEqual(c.sees ?? c.ok);
    },
  );

  test("a session open proposes only the secret's hash and hands the secret to the caller", async () => {
    const { replica, call } = setup();
    replica.outcome = { ok: { sessionId: 9, timeoutMs: 60_000 } };
    const r = await call(post("openSession", {}, null));
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ sessionId: 9, timeoutMs: 60_000 });
    expect(typeof r.body.secret).toBe("string");
    expect(JSON.stringify(replica.proposed)).not.toContain(r.body.secret as string);
  });

  test("reads are linearizable unless stale=true or stale=1", async () => {
    const { replica, call } = setup();
    replica.outcome = { ok: READS[0]!.ok };
    for (const q of ["", "&stale=true", "&stale=1", "&stale=false"])
      await call({ ...READS[0]!, url: `${READS[0]!.url}${q}` });
    expect(replica.reads).toEqual([false, true, true, false]);
  });

  test("a chunked read carries a read ticket per distinct chunk, at most MAX_READ_TICKETS_PER_READ", async () => {
    const { replica, call } = setup();
    const many = MAX_READ_TICKETS_PER_READ + 5;
    const chunks = [CHUNK(1), CHUNK(1), ...Array.from({ length: many }, (_, i) => CHUNK(100 + i))].map(
      (id) => ({
        id,
        sizeBytes: 1,
      }),
    );
    replica.outcome = {
      ok: {
        path: "/a",
        version: 1,
        sizeBytes: chunks.length,
        createdAtMs: 1,
        content: { kind: "chunks", chunks, sizeBytes: chunks.length },
      },
    };
    const r = await call(READS[3]!);
    expect(r.status).toBe(200);
    const tickets = r.body.tickets as Record<string, string>;
    expect(Object.keys(tickets)).toHaveLength(MAX_READ_TICKETS_PER_READ);
    expect(Object.keys(tickets)[0]).toBe(CHUNK(1));
  });

  test("placement: R live nodes with a ticket, recorded for reads; half of R (rounded up) when fewer are live; fewer → 503 UNAVAILABLE", async () => {
    const { replica, call } = setup();
    const ok = await call(DATA_PATH[0]!);
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      chunkId: CHUNK(1),
      nodes: [1, 2, 3].map((id) => ({ id, url: node(id).url })),
      ticket: `ticket-for-${CHUNK(1).slice(0, 4)}`,
    });
    expect(replica.placed).toEqual([CHUNK(1)]);
    replica.available = [node(1), node(2)];
    const degraded = await call(DATA_PATH[0]!);
    expect(degraded.status).toBe(200);
    expect(degraded.body).toMatchObject({ nodes: [1, 2].map((id) => ({ id, url: node(id).url })) });
    expect(replica.placed).toEqual([CHUNK(1), CHUNK(1)]);
    replica.available = [node(1)];
    const short = await call(DATA_PATH[0]!);
    expect(short.status).toBe(503);
    expect(short.body).toMatchObject({ code: "UNAVAILABLE", available: 1 });
    expect(replica.placed).toEqual([CHUNK(1), CHUNK(1)]);
  });

  test("placements: each chunk placed as the placement route places it, in the order asked; too few live nodes → 503, none recorded after it", async () => {
    const { replica, call } = setup();
    const chunks = [CHUNK(1), CHUNK(2), CHUNK(3)].map((chunkId) => ({ chunkId, sizeBytes: 100 }));
    const ok = await call(post("placements", { chunks }, null));
    expect(ok.status).toBe(200);
    expect(ok.body).toEqual({
      placements: chunks.map((c) => ({
        chunkId: c.chunkId,
        nodes: [1, 2, 3].map((id) => ({ id, url: node(id).url })),
        ticket: `ticket-for-${c.chunkId.slice(0, 4)}`,
      })),
    });
    expect(replica.placed).toEqual([CHUNK(1), CHUNK(2), CHUNK(3)]);
    const big = await call(post("placements", { chunks: [{ chunkId: CHUNK(4), sizeBytes: 65537 }] }, null));
    expect(big.status).toBe(400);
    const none = await call(post("placements", { chunks: [] }, null));
    expect(none.status).toBe(400);
    replica.available = [node(1), node(2)];
    const degraded = await call(post("placements", { chunks: chunks.slice(0, 1) }, null));
    expect(degraded.status).toBe(200);
    expect(degraded.body).toMatchObject({
      placements: [{ nodes: [1, 2].map((id) => ({ id, url: node(id).url })) }],
    });
    expect(replica.placed).toEqual([CHUNK(1), CHUNK(2), CHUNK(3), CHUNK(1)]);
    replica.available = [node(1)];
    const short = await call(post("placements", { chunks }, null));
    expect(short.status).toBe(503);
    expect(short.body).toMatchObject({ code: "UNAVAILABLE", available: 1 });
    expect(replica.placed).toEqual([CHUNK(1), CHUNK(2), CHUNK(3), CHUNK(1)]);
  });

  test("locations answer each id with its holders and a read ticket", async () => {
    const { call } = setup();
    const r = await call(DATA_PATH[1]!);
    expect(r.status).toBe(200);
    expect(r.body.locations).toEqual({ [CHUNK(7)]: [{ id: 1, url: node(1).url }] });
    expect(Object.keys(r.body.tickets as object)).toEqual([CHUNK(7)]);
  });

  test("the leader names the data nodes it judges dead", async () => {
    const { call } = setup();
    const r = await call(DATA_PATH.find((c) => c.name === "deadDataNodes")!);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ deadNodes: [3] });
  });

  test("a register from a removed data node is 403 FORBIDDEN and not recorded; a heartbeat gets its commands", async () => {
    const { replica, call } = setup();
    replica.removedNodes.add(1);
    const refused = await call(DATA_PATH[2]!);
    expect(refused.status).toBe(403);
    expect(refused.body).toMatchObject({ code: "FORBIDDEN", id: 1 });
    expect(replica.registered).toEqual([]);
    replica.removedNodes.clear();
    expect((await call(DATA_PATH[2]!)).status).toBe(200);
    expect(replica.registered).toEqual([1]);
    const beat = await call(DATA_PATH[3]!);
    expect(beat).toEqual({
      status: 200,
      body: { reregister: false, commands: [{ type: "delete", chunkIds: [CHUNK(9)] }] },
    });
  });
});

describe("body limits", () => {
  test("a body over the API's limit is 413 PAYLOAD_TOO_LARGE and nothing is proposed", async () => {
    const { replica, call } = setup();
    const r = await call(post("mkdir", { path: `/${"a".repeat(BODY_LIMIT_BYTES)}`, session }, null));
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(replica.proposed).toEqual([]);
  });

  test("a data node's full inventory passes where the API's limit would refuse it", async () => {
    const { replica, call } = setup();
    const chunks = Array.from({ length: Math.ceil((2 * BODY_LIMIT_BYTES) / 67) }, (_, i) => CHUNK(i));
    const body = { ...(DATA_PATH[2]!.body as object), chunks };
    expect(JSON.stringify(body).length).toBeGreaterThan(BODY_LIMIT_BYTES);
    expect((await call(post("dataRegister", body, null))).status).toBe(200);
    expect(replica.registered).toEqual([1]);
  });

  test("inline content over the threshold is 413 PAYLOAD_TOO_LARGE, to be stored in chunks", async () => {
    const { replica, call } = setup();
    const dataBase64 = Buffer.alloc(INLINE_BYTES + 1).toString("base64");
    const r = await call(
      post("commit", { path: "/a", content: { kind: "inline", dataBase64 }, session }, null),
    );
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(replica.proposed).toEqual([]);
  });

  test("a body that fails its route's schema is 400 BAD_REQUEST and nothing is proposed", async () => {
    const { replica, call } = setup();
    for (const c of MUTATIONS) {
      const r = await call({ ...c, body: { ...(c.body as object), unexpected: true } });
      expect([c.name, r.status, r.body.code]).toEqual([c.name, 400, "BAD_REQUEST"]);
    }
    expect(replica.proposed).toEqual([]);
  });
});
