/**
 * The reader sends each chunk's read ticket and renews it when it is close to its end or a node
 * refuses it, so a long read never fails on an expired ticket; a busy holder (503) is passed over.
 */
import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkCache } from "../../src/client/chunk-cache.js";
import { ChunkReader } from "../../src/client/chunk-reader.js";
import type { ChunkSlice } from "../../src/client/chunking.js";
import type { MetaConnection } from "../../src/client/meta-connection.js";
import type { LocationsResponse, NodeAddress } from "../../src/common/protocol/index.js";
import { signReadTicket } from "../../src/common/tickets.js";
import {
  agent,
  pipelineHeaders,
  putChunk,
  randomChunk,
  SECRET,
  startNode,
  type TestNode,
  tempDir,
  ticketFor,
} from "../data/helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
let node: TestNode;
let busy: Server;
let busyUrl: string;
const chunks = [randomChunk(3000), randomChunk(5000), randomChunk(7000)];

beforeAll(async () => {
  tmp = await tempDir();
  node = await startNode({ id: 1, dir: tmp.dir });
  for (const { id, data } of chunks)
    expect(
      (await putChunk(node.url, id, data, pipelineHeaders(ticketFor(id, data.length, [1])))).status,
    ).toBe(201);
  // A holder at its read cap.
  busy = createServer((_req, res) => {
    res.writeHead(503, { "content-type": "application/json", "retry-after": "1" });
    res.end(JSON.stringify({ code: "UNAVAILABLE", message: "busy" }));
  });
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  const addr = busy.address();
  busyUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});
afterAll(async () => {
  await node.close();
  await new Promise((resolve) => busy.close(resolve));
  await tmp.remove();
});

/** A metadata connection that answers locations with tickets expiring `ttlMs` from now (real clock). */
function fakeMeta(o: { holders: () => NodeAddress[]; ttlMs: () => number }) {
  const calls: string[][] = [];
  const meta = {
    async call<T>(c: { path: string; query?: Record<string, unknown> }): Promise<T> {
      const ids = String(c.query?.ids ?? "").split(",");
      calls.push(ids);
      const expiresAtMs = Date.now() + o.ttlMs();
      const r: LocationsResponse = { locations: {}, tickets: {} };
      for (const id of ids) {
        r.locations[id] = o.holders();
        r.tickets[id] = signReadTicket(SECRET, { chunkId: id, expiresAtMs });
      }
      return r as T;
    },
  };
  return { meta: meta as unknown as MetaConnection, calls };
}

function reader(meta: MetaConnection, now: () => number = Date.now, prefetchChunks?: number) {
  return new ChunkReader(
    {
      chunkDeadlineMs: 5000,
      chunkTimeoutMs: 5000,
      backoff: { baseMs: 1, maxMs: 5 },
      ...(prefetchChunks !== undefined ? { prefetchChunks } : {}),
    },
    {
      meta,
      dispatcher: agent,
      cache: new ChunkCache({ maxBytes: 0, dirMaxBytes: 0 }),
      random: () => 0.5,
      now,
    },
  );
}

const whole = (i: number): ChunkSlice => {
  const { id, data } = chunks[i]!;
  return { index: i, chunk: { id, sizeBytes: data.length }, chunkStart: 0, from: 0, to: data.length };
};

describe("read tickets in the client", () => {
  it("sends the ticket from the locations lookup", async () => {
    const { meta, calls } = fakeMeta({ holders: () => [{ id: 1, url: node.url }], ttlMs: () => 300_000 });
    const got = await reader(meta).read(whole(0), undefined);
    expect(got.equals(chunks[0]!.data)).toBe(true);
    expect(calls).toHaveLength(1);
  });

  it("a ticket the node refuses (expired by the node's clock) is renewed once, at once", async () => {
    let ttl = -1; // the first ticket has already expired for the node...
    const { meta, calls } = fakeMeta({ holders: () => [{ id: 1, url: node.url }], ttlMs: () => ttl });
    // ...while the client's clock (10 minutes behind) still thinks it fresh.
    const r = reader(meta, () => Date.now() - 600_000);
    const first = await r.locate([chunks[1]!.id]);
    ttl = 300_000;
    const got = await r.read(whole(1), first.get(chunks[1]!.id));
    expect(got.equals(chunks[1]!.data)).toBe(true);
    expect(calls).toHaveLength(2);
  });

  it("a ticket close to its end is renewed before it is used", async () => {
    let ttl = 10_000;
    const { meta, calls } = fakeMeta({ holders: () => [{ id: 1, url: node.url }], ttlMs: () => ttl });
    const r = reader(meta);
    const located = await r.locate([chunks[2]!.id]);
    ttl = 300_000;
    expect((await r.read(whole(2), located.get(chunks[2]!.id))).equals(chunks[2]!.data)).toBe(true);
    expect(calls).toHaveLength(2);
  });

  it("a stream that outlives its tickets asks for its window again and reads on", async () => {
    let clock = Date.now();
    const { meta, calls } = fakeMeta({ holders: () => [{ id: 1, url: node.url }], ttlMs: () => 300_000 });
    // One chunk ahead: with more, all three would be fetched before the clock moves.
    const r = reader(meta, () => clock, 1);
    const out: Buffer[] = [];
    for await (const part of r.stream([whole(0), whole(1), whole(2)])) {
      out.push(part);
      // A slow consumer: by the client's clock, six minutes pass per chunk.
      clock += 360_000;
    }
    expect(Buffer.concat(out).equals(Buffer.concat(chunks.map((c) => c.data)))).toBe(true);
    expect(calls.length).toBeGreaterThan(1);
  });

  it("a busy holder (503 UNAVAILABLE) is passed over for the next", async () => {
    const { meta } = fakeMeta({
      holders: () => [
        { id: 9, url: busyUrl },
        { id: 1, url: node.url },
      ],
      ttlMs: () => 300_000,
    });
    expect((await reader(meta).read(whole(0), undefined)).equals(chunks[0]!.data)).toBe(true);
  });

  it("when every holder is busy, it retries with backoff until one has room", async () => {
    let busyRounds = 3;
    const { meta, calls } = fakeMeta({
      holders: () => (busyRounds-- > 0 ? [{ id: 9, url: busyUrl }] : [{ id: 1, url: node.url }]),
      ttlMs: () => 300_000,
    });
    expect((await reader(meta).read(whole(1), undefined)).equals(chunks[1]!.data)).toBe(true);
    expect(calls.length).toBe(4);
  });
});
