/**
 * Writes while a data node is down, with R equal to the number of data nodes (the launcher's default
 * shape: 3 nodes, R = 3). The write goes on with the copies that can be made now — at least half of
 * R, rounded up — and repair makes the missing copy once the node is back; fewer live nodes than that is a clear
 * UNAVAILABLE. Before, one dead node out of three refused every chunked write until the client's chunk
 * deadline ran out (real processes, loopback).
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type RaftfsClient } from "../../src/index.js";
import { bytesOf } from "../support/bytes.js";
import { MetaCluster } from "../support/meta-procs.js";
import { waitFor } from "../support/wait.js";

const CHUNK = 64 * 1024;
const NODES = [1, 2, 3];

describe("writes with a data node down, R = 3 on 3 nodes", () => {
  let cluster: MetaCluster | undefined;
  let client: RaftfsClient | undefined;

  beforeAll(async () => {
    cluster = await MetaCluster.start({
      replicas: 1,
      dataNodes: NODES.length,
      // Large grace: a loaded machine must not collect the chunks of a write still retrying.
      extra: { chunkSizeBytes: CHUNK, inlineThresholdBytes: 4096, garbageGraceMs: 600_000 },
    });
    // The deadline bounds how long the old code's refusals were retried before the write failed.
    client = await connect({ config: cluster.configPath, cacheBytes: 0, chunkDeadlineMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  /** The nodes whose disk holds the chunk. */
  const holders = (id: string) =>
    NODES.filter((n) => existsSync(join(cluster!.dir, "data", `data-${n}`, "chunks", id.slice(0, 2), id)));

  async function chunkIds(path: string): Promise<string[]> {
    const info = await client!.fileInfo(path);
    if (info.content.kind !== "chunks") throw new Error(`${path} is not chunked`);
    return info.content.chunks.map((c) => c.id);
  }

  it("succeeds on the two live nodes, and repair adds the third copy when the node is back", {
    timeout: 180_000,
  }, async () => {
    const c = cluster!;
    const fs = client!;
    await c.killData(3, "SIGKILL");
    const data = bytesOf("degraded", 3 * CHUNK + 321);
    // The first write right after the kill: the leader still counts node 3 alive, so the first
    // placement names it, the pipeline fails there, and the next placement leaves it out.
    await fs.writeFile("/d/while-down", data, { createParents: true });
    expect((await fs.readFile("/d/while-down")).equals(data)).toBe(true);
    const ids = await chunkIds("/d/while-down");
    expect(ids).toHaveLength(4);
    for (const id of ids) expect(holders(id)).toEqual([1, 2]);

    c.launchData(3);
    await c.dataAlive(NODES, 60_000);
    await waitFor(
      "every chunk of the file on all three nodes",
      () => ids.every((id) => holders(id).length === NODES.length),
      { timeoutMs: 90_000, intervalMs: 200 },
    );
    expect((await fs.readFile("/d/while-down")).equals(data)).toBe(true);
  });

  it("refuses with UNAVAILABLE, naming the copies it needs, when only one node is live", {
    timeout: 180_000,
  }, async () => {
    const c = cluster!;
    await Promise.all([c.killData(2, "SIGKILL"), c.killData(3, "SIGKILL")]);
    // Once the leader has seen them die, placements find one node: fewer than 2 of 3.
    const fs = await connect({ config: c.configPath, cacheBytes: 0, chunkDeadlineMs: 3000 });
    try {
      await c.dataAlive([1], 60_000);
      const err = await fs.writeFile("/d/refused", bytesOf("refused", CHUNK)).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: "UNAVAILABLE" });
      expect((err as Error).message).toMatch(/at least 2 of its 3 copies/);
      await expect(fs.stat("/d/refused")).rejects.toMatchObject({ code: "NOT_FOUND" });
    } finally {
      await fs.close();
    }
    for (const id of [2, 3]) c.launchData(id);
    await c.dataAlive(NODES, 60_000);
  });
});
