/**
 * Arbitrary and malformed requests to every route of a real metadata replica: the answer is always a
 * 4xx (or a 2xx for the rare valid one) with a JSON error body, never a 5xx or a crash, and requests
 * that fail change nothing.
 */
import fc from "fast-check";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { META_ROUTES } from "../../src/common/protocol/index.js";
import { MetaCluster } from "../support/meta-procs.js";
import { TEST_SECRET } from "../support/test-config.js";

let cluster: MetaCluster;
let url: string;
const agent = new Agent({ connectTimeout: 2000, headersTimeout: 10_000, bodyTimeout: 10_000 });

beforeAll(async () => {
  cluster = await MetaCluster.start({ replicas: 1 });
  url = cluster.url(await cluster.leader());
});
afterAll(async () => {
  await agent.close();
  await cluster.stop();
});

const routes = [...Object.values(META_ROUTES), "/raft/stream", "/metrics", "/v1/events", "/", "/nope"];

const jsonish = fc.oneof(
  fc.json(),
  fc.jsonValue().map((v) => JSON.stringify(v)),
  fc.string(),
  fc.constant(""),
  fc.constant("{"),
  fc.constant('{"path":"/a","session":{"id":1,"seq":1,"ackedSeq":0,"secret":"s"}}'),
  fc.constant('{"path":"/\\u0000","session":{"id":1,"seq":1,"ackedSeq":0,"secret":"s"}}'),
  fc.constant(`{"path":"/${"a".repeat(5000)}","session":{"id":1,"seq":1,"ackedSeq":0,"secret":"s"}}`),
  fc
    .record({
      path: fc.oneof(fc.string(), fc.constantFrom("/", "//", "/a/../b", "/./x", "a", "/a\u0001b")),
      session: fc.oneof(
        fc.record({ id: fc.integer(), seq: fc.integer(), ackedSeq: fc.integer(), secret: fc.string() }),
        fc.anything(),
      ),
      content: fc.oneof(
        fc.anything(),
        fc.record({ kind: fc.constantFrom("inline", "chunks", "x"), dataBase64: fc.string() }),
      ),
      expectedVersion: fc.anything(),
      lockToken: fc.anything(),
      recursive: fc.anything(),
    })
    .map((o) => JSON.stringify(o)),
);

const requestArb = fc.record({
  method: fc.constantFrom("GET", "POST", "PUT", "DELETE", "PATCH"),
  route: fc.constantFrom(...routes),
  query: fc.oneof(
    fc.constant(""),
    fc.string().map((s) => `?path=${encodeURIComponent(s)}`),
    fc.constantFrom(
      "?path=/",
      "?path=..",
      "?path=%00",
      "?stale=true&path=/",
      "?after=-1",
      "?after=abc&timeoutMs=1",
      "?ids=a,b",
      "?version=0&path=/",
    ),
  ),
  body: jsonish,
  contentType: fc.constantFrom(
    "application/json",
    "text/plain",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "",
  ),
  secret: fc.constantFrom(undefined, "wrong", TEST_SECRET),
});

describe("bad input to a metadata replica", () => {
  test("is answered with a 4xx and a JSON error, never a 5xx, and changes nothing", async () => {
    const before = (await cluster.status(1))!;
    await fc.assert(
      fc.asyncProperty(requestArb, async (r) => {
        const headers: Record<string, string> = {};
        if (r.contentType) headers["content-type"] = r.contentType;
        if (r.secret) headers["x-raftfs-secret"] = r.secret;
        const hasBody = r.method !== "GET";
        // The change feed is a long poll (30 s by default): ask it not to wait.
        const query = r.route === META_ROUTES.watch ? `?timeoutMs=0&${r.query.slice(1)}` : r.query;
        const res = await request(`${url}${r.route}${query}`, {
          method: r.method as "GET",
          headers,
          body: hasBody ? r.body : undefined,
          dispatcher: agent,
        });
        const text = await res.body.text();
        expect(
          res.statusCode,
          `${r.method} ${r.route}${query} ${r.body.slice(0, 200)} → ${text.slice(0, 300)}`,
        ).toBeLessThan(500);
        if (res.statusCode >= 400 && r.route !== "/metrics") {
          const body = JSON.parse(text) as { code?: unknown; message?: unknown };
          expect(typeof body.code).toBe("string");
          expect(typeof body.message).toBe("string");
        }
      }),
      { numRuns: Number(process.env.RAFTFS_FUZZ_RUNS ?? 600) },
    );
    // Nothing the fuzzer sent was a valid mutation of an open session, so the namespace is as it was.
    const list = await fetch(`${url}/v1/fs/list?path=/`);
    expect(((await list.json()) as { entries: unknown[] }).entries).toEqual([]);
    const after = (await cluster.status(1))!;
    expect(after.role).toBe("leader");
    expect(after.term).toBe(before.term);
  });
});
