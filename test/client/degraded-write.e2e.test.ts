/**
 * Writes while a data node is down, with R equal to the number of data nodes (the launcher's default
 * shape: 3 nodes, R = 3). The write goes on with the copies that can be made now — at least half of
 * R, rounded up — and repair makes the missing copy once the node is back; fewer live nodes than that is a clear
 * UNAVAILABLE. Before, one dead node out of three refused every chunked write until the client's chunk
 * deadline ran out (real processes, loopback).
 *
 * A node that stops answering without closing its connections (frozen with SIGSTOP: a pulled cable, as
 * the client sees it) costs a read or a write the leader's dead-node timeout (2 s here), not the
 * client's request timeout: a request to it is given up once the leader names it dead (the client's
 * dead-node watch, client/dead-nodes.ts), for the next holder or a placement without it. Before, a
 * read that asked the frozen node first, or a write whose pipeline it headed, waited the whole
 * request timeout (10 minutes for the patient client below).
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
/** Enough chunks that the frozen node heads some pipelines and comes first for some reads: each
 *  chunk's order is spread by its id, so none of 24 doing so has odds (2/3)^24, below 1 in 10,000. */
const CHUNKS = 24;
const PATIENT_MS = 600_000;

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

  async function chunkIds(path: string, fs = client!): Promise<string[]> {
    const info = await fs.fileInfo(path);
    if (info.content.kind !== "chunks") throw new Error(`${path} is not chunked`);
    return info.content.chunks.map((c) => c.id);
  }

  it("a frozen node: reads go to the other holders and writes to the other nodes once the leader judges it dead", {
    timeout: 240_000,
  }, async () => {
    const c = cluster!;
    const fs = await connect({
      config: c.configPath,
      cacheBytes: 0,
      requestTimeoutMs: PATIENT_MS,
      chunkDeadlineMs: PATIENT_MS,
    });
    const before = bytesOf("before-the-freeze", CHUNKS * CHUNK);
    await fs.writeFile("/frozen/before", before, { createParents: true });
    await c.killData(3, "SIGSTOP");
    try {
      // Right after the freeze the leader still counts node 3 alive and lists it among the holders.
      expect((await fs.readFile("/frozen/before")).equals(before)).toBe(true);
      const during = bytesOf("during-the-freeze", CHUNKS * CHUNK);
      await fs.writeFile("/frozen/during", during);
      expect((await fs.readFile("/frozen/during")).equals(during)).toBe(true);
      for (const id of await chunkIds("/frozen/during", fs)) expect(holders(id)).toEqual([1, 2]);
    } finally {
      await c.killData(3, "SIGCONT");
      await fs.close();
    }
    await c.dataAlive(NODES, 60_000);
  });

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
