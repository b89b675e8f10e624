import { readdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TICKET_HEADER } from "../../src/common/protocol/index.js";
import type { InventoryChange } from "../../src/data/chunk-store.js";
import {
  CHUNK_SIZE,
  getChunk,
  pipelineHeaders,
  putChunk,
  randomChunk,
  readTicketFor,
  SECRET,
  send,
  sha256,
  startNode,
  type TestNode,
  tempDir,
  ticketFor,
} from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
let node: TestNode;

beforeAll(async () => {
  tmp = await tempDir();
  node = await startNode({ id: 1, dir: tmp.dir });
});
afterAll(async () => {
  await node.close();
  await tmp.remove();
});

async function put(data: Buffer, id = sha256(data)) {
  return putChunk(node.url, id, data, pipelineHeaders(ticketFor(id, data.length, [1])));
}

/** Sends the headers and part of a body on a raw socket; resolves with the first response bytes. */
function partialPut(path: string, headers: Record<string, string>, sizeBytes: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(Number(new URL(node.url).port), "127.0.0.1");
    const lines = [`PUT ${path} HTTP/1.1`, "host: 127.0.0.1", `content-length: ${sizeBytes}`];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    socket.on("connect", () => socket.write(`${lines.join("\r\n")}\r\n\r\n${"x".repeat(100)}`));
    socket.once("data", (d) => {
      socket.destroy();
      resolve(d.toString("utf8"));
    });
    socket.on("error", reject);
  });
}

/**
 * Files on disk for one chunk: the chunk, its block sums and their temp files all start with its id.
 * Its folder is shared with every chunk of the same two-hex prefix (the empty chunk stored above among
 * them), so the folder being empty is not the question.
 */
async function filesOf(id: string): Promise<string[]> {
  const names = await readdir(join(tmp.dir, "data-1", "chunks", id.slice(0, 2)));
  return names.filter((n) => n.startsWith(id));
}

describe("chunk PUT and GET", () => {
  it.each([0, 1, CHUNK_SIZE - 1, CHUNK_SIZE])("round-trips %i bytes", async (size) => {
    const { id, data } = randomChunk(size);
    const res = await put(data);
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({ id, sizeBytes: size, stored: [1] });
    const got = await getChunk(node.url, id);
    expect(got.status).toBe(200);
    expect(sha256(got.body)).toBe(id);
    expect(got.body.equals(data)).toBe(true);
    const head = await send("HEAD", `${node.url}/v1/chunks/${id}`, {
      headers: { [TICKET_HEADER]: readTicketFor(id) },
    });
    expect(head.status).toBe(200);
    expect(head.headers["content-length"]).toBe(String(size));
  });

  it("refuses a chunk larger than the chunk size before reading it", async () => {
    const data = Buffer.alloc(CHUNK_SIZE + 1, 7);
    const res = await put(data);
    expect(res.status).toBe(413);
    expect(res.json().code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("refuses bytes that do not hash to the id (422, nothing stored)", async () => {
    const { id } = randomChunk(1000);
    const other = randomChunk(1000).data;
    const res = await put(other, id);
    expect(res.status).toBe(422);
    expect(res.json()).toMatchObject({ code: "CHECKSUM_MISMATCH" });
    expect(res.json().message).toMatch(/hash/);
    expect(node.store.has(id)).toBe(false);
    expect(await filesOf(id)).toEqual([]);
  });

  it("answers 404 for an absent chunk and 400 for a malformed id", async () => {
    expect((await getChunk(node.url, "a".repeat(64))).json().code).toBe("NOT_FOUND");
    const absent = "a".repeat(64);
    const head = await send("HEAD", `${node.url}/v1/chunks/${absent}`, {
      headers: { [TICKET_HEADER]: readTicketFor(absent) },
    });
    expect(head.status).toBe(404);
    const bad = await getChunk(node.url, "not-a-chunk-id");
    expect(bad.status).toBe(400);
    expect(bad.json().code).toBe("BAD_REQUEST");
  });

  it("serves byte ranges with 206", async () => {
    const { id, data } = randomChunk(10_000);
    await put(data);
    const part = await getChunk(node.url, id, { range: "bytes=100-199" });
    expect(part.status).toBe(206);
    expect(part.headers["content-range"]).toBe("bytes 100-199/10000");
    expect(part.body.equals(data.subarray(100, 200))).toBe(true);
    const tail = await getChunk(node.url, id, { range: "bytes=-10" });
    expect(tail.body.equals(data.subarray(9990))).toBe(true);
    const open = await getChunk(node.url, id, { range: "bytes=9000-" });
    expect(open.body.equals(data.subarray(9000))).toBe(true);
    const outside = await getChunk(node.url, id, { range: "bytes=10000-" });
    expect(outside.status).toBe(400);
    expect(outside.headers["content-range"]).toBe("bytes */10000");
  });

  it("answers CORRUPT for a flipped byte on disk, quarantines the chunk and lists it as corrupt", async () => {
    const { id, data } = randomChunk(4096);
    await put(data);
    const changes: InventoryChange[] = [];
    const off = node.store.onChange((c) => changes.push(c));
    const onDisk = await readFile(node.store.chunkPath(id));
    onDisk[17] = (onDisk[17] ?? 0) ^ 0x80;
    await writeFile(node.store.chunkPath(id), onDisk);
    const res = await getChunk(node.url, id, { range: "bytes=0-9" });
    off();
    expect(res.json()).toMatchObject({ code: "CORRUPT", chunkId: id });
    expect(node.store.has(id)).toBe(false);
    expect(changes).toEqual([{ kind: "corrupt", chunkId: id }]);
    const status = (await send("GET", `${node.url}/status`)).json();
    expect(status.corruptFound).toBeGreaterThanOrEqual(1);
    expect((await getChunk(node.url, id)).json().code).toBe("NOT_FOUND");
  });

  it("reports its status", async () => {
    const status = (await send("GET", `${node.url}/status`)).json();
    expect(status).toMatchObject({ id: 1, zone: "z", pid: process.pid, registeredWithLeader: null });
    expect(status.chunks).toBe(node.store.chunkCount);
    expect(status.capacityBytes).toBeGreaterThan(0);
    expect(status.freeBytes).toBeGreaterThan(0);
  });
});

describe("tickets", () => {
  const { id, data } = randomChunk(100);
  const cases: [string, string, number, string][] = [
    ["a missing ticket", "", 401, "UNAUTHORIZED"],
    ["a garbage ticket", "not.a-ticket", 401, "UNAUTHORIZED"],
    [
      "a ticket signed with another secret",
      ticketFor(id, 100, [1], { secret: "another-secret-xx" }),
      401,
      "UNAUTHORIZED",
    ],
    ["an expired ticket", ticketFor(id, 100, [1], { ttlMs: -1000 }), 403, "FORBIDDEN"],
    ["a ticket for another node", ticketFor(id, 100, [2, 3]), 403, "FORBIDDEN"],
    ["a ticket for another size", ticketFor(id, 99, [1]), 403, "FORBIDDEN"],
    ["a ticket for another chunk", ticketFor("b".repeat(64), 100, [1]), 403, "FORBIDDEN"],
  ];
  it.each(cases)("refuses %s", async (_what, ticket, status, code) => {
    const res = await putChunk(node.url, id, data, ticket ? { [TICKET_HEADER]: ticket } : {});
    expect(res.status).toBe(status);
    expect(res.json().code).toBe(code);
    expect(node.store.has(id)).toBe(false);
  });

  it("refuses a pipeline naming a node the ticket does not", async () => {
    const res = await putChunk(
      node.url,
      id,
      data,
      pipelineHeaders(ticketFor(id, 100, [1, 2]), [{ id: 3, url: "http://127.0.0.1:1" }]),
    );
    expect(res.status).toBe(403);
  });

  it.each([
    ["bad", "garbage", "UNAUTHORIZED"],
    ["expired", ticketFor(id, 1_000_000, [1], { ttlMs: -1 }), "FORBIDDEN"],
    ["wrong-node", ticketFor(id, 1_000_000, [9]), "FORBIDDEN"],
  ])("answers a %s ticket before the body is read", async (_what, ticket, code) => {
    // One million bytes announced, one hundred sent: the answer must not wait for the rest.
    const answer = await partialPut(`/v1/chunks/${id}`, { [TICKET_HEADER]: ticket }, 1_000_000);
    expect(answer).toMatch(/^HTTP\/1\.1 40[13]/);
    expect(answer).toContain(`"code":"${code}"`);
    expect(await filesOf(id)).toEqual([]);
  });
});

describe("internal routes", () => {
  it("answer 401 without the cluster secret, before any work", async () => {
    const { id, data } = randomChunk(10);
    await put(data);
    for (const path of ["/internal/chunks/delete", "/internal/chunks/replicate"]) {
      const none = await send("POST", `${node.url}${path}`, { body: { chunkIds: [id] } });
      expect(none.status).toBe(401);
      expect(none.json().code).toBe("UNAUTHORIZED");
      const wrong = await send("POST", `${node.url}${path}`, {
        body: { chunkIds: [id] },
        headers: { "x-raftfs-secret": `${SECRET}x` },
      });
      expect(wrong.status).toBe(401);
      // A body that would not even parse still gets 401: the secret is checked first.
      const junk = await send("POST", `${node.url}${path}`, { body: "{not json" });
      expect(junk.status).toBe(401);
    }
    expect(node.store.has(id)).toBe(true);
  });

  it("delete chunks with the secret", async () => {
    const { id, data } = randomChunk(10);
    await put(data);
    const res = await send("POST", `${node.url}/internal/chunks/delete`, {
      body: { chunkIds: [id] },
      secret: true,
    });
    expect(res.json()).toEqual({ deleted: 1 });
    expect(node.store.has(id)).toBe(false);
    const bad = await send("POST", `${node.url}/internal/chunks/delete`, {
      body: { chunkIds: ["../x"] },
      secret: true,
    });
    expect(bad.status).toBe(400);
  });
});

describe("free space", () => {
  it("refuses writes with NO_SPACE (507) when the reserve exceeds the free space", async () => {
    const t = await tempDir();
    const full = await startNode({ id: 1, dir: t.dir, freeSpaceReserveBytes: Number.MAX_SAFE_INTEGER });
    try {
      const { id, data } = randomChunk(100);
      const res = await putChunk(full.url, id, data, pipelineHeaders(ticketFor(id, 100, [1])));
      expect(res.status).toBe(507);
      expect(res.json()).toMatchObject({ code: "NO_SPACE" });
      expect(full.store.has(id)).toBe(false);
      // The leader is told there is no room, so it stops placing chunks here.
      expect((await send("GET", `${full.url}/status`)).json().freeBytes).toBe(0);
    } finally {
      await full.close();
      await t.remove();
    }
  });
});
