/**
 * Regression for a bug the whole-system chaos run found (data-chaos.ts, replay:
 *   npm run test:chaos -- --suite data --replay '{"seed":8,"clients":2,"durationMs":6000,"faults":[{"atMs":1051,"kind":"corruptChunk","durationMs":677,"pick":639},{"atMs":2960,"kind":"pauseClients","durationMs":782,"pick":119},{"atMs":4063,"kind":"pauseData","durationMs":722,"pick":11},{"atMs":1894,"kind":"pauseClients","durationMs":962,"pick":911},{"atMs":3621,"kind":"pauseData","durationMs":747,"pick":951}]}'
 * with `garbageGraceMs: 1500`): a client stores a file's chunks, stalls longer than the garbage grace
 * period before it commits, the leader deletes the chunks as orphans of an abandoned upload, and then
 * the commit is *acknowledged* — a version whose bytes exist nowhere. An acknowledged write is lost.
 *
 * The cause: the leader's orphan GC deleted on its own judgement, outside the Raft order, and the state
 * machine accepted any chunk list. The fix (src/meta/state/chunks.ts, src/meta/data-tracker.ts): a
 * collection is decided through the log before anything is deleted, the collected ids stay as
 * tombstones, a commit naming one is refused with CHUNK_GONE, and a tombstone is revived once a node
 * that deleted the chunk reports it stored again.
 *
 * The deterministic replay: one chunk stored through the pipeline, never committed, until every
 * data node has deleted it; then the commit.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { LocationsResponse, PlacementResponse } from "../../src/common/protocol/index.js";
import { MetaCluster, RawSession, waitUntil } from "../support/meta-procs.js";

let c: MetaCluster;

beforeAll(async () => {
  // garbageGraceMs 1500 (the harness's setting for data clusters): a stall of a few seconds suffices.
  c = await MetaCluster.start({ dataNodes: 3 });
}, 60_000);
afterAll(async () => {
  await c?.stop();
});

describe("a commit that comes after the garbage grace period", () => {
  test("is refused (CHUNK_GONE), and accepted once the writer has stored the chunk again", async () => {
    const data = Buffer.from("stored, then the writer stalled ".repeat(500));
    const id = createHash("sha256").update(data).digest("hex");
    // As a writer does: placement from the leader, then one PUT down the pipeline of the placed nodes.
    const store = async (): Promise<number> => {
      const placed = await waitUntil("a placement", async () => {
        const r = await c.http.post(`${c.url(await c.leader())}/v1/chunks/placement`, {
          chunkId: id,
          sizeBytes: data.length,
        });
        return r.status === 200 ? (r.body as PlacementResponse) : null;
      });
      const [first, ...rest] = placed.nodes;
      const put = await request(`${first!.url}/v1/chunks/${id}`, {
        method: "PUT",
        body: data,
        headers: {
          "content-length": String(data.byteLength),
          "x-raftfs-ticket": placed.ticket,
          "x-raftfs-pipeline": JSON.stringify(rest),
        },
      });
      await put.body.dump();
      return put.statusCode;
    };
    expect(await store()).toBe(201);

    // The writer stalls (a GC pause, a slow link, a long election) past the grace period.
    const files = () =>
      [1, 2, 3].filter((n) => existsSync(join(c.dir, "data", `data-${n}`, "chunks", id.slice(0, 2), id)));
    await waitUntil(
      "the uncommitted chunk to be collected",
      async () => (files().length === 0 ? true : null),
      20_000,
    );

    const session = await RawSession.open(c, await c.leader());
    const commit = await session.mutate("/v1/fs/commit", {
      path: "/stalled.bin",
      content: { kind: "chunks", chunks: [{ id, sizeBytes: data.length }], sizeBytes: data.length },
    });
    expect(commit.status).toBe(410);
    expect(commit.body).toMatchObject({ code: "CHUNK_GONE" });
    expect(files()).toEqual([]);

    // The writer stores the chunk again; the commit goes through once the nodes report the new copies.
    expect(await store()).toBe(201);
    await waitUntil(
      "the commit of the stored-again chunk",
      async () => {
        const r = await session.mutate("/v1/fs/commit", {
          path: "/stalled.bin",
          content: { kind: "chunks", chunks: [{ id, sizeBytes: data.length }], sizeBytes: data.length },
        });
        if (r.status === 200) return true;
        expect(r.body).toMatchObject({ code: "CHUNK_GONE" });
        return null;
      },
      15_000,
    );
    // Acknowledged: the bytes are where the leader says, on every replica's disk.
    const holders = await waitUntil(
      "the leader's answer",
      async () => {
        const r = await c.http.get(`${c.url(await c.leader())}/v1/chunks/locations?ids=${id}`);
        return r.status === 200 ? ((r.body as LocationsResponse).locations[id] ?? []) : null;
      },
      5000,
    );
    expect({ holders: holders.length, filesOnDisk: files().length }).toEqual({ holders: 3, filesOnDisk: 3 });
  });
});
