/**
 * A whole-chunk GET streams the chunk as its blocks pass their checksums: the first bytes leave
 * before the last block is read, a bad block stops the body right there with CORRUPT in the
 * x-raftfs-verified trailer (and the chunk is quarantined), and a chunk bad from its first batch gets
 * a plain 500 CORRUPT before any byte.
 */
import { open } from "node:fs/promises";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TICKET_HEADER, VERIFIED_TRAILER } from "../../src/common/protocol/index.js";
import { BLOCK_BYTES } from "../../src/data/block-sums.js";
import { ChunkStore, readAt, STREAM_BATCH_BYTES } from "../../src/data/chunk-store.js";
import { buildDataServer } from "../../src/data/server.js";
import { agent, CHUNK_SIZE, randomChunk, readTicketFor, SECRET, tempDir } from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

let nodes = 0;
/** A node whose chunk-file reads can be held by the test (`gate`), on a real socket. */
async function node(gate?: (position: number) => Promise<void>) {
  const store = await ChunkStore.open(
    { dir: join(tmp.dir, `n${++nodes}`), chunkSizeBytes: CHUNK_SIZE, freeSpaceReserveBytes: 0 },
    {
      readChunkFile: async (fh, position, length) => {
        await gate?.(position);
        return readAt(fh, position, length);
      },
    },
  );
  const app = buildDataServer(
    { nodeId: 1, url: "http://127.0.0.1:0", zone: "z", secret: SECRET, chunkSizeBytes: CHUNK_SIZE },
    { store },
  );
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return { store, url, close: () => app.close() };
}

async function put(store: ChunkStore, data: Buffer, id: string): Promise<void> {
  await store.write(
    id,
    data.length,
    (async function* () {
      yield data;
    })(),
  );
}

/** Overwrites one byte of a stored chunk (its sums stay as they were). */
async function damage(store: ChunkStore, id: string, at: number): Promise<void> {
  const fh = await open(store.chunkPath(id), "r+");
  const b = Buffer.alloc(1);
  await fh.read(b, 0, 1, at);
  b[0] = b[0]! ^ 0xff;
  await fh.write(b, 0, 1, at);
  await fh.close();
}

const get = (url: string, id: string) =>
  request(`${url}/v1/chunks/${id}`, { headers: { [TICKET_HEADER]: readTicketFor(id) }, dispatcher: agent });

describe("whole-chunk reads stream verified blocks", () => {
  it("the first bytes arrive before the node has read the last batch; a good chunk ends with 'ok'", async () => {
    let releaseLast!: () => void;
    const lastHeld = new Promise<void>((r) => {
      releaseLast = r;
    });
    const lastBatchAt = CHUNK_SIZE - STREAM_BATCH_BYTES;
    const n = await node(async (position) => {
      if (position === lastBatchAt) await lastHeld;
    });
    try {
      const { id, data } = randomChunk(CHUNK_SIZE);
      await put(n.store, data, id);
      const res = await get(n.url, id);
      expect(res.statusCode).toBe(200);
      const it = res.body[Symbol.asyncIterator]();
      const first = await it.next(); // would never come if the node read the whole chunk first
      expect(first.done).toBe(false);
      releaseLast();
      const parts: Buffer[] = [first.value as Buffer];
      for (let r = await it.next(); !r.done; r = await it.next()) parts.push(r.value as Buffer);
      expect(Buffer.concat(parts).equals(data)).toBe(true);
      expect(res.trailers[VERIFIED_TRAILER]).toBe("ok");
    } finally {
      releaseLast();
      await n.close();
    }
  });

  it("a bad block stops the body at that block, with CORRUPT naming it in the trailer; the chunk is quarantined", async () => {
    const n = await node();
    try {
      const { id, data } = randomChunk(CHUNK_SIZE);
      await put(n.store, data, id);
      const badBlock = 40; // in the third batch of 16 blocks
      await damage(n.store, id, badBlock * BLOCK_BYTES + 123);
      const res = await get(n.url, id);
      expect(res.statusCode).toBe(200);
      const body = Buffer.from(await res.body.arrayBuffer());
      // Exactly the good blocks before the bad one, and nothing of it.
      expect(body.byteLength).toBe(badBlock * BLOCK_BYTES);
      expect(body.equals(data.subarray(0, badBlock * BLOCK_BYTES))).toBe(true);
      const verdict = JSON.parse(String(res.trailers[VERIFIED_TRAILER]));
      expect(verdict.code).toBe("CORRUPT");
      expect(verdict.message).toContain(`block ${badBlock}`);
      expect(verdict.bytesSent).toBe(badBlock * BLOCK_BYTES);
      expect(n.store.has(id)).toBe(false);
      expect(n.store.corruptFound).toBe(1);
    } finally {
      await n.close();
    }
  });

  it("a bad block in the first batch gets a plain 500 CORRUPT before any byte is sent", async () => {
    const n = await node();
    try {
      const { id, data } = randomChunk(CHUNK_SIZE);
      await put(n.store, data, id);
      await damage(n.store, id, 3 * BLOCK_BYTES);
      const res = await get(n.url, id);
      expect(res.statusCode).toBe(500);
      const body = (await res.body.json()) as { code: string; message: string };
      expect(body.code).toBe("CORRUPT");
      expect(body.message).toContain("block 3");
      expect(n.store.has(id)).toBe(false);
    } finally {
      await n.close();
    }
  });
});
