/**
 * Whole chunks hashed on worker threads: the same digest as on the event loop for any bytes, only
 * shared memory at or above the threshold leaves the thread, and a chunk verified this way that a
 * node served altered is still refused (the reader's end-to-end check is not weakened).
 */
import { createHash } from "node:crypto";
import { createServer, type Server } from "node:http";
import fc from "fast-check";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkCache } from "../../src/client/chunk-cache.js";
import { ChunkReader } from "../../src/client/chunk-reader.js";
import { slicesFor } from "../../src/client/chunking.js";
import { allocShared, HashPool } from "../../src/client/hash-pool.js";
import type { MetaConnection } from "../../src/client/meta-connection.js";
import { DfsError } from "../../src/common/errors.js";
import type { LocationsResponse } from "../../src/common/protocol/index.js";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("HashPool", () => {
  const pool = new HashPool({ threads: 2, minBytes: 1024 });
  afterAll(() => pool.close());

  it("property: the digest is the SHA-256 of the bytes, wherever they are hashed", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 5000 }),
        fc.boolean(),
        fc.nat({ max: 64 }),
        async (bytes, shared, offset) => {
          // A view into a larger buffer: the worker must hash exactly the view's bytes.
          const backing = shared
            ? allocShared(offset + bytes.length + 7)
            : Buffer.alloc(offset + bytes.length + 7, 1);
          const view = backing.subarray(offset, offset + bytes.length);
          view.set(bytes);
          expect(await pool.sha256Hex(view)).toBe(sha(bytes));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("sends only shared buffers at or above the threshold to a worker", async () => {
    const before = { ...pool.stats };
    const big = allocShared(4096).fill(3);
    await Promise.all([
      pool.sha256Hex(big),
      pool.sha256Hex(Buffer.alloc(4096, 3)),
      pool.sha256Hex(allocShared(100)),
    ]);
    expect(pool.stats.offThread - before.offThread).toBe(1);
    expect(pool.stats.onThread - before.onThread).toBe(2);
  });

  it("hashes on the calling thread once closed", async () => {
    const p = new HashPool({ threads: 1, minBytes: 1 });
    const data = allocShared(10).fill(9);
    expect(await p.sha256Hex(data)).toBe(sha(data));
    await p.close();
    expect(await p.sha256Hex(data)).toBe(sha(data));
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
