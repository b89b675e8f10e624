/**
 * Random malformed input never gets a 5xx and never brings the node down: ids, headers (tickets,
 * pipelines, ranges, content types, secrets) and bodies, in every combination fast-check finds.
 * fast-check prints the seed and the shrunk request of any failure.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PIPELINE_HEADER, SECRET_HEADER, TICKET_HEADER } from "../../src/common/protocol/index.js";
import { signTicket } from "../../src/common/tickets.js";
import { randomChunk, SECRET, startNode, type TestNode, tempDir, ticketFor } from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
let node: TestNode;
const good = randomChunk(1000);

beforeAll(async () => {
  tmp = await tempDir();
  node = await startNode({ id: 1, dir: tmp.dir, chunkSizeBytes: 64 * 1024 });
});
afterAll(async () => {
  await node.close();
  await tmp.remove();
});

interface Req {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: Buffer | string;
}

/** Sends one request; checks no 5xx and the `{code, message}` shape of every error. */
async function check(r: Req): Promise<void> {
  let res: Awaited<ReturnType<typeof node.app.inject>>;
  try {
    res = await node.app.inject({
      method: r.method as "GET",
      url: r.path,
      headers: r.headers,
      ...(r.body !== undefined ? { payload: r.body } : {}),
    });
  } catch (err) {
    // The injector itself refuses some header values: then no request reached the server.
    if (/header|invalid/i.test(String(err))) return;
    throw err;
  }
  expect(res.statusCode, `${r.method} ${r.path} → ${res.statusCode} ${res.body}`).toBeLessThan(500);
  if (res.statusCode >= 400 && r.method !== "HEAD") {
    const parsed = JSON.parse(res.body);
    expect(typeof parsed.code, res.body).toBe("string");
    expect(parsed.code).not.toMatch(/^FST_/);
    expect(typeof parsed.message).toBe("string");
  }
}

const hex64 = fc.string({ unit: fc.constantFrom(..."0123456789abcdef"), minLength: 64, maxLength: 64 });
const anyId = fc.oneof(
  hex64,
  fc.string({ maxLength: 120 }),
  fc.constantFrom(good.id, "A".repeat(64), "..%2F..%2Fetc%2Fpasswd", "%00", "%zz", "", "a".repeat(200)),
);
const headerValue = fc.string({ unit: "grapheme-ascii", maxLength: 60 });
const bytes = fc.uint8Array({ maxLength: 3000 }).map((b) => Buffer.from(b));
const jsonBody = fc.json({ maxDepth: 3 });
/** Tickets that are signed but wrong in one or more ways (or, by chance, right). */
const signedTicket = (chunkId: string, size: number) =>
  fc
    .record({
      chunkId: fc.oneof(fc.constant(chunkId), hex64),
      sizeBytes: fc.oneof(fc.constant(size), fc.integer({ min: -5, max: 70_000 })),
      nodeIds: fc.array(fc.integer({ min: 0, max: 1 }), { maxLength: 3 }),
      expiresAtMs: fc.constantFrom(0, Date.now() + 600_000),
    })
    .map((claims) => signTicket(SECRET, claims));
/** Pipelines that never name a node the ticket allows besides this one: no request leaves the node. */
const pipeline = fc.oneof(
  fc.string({ maxLength: 100 }),
  jsonBody,
  fc
    .array(fc.record({ id: fc.integer({ min: -1, max: 20 }), url: fc.string({ maxLength: 30 }) }), {
      maxLength: 20,
    })
    .map((a) => JSON.stringify(a)),
);

describe("malformed input", () => {
  it("anywhere: never a 5xx", async () => {
    const req = fc.record({
      method: fc.constantFrom("GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"),
      path: fc.oneof(
        anyId.map((id) => `/v1/chunks/${id}`),
        fc.constantFrom("/internal/chunks/delete", "/internal/chunks/replicate", "/status", "/metrics"),
        fc.string({ maxLength: 40 }).map((s) => `/${s.replace(/[\s?#]/g, "")}`),
      ),
      ticket: fc.option(fc.oneof(headerValue, signedTicket(good.id, 1000))),
      range: fc.option(headerValue),
      contentType: fc.option(
        fc.constantFrom("application/json", "application/octet-stream", "text/plain", "x/y"),
      ),
      secret: fc.option(fc.oneof(fc.constant(SECRET), headerValue)),
      body: fc.option(fc.oneof(bytes, jsonBody)),
    });
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        const headers: Record<string, string> = {};
        if (r.ticket !== null) headers[TICKET_HEADER] = r.ticket;
        if (r.range !== null) headers.range = r.range;
        if (r.contentType !== null) headers["content-type"] = r.contentType;
        if (r.secret !== null) headers[SECRET_HEADER] = r.secret;
        const body = r.body === null || r.method === "GET" || r.method === "HEAD" ? undefined : r.body;
        await check({ method: r.method, path: r.path, headers, ...(body !== undefined ? { body } : {}) });
      }),
      { numRuns: 300 },
    );
  });

  it("chunk PUTs with wrong tickets, pipelines, lengths and bodies: never a 5xx", async () => {
    const put = fc
      .record({ id: fc.oneof(fc.constant(good.id), hex64), body: fc.oneof(bytes, fc.constant(good.data)) })
      .chain(({ id, body }) =>
        fc.record({
          id: fc.constant(id),
          body: fc.constant(body),
          ticket: fc.option(
            fc.oneof(
              { arbitrary: fc.constant(ticketFor(id, body.length, [1])), weight: 3 },
              { arbitrary: signedTicket(id, body.length), weight: 2 },
              { arbitrary: headerValue, weight: 1 },
            ),
          ),
          pipeline: fc.option(pipeline),
          contentLength: fc.option(
            fc.oneof(
              { arbitrary: fc.constant(String(body.length)), weight: 3 },
              { arbitrary: fc.nat({ max: 100_000 }).map(String), weight: 1 },
            ),
          ),
          contentType: fc.option(
            fc.constantFrom("application/json", "application/octet-stream", "text/plain"),
          ),
        }),
      );
    await fc.assert(
      fc.asyncProperty(put, async (p) => {
        const headers: Record<string, string> = {};
        if (p.ticket !== null) headers[TICKET_HEADER] = p.ticket;
        if (p.pipeline !== null) headers[PIPELINE_HEADER] = p.pipeline;
        if (p.contentLength !== null) headers["content-length"] = p.contentLength;
        if (p.contentType !== null) headers["content-type"] = p.contentType;
        await check({ method: "PUT", path: `/v1/chunks/${p.id}`, headers, body: p.body });
      }),
      { numRuns: 300 },
    );
  });

  it("internal routes with the secret and random bodies: never a 5xx", async () => {
    const url = fc.string({ maxLength: 30 }).filter((s) => !s.includes(":"));
    const replicate = fc.record(
      {
        type: fc.constantFrom("replicate", "delete", "x"),
        chunkId: fc.oneof(fc.constant(good.id), hex64, fc.string()),
        sizeBytes: fc.oneof(fc.constant(1000), fc.integer()),
        targets: fc.array(fc.record({ id: fc.integer({ min: -1, max: 9 }), url }), { maxLength: 20 }),
        ticket: fc.oneof(headerValue, fc.constant(ticketFor(good.id, 1000, [2]))),
      },
      { requiredKeys: [] },
    );
    const del = fc.record(
      { chunkIds: fc.array(fc.oneof(hex64, fc.string()), { maxLength: 5 }) },
      { requiredKeys: [] },
    );
    const req = fc.oneof(
      fc.record({ path: fc.constant("/internal/chunks/replicate"), body: fc.oneof(replicate, jsonBody) }),
      fc.record({ path: fc.constant("/internal/chunks/delete"), body: fc.oneof(del, jsonBody) }),
    );
    await fc.assert(
      fc.asyncProperty(req, async (r) => {
        await check({
          method: "POST",
          path: r.path,
          headers: { [SECRET_HEADER]: SECRET, "content-type": "application/json" },
          body: JSON.stringify(r.body),
        });
      }),
      { numRuns: 300 },
    );
  });

  it("left the node serving", async () => {
    expect((await node.app.inject({ method: "GET", url: "/status" })).statusCode).toBe(200);
  });
});
