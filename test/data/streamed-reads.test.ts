/**
 * A whole-chunk GET streams the chunk as its blocks pass their checksums: the first bytes leave
 * before the last block is read, a bad block stops the body right there with CORRUPT in the
 * x-raftfs-verified trailer (and the chunk is quarantined), and a chunk bad from its first batch gets
 * a plain 500 CORRUPT before any byte.
 */
import { open } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TICKET_HEADER, VERIFIED_TRAILER } from "../../src/common/protocol/index.js";
import { BLOCK_BYTES } from "../../src/data/block-sums.js";
import { ChunkStore, MAX_CHUNK_BYTES, readAt, STREAM_BATCH_BYTES } from "../../src/data/chunk-store.js";
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
async function node(gate?: (position: number) => Promise<void>, chunkSizeBytes = CHUNK_SIZE) {
  const store = await ChunkStore.open(
    { dir: join(tmp.dir, `n${++nodes}`), chunkSizeBytes, freeSpaceReserveBytes: 0 },
    {
      readChunkFile: async (fh, position, length, into) => {
        await gate?.(position);
        return readAt(fh, position, length, into);
      },
    },
  );
  const app = buildDataServer(
    { nodeId: 1, url: "http://127.0.0.1:0", zone: "z", secret: SECRET, chunkSizeBytes },
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

  it("a read buffer is not filled again while a slow client's write of it is pending", async () => {
    // The node reuses its batch buffers once the socket wrote them. A client that reads nothing yet
    // (a paused socket: its kernel buffers stay small) leaves most of its chunk in writes still
    // pending on the node; other clients' reads meanwhile take buffers from the same pool. Given back
    // too early, the pending bytes would be overwritten by the other chunk's. The largest chunk: a
    // loopback socket's kernel buffers took all of a 4 MiB one.
    const n = await node(undefined, MAX_CHUNK_BYTES);
    try {
      const slow = randomChunk(MAX_CHUNK_BYTES);
      const fast = randomChunk(2 * STREAM_BATCH_BYTES);
      await put(n.store, slow.data, slow.id);
      await put(n.store, fast.data, fast.id);
      const { port } = new URL(n.url);
      const socket = connect({ host: "127.0.0.1", port: Number(port) });
      socket.pause();
      const received: Buffer[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        socket.on("data", (b: Buffer) => received.push(b));
        socket.on("end", resolve);
        socket.on("error", reject);
      });
      socket.write(
        `GET /v1/chunks/${slow.id} HTTP/1.1\r\nhost: 127.0.0.1\r\n${TICKET_HEADER}: ${readTicketFor(slow.id)}\r\nconnection: close\r\n\r\n`,
      );
      for (let i = 0; i < 6; i++) {
        const res = await get(n.url, fast.id);
        expect(Buffer.from(await res.body.arrayBuffer()).equals(fast.data)).toBe(true);
      }
      socket.resume();
      await ended;
      const { status, body, trailer } = parseChunked(Buffer.concat(received));
      expect(status).toBe(200);
      expect(body.byteLength).toBe(MAX_CHUNK_BYTES);
      expect(body.equals(slow.data)).toBe(true);
      expect(trailer.toLowerCase()).toContain(`${VERIFIED_TRAILER}: ok`);
    } finally {
      await n.close();
    }
  });
});

/** An HTTP/1.1 response with a chunked body, read whole: its status, body and trailer lines. */
function parseChunked(raw: Buffer): { status: number; body: Buffer; trailer: string } {
  let at = raw.indexOf("\r\n\r\n") + 4;
  const status = Number(raw.subarray(0, at).toString("latin1").split(" ")[1]);
  const parts: Buffer[] = [];
  for (;;) {
    const eol = raw.indexOf("\r\n", at);
    const size = Number.parseInt(raw.subarray(at, eol).toString("latin1"), 16);
    at = eol + 2;
    if (size === 0) break;
    parts.push(raw.subarray(at, at + size));
    at += size + 2;
  }
  return { status, body: Buffer.concat(parts), trailer: raw.subarray(at).toString("latin1") };
}
