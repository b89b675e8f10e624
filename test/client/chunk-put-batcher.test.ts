/**
 * The client's chunk PUTs to one pipeline, grouped (chunk-put-batcher.ts), against real data nodes:
 * the first goes alone at once; those put while the pipeline's slots are busy leave together in one
 * group PUT, each settled with its own chunk's outcome; a node without the group route gets each chunk
 * alone. The dispatcher passes every request on to the nodes and records its route.
 */
import type { Dispatcher } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ChunkPutBatcher } from "../../src/client/chunk-put-batcher.js";
import { DfsError } from "../../src/common/errors.js";
import { DATA_ROUTES, MAX_CHUNKS_PER_GROUP, type NodeAddress } from "../../src/common/protocol/index.js";
import { agent, randomChunk, startNode, type TestNode, tempDir, ticketFor } from "../data/helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
let nodes: TestNode[];

const addr = (n: TestNode): NodeAddress => ({ id: n.id, url: n.url });

beforeAll(async () => {
  tmp = await tempDir();
  nodes = await Promise.all([1, 2, 3].map((id) => startNode({ id, dir: tmp.dir })));
});
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.close()));
  await tmp.remove();
});

/** Passes requests on to `agent`, recording each one's path; `groupPath` replaces the group route's. */
function recording(groupPath: string = DATA_ROUTES.chunkGroup) {
  const paths: string[] = [];
  const dispatcher = {
    request(opts: Dispatcher.RequestOptions) {
      const path = opts.path === DATA_ROUTES.chunkGroup ? groupPath : opts.path;
      paths.push(opts.path === DATA_ROUTES.chunkGroup ? "group" : "chunk");
      return agent.request({ ...opts, path });
    },
  } as unknown as Dispatcher;
  return { dispatcher, paths };
}

function puts(count: number, size = 65_536) {
  const ids = nodes.map((n) => n.id);
  return Array.from({ length: count }, () => {
    const { id, data } = randomChunk(size);
    return { id, data, ticket: ticketFor(id, size, ids), pipeline: [addr(nodes[1]!), addr(nodes[2]!)] };
  });
}

const everyNodeHolds = (id: string) => nodes.every((n) => n.store.has(id));

describe("chunk PUTs grouped per pipeline", () => {
  it("sends the first chunk alone and those put meanwhile in one group; each resolves once every node holds it", async () => {
    const { dispatcher, paths } = recording();
    const batcher = new ChunkPutBatcher({ requestsInFlight: 1, timeoutMs: 10_000 }, { dispatcher });
    const list = puts(7);
    await Promise.all(list.map((p) => batcher.put(addr(nodes[0]!), p)));
    expect(paths).toEqual(["chunk", "group"]);
    for (const p of list) expect(everyNodeHolds(p.id)).toBe(true);
  });

  it(`splits what waits into groups of at most ${MAX_CHUNKS_PER_GROUP} chunks`, async () => {
    const { dispatcher, paths } = recording();
    const batcher = new ChunkPutBatcher({ requestsInFlight: 1, timeoutMs: 10_000 }, { dispatcher });
    const list = puts(MAX_CHUNKS_PER_GROUP + 3, 1000);
    await Promise.all(list.map((p) => batcher.put(addr(nodes[0]!), p)));
    expect(paths).toEqual(["chunk", "group", "group"]);
    for (const p of list) expect(everyNodeHolds(p.id)).toBe(true);
  });

  it("rejects only the chunk of a group that failed, with its own error; the others resolve", async () => {
    const { dispatcher, paths } = recording();
    const batcher = new ChunkPutBatcher({ requestsInFlight: 1, timeoutMs: 10_000 }, { dispatcher });
    const list = puts(4);
    const bad = list[2]!;
    const damaged = Buffer.from(bad.data);
    damaged[7]! ^= 1;
    const outcomes = await Promise.allSettled(
      list.map((p) => batcher.put(addr(nodes[0]!), p === bad ? { ...p, data: damaged } : p)),
    );
    expect(paths).toEqual(["chunk", "group"]);
    outcomes.forEach((o, i) => {
      if (i !== 2) expect(o.status).toBe("fulfilled");
    });
    const failed = outcomes[2] as PromiseRejectedResult;
    expect(failed.status).toBe("rejected");
    expect(failed.reason).toBeInstanceOf(DfsError);
    expect(failed.reason).toMatchObject({ code: "CHECKSUM_MISMATCH", details: { chunkId: bad.id } });
    expect(nodes.some((n) => n.store.has(bad.id))).toBe(false);
  });

  it("sends each chunk alone once a node answers that it has no group route", async () => {
    const { dispatcher, paths } = recording("/v1/no-such-route");
    const batcher = new ChunkPutBatcher({ requestsInFlight: 1, timeoutMs: 10_000 }, { dispatcher });
    const first = puts(4);
    await Promise.all(first.map((p) => batcher.put(addr(nodes[0]!), p)));
    expect(paths).toEqual(["chunk", "group", "chunk", "chunk", "chunk"]);
    const second = puts(3);
    await Promise.all(second.map((p) => batcher.put(addr(nodes[0]!), p)));
    expect(paths.slice(5)).toEqual(["chunk", "chunk", "chunk"]);
    for (const p of [...first, ...second]) expect(everyNodeHolds(p.id)).toBe(true);
  });
});
