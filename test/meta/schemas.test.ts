/**
 * Every route of both process kinds has a schema (request and response), registered through fastify's
 * `onRoute` hook so that a future route without one fails here; and every kind of bad input is
 * refused at the route with a JSON error: a bad body or query → 400, a body over the limit → 413,
 * an internal route without the secret → 401 before its body is looked at. Nothing changes.
 * The metadata replica is the real one (runMetaReplica, LevelDB, HTTP on 127.0.0.1), alone in its
 * cluster so that it leads.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Fastify, { type RouteOptions } from "fastify";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { DATA_ROUTES, META_ROUTES, SECRET_HEADER } from "../../src/common/protocol/index.js";
import { buildDataServer, ChunkStore } from "../../src/data/index.js";
import { type RunningMeta, runMetaReplica } from "../../src/meta/main.js";
import { freePort, waitFor } from "../support/cluster-harness.js";

const SECRET = "schema-test-secret-0123";
const INLINE = 4096;
/**
 * The Raft transport's routes (src/raft/transport.ts, under /raft/) are its own business: binary
 * message batches, secret-checked on arrival and decoded (and checked) by the Raft codec.
 */
const isTransportRoute = (key: string) => key.split(" ")[1]?.startsWith("/raft/") === true;

interface Seen {
  key: string;
  schema: RouteOptions["schema"];
}
const collect = (into: Seen[]) => (r: RouteOptions) => {
  for (const m of [r.method].flat()) into.push({ key: `${m} ${r.url}`, schema: r.schema });
};

function expectSchemas(routes: Seen[]): void {
  expect(routes.length).toBeGreaterThan(0);
  for (const r of routes) {
    if (isTransportRoute(r.key)) continue;
    expect(r.schema, `${r.key} has no schema`).toBeDefined();
    expect(r.schema?.response, `${r.key} has no response schema`).toBeDefined();
    const res = r.schema?.response as Record<string, unknown>;
    expect(res["4xx"], `${r.key} does not declare its error shape`).toBeDefined();
    if (r.key.startsWith("POST ")) expect(r.schema?.body, `${r.key} has no body schema`).toBeDefined();
  }
}

let dir: string;
let meta: RunningMeta;
const metaRoutes: Seen[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "raftfs-schemas-"));
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: SECRET,
      inlineThresholdBytes: INLINE,
      raft: { tickIntervalMs: 20 },
      meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
    }),
  );
  process.env.RAFTFS_LOG_LEVEL = "silent";
  meta = await runMetaReplica({ configPath, id: 1, onRoute: collect(metaRoutes) });
  await waitFor("replica 1 to lead", async () => (meta.replica.isLeader() ? true : null));
});
afterAll(async () => {
  await meta?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function call(
  method: "GET" | "POST",
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: { code?: string; message?: string } }> {
  const res = await request(`${meta.url}${path}`, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...headers },
    ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}),
    headersTimeout: 5000,
    bodyTimeout: 5000,
  });
  return { status: res.statusCode, body: (await res.body.json()) as { code?: string } };
}

describe("every route has a schema", () => {
  test("metadata replica: every route but the Raft transport's declares request and response schemas", () => {
    const keys = metaRoutes.map((r) => r.key);
    for (const path of Object.values(META_ROUTES)) {
      expect(
        keys.some((k) => k.endsWith(` ${path}`)),
        `${path} is registered`,
      ).toBe(true);
    }
    expect(keys.some(isTransportRoute)).toBe(true);
    expectSchemas(metaRoutes);
  });

  test("data node: every route declares request and response schemas", async () => {
    const d = mkdtempSync(join(tmpdir(), "raftfs-schemas-data-"));
    const seen: Seen[] = [];
    const app = Fastify({ logger: false });
    app.addHook("onRoute", collect(seen));
    const store = await ChunkStore.open({ dir: d, chunkSizeBytes: 65536, freeSpaceReserveBytes: 0 });
    buildDataServer(
      { nodeId: 1, url: "http://127.0.0.1:0", zone: "z", secret: SECRET, chunkSizeBytes: 65536 },
      { store, app },
    );
    try {
      await app.ready();
      const keys = seen.map((r) => r.key);
      for (const path of Object.values(DATA_ROUTES)) {
        expect(
          keys.some((k) => k.endsWith(` ${path}`)),
          `${path} is registered`,
        ).toBe(true);
      }
      expectSchemas(seen.filter((r) => !r.key.startsWith("PUT "))); // the PUT's body is a byte stream
      const put = seen.find((r) => r.key === `PUT ${DATA_ROUTES.chunk}`);
      expect(put?.schema?.params).toBeDefined();
      expect(put?.schema?.headers).toBeDefined();
      expect(put?.schema?.response).toBeDefined();

      // Refusals on the data node: a bad chunk id, a bad internal body, an oversized JSON body.
      // (With the cluster secret: without a credential the GET is refused before its id is checked.)
      const bad = await app.inject({
        method: "GET",
        url: "/v1/chunks/not-a-hash",
        headers: { [SECRET_HEADER]: SECRET },
      });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: "BAD_REQUEST" });
      const badBody = await app.inject({
        method: "POST",
        url: DATA_ROUTES.deleteChunks,
        headers: { [SECRET_HEADER]: SECRET },
        payload: { chunkIds: ["x"] },
      });
      expect(badBody.statusCode).toBe(400);
      const big = await app.inject({
        method: "POST",
        url: DATA_ROUTES.deleteChunks,
        headers: { [SECRET_HEADER]: SECRET, "content-type": "application/json" },
        payload: JSON.stringify({ chunkIds: ["a".repeat(2 * 1024 * 1024)] }),
      });
      expect(big.statusCode).toBe(413);
      expect(big.json()).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    } finally {
      await app.close();
      rmSync(d, { recursive: true, force: true });
    }
  });
});

describe("the metadata API refuses bad input at the route", () => {
  const session = async () => {
    const r = await call("POST", META_ROUTES.openSession, {});
    expect(r.status).toBe(200);
    const opened = r.body as unknown as { sessionId: number; secret: string };
    return { id: opened.sessionId, seq: 1, ackedSeq: 0, secret: opened.secret };
  };

  test("bad bodies → 400 JSON errors", async () => {
    const s = await session();
    const cases: [string, unknown][] = [
      [META_ROUTES.mkdir, { path: 5, session: s }],
      [META_ROUTES.mkdir, { path: "/a", session: s, sneaky: true }],
      [META_ROUTES.mkdir, { path: "/a" }],
      [META_ROUTES.mkdir, "[1,2"],
      [META_ROUTES.commit, { path: "/a", content: { kind: "inline" }, session: s }],
      [META_ROUTES.commit, { path: "/a", content: { kind: "tape", data: "x" }, session: s }],
      [META_ROUTES.lockAcquire, { path: "/a", mode: "mine", ttlMs: 10, owner: "o", session: s }],
      [META_ROUTES.placement, { chunkId: "zz", sizeBytes: 1 }],
      [META_ROUTES.placement, { chunkId: "a".repeat(64), sizeBytes: -1 }],
      [META_ROUTES.adminRemoveData, { id: "2" }],
      [META_ROUTES.adminAddMeta, { id: 0 }],
      [META_ROUTES.txn, { conditions: [], ops: "all", session: s }],
    ];
    for (const [route, body] of cases) {
      const r = await call("POST", route, body);
      expect(r.status, `${route} ${JSON.stringify(body)}`).toBe(400);
      expect(r.body.code).toBe("BAD_REQUEST");
      expect(typeof r.body.message).toBe("string");
    }
  });

  test("bad queries → 400 JSON errors", async () => {
    for (const path of [
      `${META_ROUTES.stat}`,
      `${META_ROUTES.stat}?path=`,
      `${META_ROUTES.read}?path=/a&version=abc`,
      `${META_ROUTES.read}?path=/a&version=0`,
      // Query integers are exact: the schema's conversion would read these as 1 (or 1000, 16).
      `${META_ROUTES.read}?path=/a&version=1.5`,
      `${META_ROUTES.read}?path=/a&version=1e3`,
      `${META_ROUTES.read}?path=/a&version=0x10`,
      `${META_ROUTES.read}?path=/a&version=%201`,
      `${META_ROUTES.watch}?after=1.5`,
      `${META_ROUTES.watch}?timeoutMs=2.5`,
      `${META_ROUTES.list}?path=/&stale=maybe`,
      `${META_ROUTES.watch}?after=-1`,
      `${META_ROUTES.locks}?path=/&extra=1`,
    ]) {
      const r = await call("GET", path);
      expect(r.status, path).toBe(400);
      expect(r.body.code).toBe("BAD_REQUEST");
    }
  });

  test("a body over the limit → 413; internal routes without the secret → 401 before the body", async () => {
    const s = await session();
    const huge = Buffer.alloc(INLINE * 2 + 128 * 1024).toString("base64");
    const r = await call("POST", META_ROUTES.commit, {
      path: "/big",
      content: { kind: "inline", dataBase64: huge },
      session: s,
    });
    expect(r.status).toBe(413);
    expect(r.body.code).toBe("PAYLOAD_TOO_LARGE");
    const noSecret = await call("POST", META_ROUTES.dataHeartbeat, { nonsense: true });
    expect(noSecret.status).toBe(401);
    const badWithSecret = await call(
      "POST",
      META_ROUTES.dataHeartbeat,
      { nonsense: true },
      { [SECRET_HEADER]: SECRET },
    );
    expect(badWithSecret.status).toBe(400);
  });

  test("after all of that, nothing changed", async () => {
    const r = await call("GET", `${META_ROUTES.list}?path=/`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ entries: [], truncated: false });
  });
});
