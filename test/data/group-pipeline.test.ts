import { readdir } from "node:fs/promises";
/**
 * The chunk group route (PUT /v1/chunk-groups) on real data nodes: several chunks of one pipeline in
 * one request, each with its own outcome. Sent with the client's own wire function (putChunkGroup),
 * so the shape the library sends is the shape tested.
 */
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { putChunkGroup } from "../../src/common/chunk-pipeline.js";
import { DfsError } from "../../src/common/errors.js";
import {
  DATA_ROUTES,
  GROUP_MANIFEST_BYTES_HEADER,
  type GroupChunkResult,
  type NodeAddress,
  PIPELINE_HEADER,
} from "../../src/common/protocol/index.js";
import {
  agent,
  getChunk,
  randomChunk,
  startNode,
  type TestNode,
  tempDir,
  ticketFor,
  waitFor,
} from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
let nodes: TestNode[];
let n1: TestNode;
let n2: TestNode;
let n3: TestNode;

const addr = (n: TestNode): NodeAddress => ({ id: n.id, url: n.url });

beforeAll(async () => {
  tmp = await tempDir();
  nodes = await Promise.all([1, 2, 3].map((id) => startNode({ id, dir: tmp.dir })));
  [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
});
afterAll(async () => {
  // After the cut-off group below, ran behind a group stored through the same nodes, node 2 kept one
  // connection that its server did not count as idle, although every handler had ended (its temp
  // file gone): app.close() alone then waited for it. A data node's listener has idle and request
  // timeouts (src/common/listener.ts); these test servers have none, so they are closed outright.
  for (const n of nodes) n.app.server.closeAllConnections();
  await Promise.all(nodes.map((n) => n.close()));
  await tmp.remove();
});

type Chunk = { id: string; data: Buffer; ticket: string };

function chunks(sizes: number[], nodeIds: number[]): Chunk[] {
  return sizes.map((size) => {
    const { id, data } = randomChunk(size);
    return { id, data, ticket: ticketFor(id, size, nodeIds) };
  });
}

function group(head: TestNode, list: Chunk[], pipeline: NodeAddress[]): Promise<GroupChunkResult[]> {
  return putChunkGroup(agent, addr(head), { chunks: list, pipeline, timeoutMs: 10_000 });
}

/** A node that takes a connection, reads `bytes` of it, then dies (its socket reset mid-request). */
async function dyingNode(bytes: number): Promise<{ url: string; server: Server }> {
  const server = createServer((socket) => {
    let seen = 0;
    socket.on("data", (d) => {
      seen += d.length;
      if (seen > bytes) socket.destroy();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, server };
}

describe("chunk groups", () => {
  it("stores every chunk of the group on every node of the pipeline, one result each", async () => {
    const list = chunks([65_536, 1, 200_000, 65_536], [1, 2, 3]);
    const results = await group(n1, list, [addr(n2), addr(n3)]);
    expect(results).toEqual(list.map((c) => ({ id: c.id, sizeBytes: c.data.length, stored: [1, 2, 3] })));
    for (const n of nodes) {
      for (const c of list) expect((await getChunk(n.url, c.id)).body.equals(c.data)).toBe(true);
    }
  });

  it("fails only the chunk whose bytes do not hash to its id, and names it", async () => {
    const list = chunks([65_536, 65_536, 65_536], [1, 2, 3]);
    const bad = list[1]!;
    const damaged = Buffer.from(bad.data);
    damaged[100]! ^= 0xff;
    const sent = list.map((c) => (c === bad ? { ...c, data: damaged } : c));
    const results = await group(n1, sent, [addr(n2), addr(n3)]);
    expect(results[0]).toEqual({ id: list[0]!.id, sizeBytes: 65_536, stored: [1, 2, 3] });
    expect(results[2]).toEqual({ id: list[2]!.id, sizeBytes: 65_536, stored: [1, 2, 3] });
    expect(results[1]).toMatchObject({ id: bad.id, error: { code: "CHECKSUM_MISMATCH", chunkId: bad.id } });
    for (const n of nodes) {
      expect(n.store.has(bad.id)).toBe(false);
      expect(n.store.has(list[0]!.id) && n.store.has(list[2]!.id)).toBe(true);
    }
  });

  it("fails only the chunk whose ticket does not cover it", async () => {
    const list = chunks([1000, 1000], [1, 2]);
    const forged = {
      ...list[0]!,
      ticket: ticketFor(list[0]!.id, 1000, [1, 2], { secret: "another-secret-xyz" }),
    };
    const results = await group(n1, [forged, list[1]!], [addr(n2)]);
    expect(results[0]).toMatchObject({ id: forged.id, error: { code: "UNAUTHORIZED", chunkId: forged.id } });
    expect(results[1]).toEqual({ id: list[1]!.id, sizeBytes: 1000, stored: [1, 2] });
    expect(n1.store.has(forged.id) || n2.store.has(forged.id)).toBe(false);
  });

  it("stores a chunk listed twice in one group, and answers both", async () => {
    const [c] = chunks([70_000], [1, 2, 3]);
    const results = await group(n1, [c!, c!], [addr(n2), addr(n3)]);
    expect(results).toEqual([
      { id: c!.id, sizeBytes: 70_000, stored: [1, 2, 3] },
      { id: c!.id, sizeBytes: 70_000, stored: [1, 2, 3] },
    ]);
    for (const n of nodes) expect((await getChunk(n.url, c!.id)).body.equals(c!.data)).toBe(true);
  });

  it("answers UNAVAILABLE naming the node that died mid-group, for each chunk, and keeps the local copies", async () => {
    const dying = await dyingNode(150_000);
    try {
      const list = chunks([65_536, 65_536, 65_536, 65_536], [1, 2, 9]);
      const results = await group(n1, list, [addr(n2), { id: 9, url: dying.url }]);
      results.forEach((r, i) => {
        expect(r).toMatchObject({
          id: list[i]!.id,
          error: { code: "UNAVAILABLE", failedNode: 9, chunkId: list[i]!.id },
        });
      });
      for (const c of list) expect(n1.store.has(c.id) && n2.store.has(c.id)).toBe(true);
    } finally {
      await new Promise((r) => dying.server.close(r));
    }
  });

  it("fails the whole group when the head itself dies mid-request", async () => {
    const dying = await dyingNode(100_000);
    try {
      const list = chunks([65_536, 65_536], [7]);
      const err = await putChunkGroup(
        agent,
        { id: 7, url: dying.url },
        { chunks: list, pipeline: [], timeoutMs: 5000 },
      ).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(DfsError);
      expect((err as DfsError).code).toBe("UNAVAILABLE");
    } finally {
      await new Promise((r) => dying.server.close(r));
    }
  });

  it("refuses a manifest whose sizes do not add up to the body, storing nothing", async () => {
    const [c] = chunks([5000], [1]);
    const manifest = Buffer.from(
      JSON.stringify({ chunks: [{ id: c!.id, sizeBytes: 4000, ticket: c!.ticket }] }),
    );
    const res = await request(`${n1.url}${DATA_ROUTES.chunkGroup}`, {
      method: "PUT",
      body: Buffer.concat([manifest, c!.data]),
      headers: {
        "content-type": "application/octet-stream",
        [GROUP_MANIFEST_BYTES_HEADER]: String(manifest.length),
        [PIPELINE_HEADER]: "[]",
      },
      dispatcher: agent,
    });
    expect(res.statusCode).toBe(400);
    expect(((await res.body.json()) as { code: string }).code).toBe("BAD_REQUEST");
    expect(n1.store.has(c!.id)).toBe(false);
  });
  it("an upstream that breaks off mid-group leaves no temp file and the cut chunk stored nowhere", async () => {
    const list = chunks([65_536, 1024 * 1024], [1, 2]);
    const manifest = Buffer.from(
      JSON.stringify({ chunks: list.map((c) => ({ id: c.id, sizeBytes: c.data.length, ticket: c.ticket })) }),
    );
    const bodyBytes = manifest.length + 65_536 + 1024 * 1024;
    const socket = connect(Number(new URL(n1.url).port), "127.0.0.1");
    await new Promise<void>((r) => socket.on("connect", r));
    const head = [
      `PUT ${DATA_ROUTES.chunkGroup} HTTP/1.1`,
      "host: x",
      `content-length: ${bodyBytes}`,
      `${GROUP_MANIFEST_BYTES_HEADER}: ${manifest.length}`,
      `${PIPELINE_HEADER}: ${JSON.stringify([addr(n2)])}`,
    ];
    socket.write(`${head.join("\r\n")}\r\n\r\n`);
    socket.write(manifest);
    socket.write(list[0]!.data);
    socket.write(list[1]!.data.subarray(0, 300_000));
    const cut = list[1]!.id;
    // Only the cut chunk's files: its folder is shared with other chunks of this file's tests.
    const filesOf = async (n: TestNode) =>
      (await readdir(join(tmp.dir, `data-${n.id}`, "chunks", cut.slice(0, 2)))).filter((f) =>
        f.startsWith(cut),
      );
    await waitFor("the cut chunk's temp file on the second node", async () => (await filesOf(n2)).length > 0);
    socket.destroy();
    for (const n of [n1, n2]) {
      await waitFor(`node ${n.id} to drop its temp file`, async () => (await filesOf(n)).length === 0);
      expect(n.store.has(cut)).toBe(false);
    }
  });
});
