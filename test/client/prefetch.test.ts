/**
 * The reader fetches chunks ahead of its consumer: ranges and the last (short) chunk come out exact,
 * a consumer that stops early cancels the fetches still running, and a node that stops a streamed
 * chunk at a bad block makes the reader try the next holder, or fail with CORRUPT when none is left.
 */

import { open } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkCache } from "../../src/client/chunk-cache.js";
import { ChunkReader, cutPieces, getChunk } from "../../src/client/chunk-reader.js";
import { slicesFor } from "../../src/client/chunking.js";
import type { MetaConnection } from "../../src/client/meta-connection.js";
import { spreadByChunk } from "../../src/common/chunk-spread.js";
import { DfsError } from "../../src/common/errors.js";
import type { LocationsResponse, NodeAddress } from "../../src/common/protocol/index.js";
import { signReadTicket } from "../../src/common/tickets.js";
import { BLOCK_BYTES } from "../../src/data/block-sums.js";
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
  waitFor,
} from "../data/helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
let a: TestNode;
let b: TestNode;
let held: Server;
let heldUrl = "";
const heldOpen = new Set<IncomingMessage>();
let heldSeen = 0;
// A file of 7 chunks, the last one short.
const file = [5000, 5000, 5000, 5000, 5000, 5000, 1234].map((n) => randomChunk(n));
const refs = file.map((c) => ({ id: c.id, sizeBytes: c.data.length }));
const whole = Buffer.concat(file.map((c) => c.data));

beforeAll(async () => {
  tmp = await tempDir();
  a = await startNode({ id: 1, dir: tmp.dir });
  b = await startNode({ id: 2, dir: tmp.dir });
  for (const n of [a, b])
    for (const { id, data } of file)
      expect(
        (await putChunk(n.url, id, data, pipelineHeaders(ticketFor(id, data.length, [n.id])))).status,
      ).toBe(201);
  // Serves the file's first chunk at once and holds every other request until the client gives up.
  held = createServer((req, res) => {
    heldSeen++;
    if (req.url?.endsWith(file[0]!.id)) {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(file[0]!.data);
      return;
    }
    heldOpen.add(req);
    req.on("close", () => heldOpen.delete(req));
  });
  await new Promise<void>((r) => held.listen(0, "127.0.0.1", r));
  const addr = held.address();
  heldUrl = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
});
afterAll(async () => {
  for (const n of [a, b]) {
    n.app.server.closeAllConnections();
    await n.close();
  }
  held.closeAllConnections();
  await new Promise((r) => held.close(r));
  await tmp.remove();
});

function reader(holders: () => NodeAddress[], prefetchChunks?: number, cache?: ChunkCache) {
  const meta = {
    async call<T>(c: { query?: Record<string, unknown> }): Promise<T> {
      const r: LocationsResponse = { locations: {}, tickets: {} };
      for (const id of String(c.query?.ids ?? "").split(",")) {
        r.locations[id] = holders();
        r.tickets[id] = signReadTicket(SECRET, { chunkId: id, expiresAtMs: Date.now() + 600_000 });
      }
      return r as T;
    },
  } as unknown as MetaConnection;
  return new ChunkReader(
    {
      chunkDeadlineMs: 3000,
      chunkTimeoutMs: 3000,
      backoff: { baseMs: 1, maxMs: 5 },
      ...(prefetchChunks !== undefined ? { prefetchChunks } : {}),
    },
    {
      meta,
      dispatcher: agent,
      cache: cache ?? new ChunkCache({ maxBytes: 0, dirMaxBytes: 0 }),
      random: () => 0.5,
    },
  );
}

const node = (n: TestNode) => ({ id: n.id, url: n.url });

describe("read-ahead", () => {
  it("property: any range, any read-ahead, comes out byte for byte", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat({ max: whole.length }),
        fc.nat({ max: whole.length }),
        fc.integer({ min: 1, max: 8 }),
        async (x, y, ahead) => {
          const span = { start: Math.min(x, y), end: Math.max(x, y) };
          const parts: Buffer[] = [];
          for await (const p of reader(() => [node(a)], ahead).stream(slicesFor(refs, span))) parts.push(p);
          expect(Buffer.concat(parts).equals(whole.subarray(span.start, span.end))).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });

  it("a consumer that stops after the first chunk cancels the fetches running ahead", async () => {
    const r = reader(() => [{ id: 9, url: heldUrl }], 3);
    const span = { start: 0, end: whole.length };
    for await (const p of r.stream(slicesFor(refs, span))) {
      expect(p.equals(file[0]!.data)).toBe(true);
      await waitFor("the read-ahead to reach the node", () => heldOpen.size === 3);
      break;
    }
    // Chunks 0–2, then 3 once chunk 0 was handed out (three fetched or fetching ahead), no more.
    expect(heldSeen).toBe(4);
    await waitFor("the held fetches to be cancelled", () => heldOpen.size === 0);
  });
});

describe("equal chunks", () => {
  it("a run of equal chunks (a file of zeros) is fetched once and handed out each time", async () => {
    // Before, each occurrence was fetched again: a 1 GiB file of zeros read the same 4 MiB 256 times.
    const zeros = Array.from({ length: 6 }, () => refs[0]!);
    const seenBefore = heldSeen;
    const parts: Buffer[] = [];
    const span = { start: 0, end: 6 * file[0]!.data.length };
    for await (const p of reader(() => [{ id: 9, url: heldUrl }], 3).stream(slicesFor(zeros, span)))
      parts.push(p);
    expect(Buffer.concat(parts).equals(Buffer.concat(zeros.map(() => file[0]!.data)))).toBe(true);
    expect(heldSeen - seenBefore).toBe(1);
  });

  it("property: any range of a file with runs of equal chunks comes out byte for byte", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.nat({ max: file.length - 1 }), { minLength: 1, maxLength: 10 }),
        fc.nat(),
        fc.nat(),
        fc.integer({ min: 1, max: 4 }),
        async (picks, x, y, ahead) => {
          const chunks = picks.map((i) => file[i]!);
          const bytes = Buffer.concat(chunks.map((c) => c.data));
          const span = { start: Math.min(x, y) % (bytes.length + 1), end: 0 };
          span.end = span.start + (Math.max(x, y) % (bytes.length - span.start + 1));
          const parts: Buffer[] = [];
          const sliced = slicesFor(
            chunks.map((c) => ({ id: c.id, sizeBytes: c.data.length })),
            span,
          );
          for await (const p of reader(() => [node(a)], ahead).stream(sliced)) parts.push(p);
          expect(Buffer.concat(parts).equals(bytes.subarray(span.start, span.end))).toBe(true);
        },
      ),
      { numRuns: 40 },
    );
  });
});

describe("a chunk passed on as it arrived", () => {
  it("without a cache, a streamed chunk is the socket's pieces: no chunk-sized copy per chunk", async () => {
    const big = randomChunk(2 * 1024 * 1024 + 17);
    expect(
      (await putChunk(a.url, big.id, big.data, pipelineHeaders(ticketFor(big.id, big.data.length, [a.id]))))
        .status,
    ).toBe(201);
    const ref = { id: big.id, sizeBytes: big.data.length };
    const parts: Buffer[] = [];
    for await (const p of reader(() => [node(a)]).stream(slicesFor([ref], { start: 0, end: ref.sizeBytes })))
      parts.push(p);
    expect(Buffer.concat(parts).equals(big.data)).toBe(true);
    // Each piece lives in memory of its own socket read, far smaller than the chunk.
    for (const p of parts) expect(p.buffer.byteLength).toBeLessThan(big.data.length / 4);

    // With a cache, the chunk is gathered once for it, and read again without asking a node.
    const cache = new ChunkCache({ maxBytes: 8 * 1024 * 1024, dirMaxBytes: 0 });
    const cached = reader(() => [node(a)], 2, cache);
    const again = async () => {
      const out: Buffer[] = [];
      for await (const p of cached.stream(slicesFor([ref], { start: 0, end: ref.sizeBytes }))) out.push(p);
      return Buffer.concat(out);
    };
    expect((await again()).equals(big.data)).toBe(true);
    expect((await again()).equals(big.data)).toBe(true);
    expect(cache.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
  });

  it("an empty cut inside a piece is no pieces (CI seed -1837902611 shrunk to this)", () => {
    expect(cutPieces([Buffer.alloc(5)], 4, 4)).toEqual([]);
    expect(cutPieces([Buffer.alloc(2), Buffer.alloc(3)], 2, 2)).toEqual([]);
  });

  it("property: any cut of any split of a chunk is those bytes", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: 0, maxLength: 300 }),
        fc.array(fc.nat({ max: 300 }), { maxLength: 8 }),
        fc.nat({ max: 300 }),
        fc.nat({ max: 300 }),
        (bytes, cuts, x, y) => {
          const data = Buffer.from(bytes);
          const at = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((p, q) => p - q);
          const bounds = [0, ...at, data.length];
          const pieces = bounds.slice(1).map((end, i) => data.subarray(bounds[i], end));
          const from = Math.min(x, y) % (data.length + 1);
          const to = Math.min(data.length, Math.max(from, Math.max(x, y)));
          const cut = cutPieces(pieces, from, to);
          expect(Buffer.concat(cut).equals(data.subarray(from, to))).toBe(true);
          for (const piece of cut) expect(piece.byteLength).toBeGreaterThan(0);
        },
      ),
    );
  });
});

describe("a chunk stopped at a bad block", () => {
  it("is read from the next holder; a bad copy's error names the node and the offset where it stopped", async () => {
    // A chunk of several batches, damaged past its first batch on the holder asked first.
    const big = randomChunk(3 * 1024 * 1024);
    const [first, second] = spreadByChunk(big.id, [a, b]) as [typeof a, typeof b];
    for (const n of [a, b])
      expect(
        (await putChunk(n.url, big.id, big.data, pipelineHeaders(ticketFor(big.id, big.data.length, [n.id]))))
          .status,
      ).toBe(201);
    const fh = await open(first.store.chunkPath(big.id), "r+");
    await fh.write(Buffer.from([0x55 ^ big.data[20 * BLOCK_BYTES + 7]!]), 0, 1, 20 * BLOCK_BYTES + 7);
    await fh.close();
    const slice = slicesFor([{ id: big.id, sizeBytes: big.data.length }], {
      start: 0,
      end: big.data.length,
    })[0]!;
    const got = await reader(() => [node(a), node(b)]).read(slice, undefined);
    expect(got.equals(big.data)).toBe(true);
    expect(first.store.has(big.id)).toBe(false); // quarantined by the node that found it

    // Now the other copy goes bad too, and it is the only holder left.
    const fh2 = await open(second.store.chunkPath(big.id), "r+");
    await fh2.write(Buffer.from([0x55 ^ big.data[30 * BLOCK_BYTES]!]), 0, 1, 30 * BLOCK_BYTES);
    await fh2.close();
    const err = await getChunk(agent, node(second), slice.chunk, null, {
      timeoutMs: 3000,
      ticket: signReadTicket(SECRET, { chunkId: big.id, expiresAtMs: Date.now() + 60_000 }),
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DfsError);
    expect((err as DfsError).code).toBe("CORRUPT");
    expect((err as DfsError).message).toMatch(
      new RegExp(`node ${second.id} stopped sending chunk .* after 1966080 bytes: .*block 30`),
    );
    // The last copy is gone too: the reader has no holder left and says the chunk is unreadable.
    await expect(reader(() => [node(second)]).read(slice, undefined)).rejects.toBeInstanceOf(DfsError);
  });
});
