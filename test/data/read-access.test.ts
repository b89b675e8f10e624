/**
 * Chunk reads need a credential (a read ticket from a metadata replica, or the cluster secret), and a
 * node serves a bounded number of them at once.
 */
import { join } from "node:path";
import fc from "fast-check";
import type { FastifyInstance } from "fastify";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { SECRET_HEADER, TICKET_HEADER } from "../../src/common/protocol/index.js";
import { signReadTicket } from "../../src/common/tickets.js";
import { ChunkStore, readAt } from "../../src/data/chunk-store.js";
import { buildDataServer } from "../../src/data/server.js";
import {
  CHUNK_SIZE,
  getChunkRaw,
  pipelineHeaders,
  putChunk,
  randomChunk,
  readTicketFor,
  SECRET,
  send,
  startNode,
  type TestNode,
  tempDir,
  ticketFor,
  waitFor,
} from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

describe("read tickets", () => {
  let node: TestNode;
  const { id, data } = randomChunk(5000);
  const other = randomChunk(10);
  beforeAll(async () => {
    node = await startNode({ id: 1, dir: tmp.dir });
    expect(
      (await putChunk(node.url, id, data, pipelineHeaders(ticketFor(id, data.length, [1])))).status,
    ).toBe(201);
  });
  afterAll(() => node.close());

  const refused = async (headers: Record<string, string>, reason: RegExp) => {
    const res = await getChunkRaw(node.url, id, headers);
    expect(res.status).toBe(401);
    expect(res.json().code).toBe("UNAUTHORIZED");
    expect(res.json().message).toMatch(reason);
    expect(res.body.includes(data.subarray(0, 16))).toBe(false);
  };

  it("a GET without a ticket is refused with 401 UNAUTHORIZED", async () => {
    await refused({}, /read ticket/);
    await refused({ range: "bytes=0-0" }, /read ticket/);
    const head = await send("HEAD", `${node.url}/v1/chunks/${id}`);
    expect(head.status).toBe(401);
  });

  it("expired, forged, other-chunk and other-secret tickets are refused", async () => {
    await refused({ [TICKET_HEADER]: readTicketFor(id, { ttlMs: -1 }) }, /expired/);
    const good = readTicketFor(id);
    const forged = `${good.slice(0, -2)}${good.endsWith("AA") ? "BB" : "AA"}`;
    await refused({ [TICKET_HEADER]: forged }, /signature/);
    // A later expiry with the old MAC: the MAC covers the expiry.
    const [exp, mac] = good.split(".");
    await refused({ [TICKET_HEADER]: `${Number(exp) + 3_600_000}.${mac}` }, /signature/);
    await refused({ [TICKET_HEADER]: readTicketFor(other.id) }, /another chunk/);
    await refused(
      { [TICKET_HEADER]: readTicketFor(id, { secret: "another-secret-0123456789" }) },
      /signature/,
    );
    await refused({ [TICKET_HEADER]: "garbage" }, /malformed/);
    // A write ticket is no read ticket.
    await refused({ [TICKET_HEADER]: ticketFor(id, data.length, [1]) }, /malformed/);
    await refused({ [SECRET_HEADER]: "not-the-secret-0123456789" }, /read ticket/);
  });

  it("a valid ticket (or the cluster secret) reads the chunk, whole or in part", async () => {
    const whole = await getChunkRaw(node.url, id, { [TICKET_HEADER]: readTicketFor(id) });
    expect(whole.status).toBe(200);
    expect(whole.body.equals(data)).toBe(true);
    const part = await getChunkRaw(node.url, id, {
      [TICKET_HEADER]: readTicketFor(id),
      range: "bytes=10-19",
    });
    expect(part.status).toBe(206);
    expect(part.body.equals(data.subarray(10, 20))).toBe(true);
    const internal = await getChunkRaw(node.url, id, { [SECRET_HEADER]: SECRET });
    expect(internal.status).toBe(200);
    const head = await send("HEAD", `${node.url}/v1/chunks/${id}`, {
      headers: { [TICKET_HEADER]: readTicketFor(id) },
    });
    expect(head.status).toBe(200);
  });

  it("property: the bytes go out exactly when the credential is right", async () => {
    const ticket = fc.oneof(
      fc
        .record({
          chunkId: fc.constantFrom(id, other.id),
          offsetMs: fc.constantFrom(-60_000, -1, 60_000, 300_000),
          secret: fc.constantFrom(SECRET, "another-secret-0123456789"),
          flip: fc.option(fc.nat({ max: 60 })),
        })
        .map((t) => {
          let signed = signReadTicket(t.secret, { chunkId: t.chunkId, expiresAtMs: Date.now() + t.offsetMs });
          if (t.flip !== null) {
            const at = t.flip % signed.length;
            const c = signed[at] === "A" ? "B" : "A";
            signed = signed.slice(0, at) + c + signed.slice(at + 1);
          }
          const valid = t.chunkId === id && t.offsetMs > 0 && t.secret === SECRET && t.flip === null;
          return { value: signed, valid };
        }),
      fc.string({ maxLength: 80 }).map((value) => ({ value, valid: false })),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.option(ticket),
        fc.option(fc.constantFrom(SECRET, "x", `${SECRET}x`)),
        fc.option(fc.constantFrom("bytes=0-9", "bytes=100-")),
        async (t, secret, range) => {
          const headers: Record<string, string> = {};
          if (t !== null) headers[TICKET_HEADER] = t.value;
          if (secret !== null) headers[SECRET_HEADER] = secret;
          if (range !== null) headers.range = range;
          const res = await node.app.inject({ method: "GET", url: `/v1/chunks/${id}`, headers });
          const allowed = (t?.valid ?? false) || secret === SECRET;
          expect(res.statusCode).toBe(allowed ? (range === null ? 200 : 206) : 401);
          if (!allowed) expect(res.json().code).toBe("UNAUTHORIZED");
        },
      ),
      { numRuns: 300 },
    );
  });

  it("the node judges expiry by its own clock", async () => {
    const ticket = signReadTicket(SECRET, { chunkId: id, expiresAtMs: Date.now() + 60_000 });
    expect((await getChunkRaw(node.url, id, { [TICKET_HEADER]: ticket })).status).toBe(200);
  });
});

describe("concurrent reads are capped", () => {
  let app: FastifyInstance | undefined;
  afterEach(async () => {
    await app?.close();
    app = undefined;
  });

  it("beyond the cap the node answers 503 UNAVAILABLE with Retry-After at once; slots come back", async () => {
    const max = 3;
    let reading = 0;
    let maxReading = 0;
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const store = await ChunkStore.open(
      { dir: join(tmp.dir, "capped"), chunkSizeBytes: CHUNK_SIZE, freeSpaceReserveBytes: 0 },
      {
        // Every chunk-file read waits at the gate: reads pile up in flight.
        readChunkFile: async (fh, position, length) => {
          reading++;
          maxReading = Math.max(maxReading, reading);
          await gate;
          reading--;
          return readAt(fh, position, length);
        },
      },
    );
    const { id, data } = randomChunk(1000);
    await store.write(
      id,
      data.length,
      (async function* () {
        yield data;
      })(),
    );
    app = buildDataServer(
      { nodeId: 1, url: "x", zone: "z", secret: SECRET, chunkSizeBytes: CHUNK_SIZE, maxConcurrentReads: max },
      { store },
    );
    const url = await app.listen({ host: "127.0.0.1", port: 0 });
    const headers = { [TICKET_HEADER]: readTicketFor(id) };

    const first = Array.from({ length: max }, () => getChunkRaw(url, id, headers));
    await waitFor("reads stuck at the gate", () => reading === max);
    // These are answered while the first ones are still stuck: nothing queues behind them.
    const extra = await Promise.all(Array.from({ length: 5 }, () => getChunkRaw(url, id, headers)));
    for (const r of extra) {
      expect(r.status).toBe(503);
      expect(r.json().code).toBe("UNAVAILABLE");
      expect(r.headers["retry-after"]).toBe("1");
    }
    expect(maxReading).toBe(max);
    release();
    for (const r of await Promise.all(first)) expect(r.body.equals(data)).toBe(true);
    // Every slot came back, also from errors (404) and refusals.
    for (let i = 0; i < max + 2; i++)
      expect(
        (await getChunkRaw(url, "b".repeat(64), { [TICKET_HEADER]: readTicketFor("b".repeat(64)) })).status,
      ).toBe(404);
    const again = await Promise.all(Array.from({ length: max }, () => getChunkRaw(url, id, headers)));
    for (const r of again) expect(r.status).toBe(200);
    expect(maxReading).toBe(max);
  });
});
