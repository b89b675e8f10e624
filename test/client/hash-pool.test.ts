/**
 * Whole chunks hashed on worker threads: the same digest and the same bytes back as on the event loop
 * for any bytes, only the pool's own buffers at or above the threshold leave the thread (a caller's
 * buffer is never taken from it), memory stays bounded over many chunks, and a chunk verified this
 * way that a node served altered is still refused (the reader's end-to-end check is not weakened).
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import fc from "fast-check";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkCache } from "../../src/client/chunk-cache.js";
import { ChunkReader } from "../../src/client/chunk-reader.js";
import { slicesFor } from "../../src/client/chunking.js";
import { HashPool } from "../../src/client/hash-pool.js";
import type { MetaConnection } from "../../src/client/meta-connection.js";
import { DfsError } from "../../src/common/errors.js";
import type { LocationsResponse } from "../../src/common/protocol/index.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("HashPool", () => {
  const pool = new HashPool({ threads: 2, minBytes: 1024 });
  afterAll(() => pool.close());

  it("property: the digest is the SHA-256 of the bytes, and the bytes come back, wherever hashed", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 5000 }),
        fc.boolean(),
        fc.nat({ max: 64 }),
        async (bytes, ours, offset) => {
          // A view into a larger buffer: exactly the view's bytes are hashed and handed back.
          const size = offset + bytes.length + 7;
          const backing = ours ? pool.alloc(size) : Buffer.alloc(size, 1);
          const view = backing.subarray(offset, offset + bytes.length);
          view.set(bytes);
          const { hex, data } = await pool.hash(view);
          expect(hex).toBe(sha(bytes));
          expect(data.equals(bytes)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("moves only its own buffers at or above the threshold; a caller's buffer stays the caller's", async () => {
    const before = { ...pool.stats };
    const callers = Buffer.alloc(4096, 3);
    const [mine] = await Promise.all([
      pool.hash(pool.alloc(4096).fill(3)),
      pool.hash(callers),
      pool.hash(pool.alloc(100)),
    ]);
    expect(mine.hex).toBe(sha(callers));
    expect(callers.byteLength).toBe(4096); // not moved (a moved buffer reads as empty)
    expect(pool.stats.offThread - before.offThread).toBe(1);
    expect(pool.stats.onThread - before.onThread).toBe(2);
  });

  it("keeps memory bounded: chunks moved through a worker are collected like any other", async () => {
    const big = new HashPool({ threads: 1, minBytes: 1024 });
    const rssBefore = process.memoryUsage().rss;
    for (let i = 0; i < 100; i++) await big.hash(big.alloc(4 * 1024 * 1024).fill(i));
    global.gc?.();
    await big.close();
    // 100 chunks of 4 MiB = 400 MiB if they were kept; a bounded pool stays far below that.
    expect(process.memoryUsage().rss - rssBefore).toBeLessThan(200 * 1024 * 1024);
  });

  it("hashes on the calling thread once closed", async () => {
    const p = new HashPool({ threads: 1, minBytes: 1 });
    const data = p.alloc(10).fill(9);
    const first = await p.hash(data);
    expect(first.hex).toBe(sha(Buffer.alloc(10, 9)));
    await p.close();
    expect((await p.hash(first.data)).hex).toBe(first.hex);
    expect(p.stats).toEqual({ offThread: 1, onThread: 1 });
  });
});

describe("a reader that verifies whole chunks on the pool", () => {
  const good = Buffer.alloc(300_000);
  for (let i = 0; i < good.length; i++) good[i] = (i * 2654435761) >>> 24;
  const id = sha(good);
  let server: Server;
  let url = "";
  let altered = false;
  const agent = new Agent({ connections: 4 });
  const pool = new HashPool({ threads: 2, minBytes: 1024 });

  beforeAll(async () => {
    server = createServer((_req, res) => {
      const body = Buffer.from(good);
      if (altered) body.writeUInt8(body.readUInt8(body.length >> 1) ^ 1, body.length >> 1); // one bit flipped
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const addr = server.address();
    url = `http://127.0.0.1:${typeof addr === "object" && addr ? addr.port : 0}`;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await agent.close();
    await pool.close();
  });

  const reader = () => {
    const meta = {
      async call<T>(): Promise<T> {
        const r: LocationsResponse = { locations: { [id]: [{ id: 1, url }] }, tickets: {} };
        return r as T;
      },
    } as unknown as MetaConnection;
    return new ChunkReader(
      { chunkDeadlineMs: 2000, chunkTimeoutMs: 2000, backoff: { baseMs: 1, maxMs: 5 } },
      { meta, dispatcher: agent, cache: new ChunkCache({ maxBytes: 0, dirMaxBytes: 0 }), hashes: pool },
    );
  };
  const slices = slicesFor([{ id, sizeBytes: good.length }], { start: 0, end: good.length });

  it("reads a good chunk, hashed by a worker", async () => {
    altered = false;
    const before = pool.stats.offThread;
    const parts: Buffer[] = [];
    for await (const p of reader().stream(slices)) parts.push(p);
    expect(Buffer.concat(parts).equals(good)).toBe(true);
    expect(pool.stats.offThread).toBeGreaterThan(before);
  });

  it("refuses a chunk whose bytes do not hash to its id", async () => {
    altered = true;
    const err = await (async () => {
      for await (const _ of reader().stream(slices)) return null;
      return null;
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DfsError);
    expect((err as DfsError).code).toBe("CORRUPT");
  });
});
