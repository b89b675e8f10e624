/**
 * The data path through real processes (3 metadata replicas, 4 data nodes, replication 3), driven
 * over raw HTTP as the wire protocol defines it: placement, pipelined chunk write, commit, reads from
 * any holder; then repair after a data node dies, repair of a corrupted chunk file, and garbage
 * collection of a deleted file's chunks.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import {
  type LocationsResponse,
  type PlacementResponse,
  type ReadResponse,
  TICKET_HEADER,
} from "../../src/common/protocol/index.js";
import { MetaCluster, RawSession, waitUntil } from "../support/meta-procs.js";

let c: MetaCluster;
let session: RawSession;

beforeAll(async () => {
  c = await MetaCluster.start({ dataNodes: 4 });
  session = await RawSession.open(c, await c.leader());
}, 60_000);
afterAll(async () => {
  await c?.stop();
});

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function leaderUrl(): Promise<string> {
  return c.url(await c.leader());
}

async function putChunk(data: Buffer): Promise<string> {
  const id = sha256(data);
  // A client retries placement while leadership moves (a loaded machine may hold an election).
  const placed = await waitUntil("a placement", async () => {
    const r = await c.http.post(`${await leaderUrl()}/v1/chunks/placement`, {
      chunkId: id,
      sizeBytes: data.byteLength,
    });
    return r.status === 421 || r.status === 503 ? null : r;
  });
  expect(placed.status).toBe(200);
  const p = placed.body as PlacementResponse;
  expect(p.nodes).toHaveLength(3);
  const [first, ...rest] = p.nodes;
  const res = await request(`${first!.url}/v1/chunks/${id}`, {
    method: "PUT",
    body: data,
    headers: {
      "content-length": String(data.byteLength),
      "content-type": "application/octet-stream",
      "x-raftfs-ticket": p.ticket,
      "x-raftfs-pipeline": JSON.stringify(rest),
    },
  });
  const body = (await res.body.json()) as { stored: number[] };
  expect(res.statusCode).toBe(201);
  expect(body.stored.sort()).toEqual(p.nodes.map((n) => n.id).sort());
  return id;
}

async function holders(id: string): Promise<{ id: number; url: string }[]> {
  const r = await c.http.get(`${await leaderUrl()}/v1/chunks/locations?ids=${id}`);
  return (r.body as LocationsResponse).locations[id] ?? [];
}

/** The read ticket the leader hands out with the chunk's locations. */
async function ticketOf(id: string): Promise<Record<string, string>> {
  const r = await c.http.get(`${await leaderUrl()}/v1/chunks/locations?ids=${id}`);
  const ticket = (r.body as LocationsResponse).tickets[id];
  expect(ticket).toBeDefined();
  return { [TICKET_HEADER]: ticket! };
}

function chunkFile(node: number, id: string): string {
  return join(c.dir, "data", `data-${node}`, "chunks", id.slice(0, 2), id);
}

describe("data path (real processes)", () => {
  test("a chunked file: placement, pipeline to 3 nodes, commit, read back from any holder", async () => {
    const data = Buffer.alloc(200_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7919) % 251;
    const id = await putChunk(data);
    const commit = await session.mutate("/v1/fs/commit", {
      path: "/big.bin",
      content: { kind: "chunks", chunks: [{ id, sizeBytes: data.length }], sizeBytes: data.length },
    });
    expect(commit.status).toBe(200);
    const read = await c.http.get(`${await leaderUrl()}/v1/fs/read?path=/big.bin`);
    expect(read.body).toMatchObject({ sizeBytes: data.length, content: { kind: "chunks" } });
    const hs = await waitUntil("three holders", async () => {
      const h = await holders(id);
      return h.length === 3 ? h : null;
    });
    // Any replica's read answer carries a ticket the data nodes accept; none is needed to be refused.
    const fromRead = (read.body as ReadResponse).tickets?.[id];
    expect(fromRead).toBeDefined();
    for (const h of hs) {
      const res = await request(`${h.url}/v1/chunks/${id}`, { headers: { [TICKET_HEADER]: fromRead! } });
      expect(Buffer.from(await res.body.arrayBuffer()).equals(data)).toBe(true);
      const refused = await request(`${h.url}/v1/chunks/${id}`);
      expect(refused.statusCode).toBe(401);
      expect(((await refused.body.json()) as { code: string }).code).toBe("UNAUTHORIZED");
    }
  });

  test("kill -9 a data node at rest: its chunks return to 3 replicas on the others", async () => {
    const id = await putChunk(Buffer.from("repair me ".repeat(1000)));
    await session.mutate("/v1/fs/commit", {
      path: "/repair.bin",
      content: { kind: "chunks", chunks: [{ id, sizeBytes: 10_000 }], sizeBytes: 10_000 },
    });
    const before = await waitUntil("three holders", async () => {
      const h = await holders(id);
      return h.length === 3 ? h : null;
    });
    const victim = before[0]!.id;
    await c.killData(victim);
    await c.dataAlive([1, 2, 3, 4].filter((n) => n !== victim));
    const after = await waitUntil(
      "the chunk to be re-replicated",
      async () => {
        const s = await c.clusterStatus();
        const h = await holders(id);
        return s.underReplicatedChunks === 0 && h.length === 3 ? h : null;
      },
      30_000,
    );
    expect(after.map((h) => h.id)).not.toContain(victim);
    c.launchData(victim);
    await c.dataAlive([1, 2, 3, 4]);
  });

  test("a flipped byte in a chunk file: reads still get the right bytes, the copy is replaced", async () => {
    const data = Buffer.from("checksummed ".repeat(2000));
    const id = await putChunk(data);
    await session.mutate("/v1/fs/commit", {
      path: "/flip.bin",
      content: { kind: "chunks", chunks: [{ id, sizeBytes: data.length }], sizeBytes: data.length },
    });
    const hs = await waitUntil("three holders", async () => {
      const h = await holders(id);
      return h.length === 3 ? h : null;
    });
    const bad = hs[0]!;
    const file = chunkFile(bad.id, id);
    const bytes = readFileSync(file);
    bytes[100] = bytes[100]! ^ 0xff;
    writeFileSync(file, bytes);
    // The damaged holder refuses to serve wrong bytes; another holder serves the right ones.
    const res = await request(`${bad.url}/v1/chunks/${id}`, { headers: await ticketOf(id) });
    const body = await res.body.text();
    expect(res.statusCode).toBeGreaterThanOrEqual(400);
    expect(JSON.parse(body)).toMatchObject({ code: "CORRUPT" });
    const good = await request(`${hs[1]!.url}/v1/chunks/${id}`, { headers: await ticketOf(id) });
    expect(Buffer.from(await good.body.arrayBuffer()).equals(data)).toBe(true);
    // Reported, and repaired back to three good copies.
    await waitUntil(
      "the corrupt copy to be reported and replaced",
      async () => {
        const s = await c.clusterStatus();
        const h = await holders(id);
        return s.corruptChunks >= 1 && s.underReplicatedChunks === 0 && h.length === 3 ? true : null;
      },
      30_000,
    );
  });

  test("a deleted file's chunks and an aborted write's chunks are collected", async () => {
    const kept = await putChunk(Buffer.from("kept ".repeat(3000)));
    const doomed = await putChunk(Buffer.from("doomed ".repeat(3000)));
    const aborted = await putChunk(Buffer.from("never committed ".repeat(3000)));
    await session.mutate("/v1/fs/commit", {
      path: "/keep.bin",
      content: { kind: "chunks", chunks: [{ id: kept, sizeBytes: 15_000 }], sizeBytes: 15_000 },
    });
    await session.mutate("/v1/fs/commit", {
      path: "/gone.bin",
      content: { kind: "chunks", chunks: [{ id: doomed, sizeBytes: 21_000 }], sizeBytes: 21_000 },
    });
    await session.mutate("/v1/fs/delete", { path: "/gone.bin" });
    const files = (id: string) => [1, 2, 3, 4].filter((n) => existsSync(chunkFile(n, id)));
    await waitUntil(
      "unreferenced chunks to be deleted from every node",
      async () => (files(doomed).length === 0 && files(aborted).length === 0 ? true : null),
      30_000,
    );
    expect(files(kept)).toHaveLength(3);
  });
});
