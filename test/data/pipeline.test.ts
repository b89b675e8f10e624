import { readdir } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  getChunk,
  pipelineHeaders,
  putChunk,
  randomChunk,
  send,
  startNode,
  startSilentPeer,
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
/** A port with nothing listening on it. */
let deadUrl: string;

const addr = (n: TestNode) => ({ id: n.id, url: n.url });

beforeAll(async () => {
  tmp = await tempDir();
  nodes = await Promise.all([1, 2, 3].map((id) => startNode({ id, dir: tmp.dir })));
  [n1, n2, n3] = nodes as [TestNode, TestNode, TestNode];
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, "127.0.0.1", r));
  const port = (probe.address() as { port: number }).port;
  await new Promise((r) => probe.close(r));
  deadUrl = `http://127.0.0.1:${port}`;
});
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await tmp.remove();
});

describe("write pipeline", () => {
  it("stores the chunk on all three nodes with one PUT, acked once all hold it", async () => {
    const { id, data } = randomChunk(3 * 1024 * 1024 + 17);
    const ticket = ticketFor(id, data.length, [1, 2, 3]);
    const res = await putChunk(n1.url, id, data, pipelineHeaders(ticket, [addr(n2), addr(n3)]));
    expect(res.status).toBe(201);
    expect(res.json()).toEqual({ id, sizeBytes: data.length, stored: [1, 2, 3] });
    for (const n of nodes) {
      expect(n.store.has(id)).toBe(true);
      expect((await getChunk(n.url, id)).body.equals(data)).toBe(true);
    }
  });

  it("still forwards when the first node already holds the chunk (idempotent)", async () => {
    const { id, data } = randomChunk(1000);
    await putChunk(n1.url, id, data, pipelineHeaders(ticketFor(id, 1000, [1])));
    expect(n2.store.has(id)).toBe(false);
    const res = await putChunk(n1.url, id, data, pipelineHeaders(ticketFor(id, 1000, [1, 2]), [addr(n2)]));
    expect(res.json().stored).toEqual([1, 2]);
    expect(n2.store.has(id)).toBe(true);
  });

  it("answers UNAVAILABLE naming a dead downstream node; the local copy stays", async () => {
    const { id, data } = randomChunk(200_000);
    const ticket = ticketFor(id, data.length, [1, 7]);
    const res = await putChunk(n1.url, id, data, pipelineHeaders(ticket, [{ id: 7, url: deadUrl }]));
    expect(res.status).toBe(503);
    expect(res.json()).toMatchObject({ code: "UNAVAILABLE", failedNode: 7 });
    // Why it failed, not just that the forwarded body broke off: an operator (and the log of a
    // failed write) must see that nothing listened there.
    expect(res.json().message).toMatch(/ECONNREFUSED/);
    expect(n1.store.has(id)).toBe(true);
  });

  it("passes on the node that failed further down the pipeline", async () => {
    const { id, data } = randomChunk(50_000);
    const ticket = ticketFor(id, data.length, [1, 2, 9]);
    const res = await putChunk(
      n1.url,
      id,
      data,
      pipelineHeaders(ticket, [addr(n2), { id: 9, url: deadUrl }]),
    );
    expect(res.json()).toMatchObject({ code: "UNAVAILABLE", failedNode: 9 });
    expect(n1.store.has(id)).toBe(true);
    expect(n2.store.has(id)).toBe(true);
  });

  it("names the downstream node that refused the chunk (no space there)", async () => {
    const full = await startNode({ id: 4, dir: tmp.dir, freeSpaceReserveBytes: Number.MAX_SAFE_INTEGER });
    try {
      const { id, data } = randomChunk(100);
      const ticket = ticketFor(id, 100, [1, 2, 4]);
      const res = await putChunk(n1.url, id, data, pipelineHeaders(ticket, [addr(n2), addr(full)]));
      expect(res.json()).toMatchObject({ code: "UNAVAILABLE", failedNode: 4 });
      expect(res.json().message).toMatch(/NO_SPACE/);
    } finally {
      await full.close();
    }
  });

  it("names a downstream node that dies in the middle of the chunk", async () => {
    // Reads the headers and a little of the body, then drops the connection.
    const dying = createServer((socket) => {
      let seen = 0;
      socket.on("data", (d) => {
        seen += d.length;
        if (seen > 100_000) socket.destroy();
      });
    });
    await new Promise<void>((r) => dying.listen(0, "127.0.0.1", r));
    try {
      const url = `http://127.0.0.1:${(dying.address() as { port: number }).port}`;
      const { id, data } = randomChunk(2 * 1024 * 1024);
      const res = await putChunk(
        n1.url,
        id,
        data,
        pipelineHeaders(ticketFor(id, data.length, [1, 6]), [{ id: 6, url }]),
      );
      expect(res.json()).toMatchObject({ code: "UNAVAILABLE", failedNode: 6 });
      expect(n1.store.has(id)).toBe(true);
    } finally {
      await new Promise((r) => dying.close(r));
    }
  });

  it("fails a forward to a node the leader judges dead at once, naming it, whatever was sent", async () => {
    // A pulled cable answers nothing: the whole body fits in the socket buffers, then silence until
    // the downstream timeout (30 s in production). The leader's word ends it (Pipeline.failForwardsTo).
    const silent = await startSilentPeer();
    const patient = await startNode({ id: 5, dir: tmp.dir, downstreamTimeoutMs: 600_000 });
    try {
      const { url } = silent;
      const { id, data } = randomChunk(1000);
      const answer = putChunk(
        patient.url,
        id,
        data,
        pipelineHeaders(ticketFor(id, data.length, [5, 8]), [{ id: 8, url }]),
      );
      await waitFor("the forward under way", () => silent.connections() > 0);
      expect(patient.pipeline.failForwardsTo([3])).toBe(0); // another node: nothing to fail
      expect(patient.pipeline.failForwardsTo([3, 8])).toBe(1);
      const res = await answer;
      expect(res.json()).toMatchObject({ code: "UNAVAILABLE", failedNode: 8 });
      expect(res.json().message).toMatch(/dead in the leader's view/);
    } finally {
      await silent.close();
      await patient.close();
    }
  });

  it("refuses pipelines that loop or repeat a node", async () => {
    const { id, data } = randomChunk(100);
    const ticket = ticketFor(id, 100, [1, 2, 3]);
    for (const downstream of [[addr(n1)], [addr(n2), addr(n2)], [{ id: 2, url: "ftp://x" }]]) {
      const res = await putChunk(n1.url, id, data, pipelineHeaders(ticket, downstream));
      expect(res.status).toBe(400);
      expect(res.json().code).toBe("BAD_REQUEST");
    }
  });
});

describe("replicate command", () => {
  it("pushes a local chunk to the targets through the pipeline", async () => {
    const { id, data } = randomChunk(70_000);
    await putChunk(n1.url, id, data, pipelineHeaders(ticketFor(id, data.length, [1])));
    const cmd = {
      type: "replicate",
      chunkId: id,
      sizeBytes: data.length,
      targets: [addr(n2), addr(n3)],
      ticket: ticketFor(id, data.length, [2, 3]),
    };
    const res = await send("POST", `${n1.url}/internal/chunks/replicate`, { body: cmd, secret: true });
    expect(res.status).toBe(200);
    expect(res.json()).toEqual({ id, sizeBytes: data.length, stored: [2, 3] });
    expect(n2.store.has(id) && n3.store.has(id)).toBe(true);
  });

  it("answers NOT_FOUND for a chunk it does not hold and UNAVAILABLE for a dead target", async () => {
    const { id, data } = randomChunk(10);
    const cmd = {
      type: "replicate",
      chunkId: id,
      sizeBytes: 10,
      targets: [addr(n2)],
      ticket: ticketFor(id, 10, [2]),
    };
    const missing = await send("POST", `${n1.url}/internal/chunks/replicate`, { body: cmd, secret: true });
    expect(missing.json().code).toBe("NOT_FOUND");
    await putChunk(n1.url, id, data, pipelineHeaders(ticketFor(id, 10, [1])));
    const dead = await send("POST", `${n1.url}/internal/chunks/replicate`, {
      body: { ...cmd, targets: [{ id: 5, url: deadUrl }], ticket: ticketFor(id, 10, [5]) },
      secret: true,
    });
    expect(dead.json()).toMatchObject({ code: "UNAVAILABLE", failedNode: 5 });
  });
});

describe("an upload that breaks off", () => {
  it("leaves no chunk and no temp file on any node of the pipeline", async () => {
    const { id, data } = randomChunk(1024 * 1024);
    const headers = pipelineHeaders(ticketFor(id, data.length, [1, 2]), [addr(n2)]);
    const socket = connect(Number(new URL(n1.url).port), "127.0.0.1");
    await new Promise<void>((r) => socket.on("connect", r));
    const head = [`PUT /v1/chunks/${id} HTTP/1.1`, "host: x", `content-length: ${data.length}`];
    for (const [k, v] of Object.entries(headers)) head.push(`${k}: ${v}`);
    socket.write(`${head.join("\r\n")}\r\n\r\n`);
    socket.write(data.subarray(0, 300_000));
    // Both nodes have started their temp files before the client goes away. Only this chunk's files
    // count: the folder is shared by every chunk whose id starts with the same two hex digits, and
    // the other tests of this file leave chunks behind (a 1-in-25 chance of a neighbour there).
    const filesOfChunk = async (n: TestNode) =>
      (await readdir(join(tmp.dir, `data-${n.id}`, "chunks", id.slice(0, 2)))).filter((f) =>
        f.startsWith(id),
      );
    await waitFor("temp files on both nodes", async () => (await filesOfChunk(n2)).length > 0);
    socket.destroy();
    for (const n of [n1, n2]) {
      await waitFor(`node ${n.id} to drop its temp file`, async () => (await filesOfChunk(n)).length === 0);
      expect(n.store.has(id)).toBe(false);
    }
  });
});
