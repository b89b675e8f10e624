/**
 * A data node that stops answering without closing its connections (frozen with SIGSTOP: what a
 * pulled cable looks like from the client) costs a read or a write the leader's dead-node timeout,
 * not the client's request timeout. The client here waits 10 minutes on a silent request, as a user
 * with a long `requestTimeoutMs` would: before the dead-node watch (client/dead-nodes.ts) a read that
 * asked the frozen node first, or a write whose pipeline it headed, waited that long; now such a request
 * is given up once the leader names the node dead (2 s in these clusters), for the next holder or
 * a placement without it. Real processes, loopback.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type RaftfsClient } from "../../src/index.js";
import { bytesOf } from "../support/bytes.js";
import { MetaCluster } from "../support/meta-procs.js";

const CHUNK = 64 * 1024;
const NODES = [1, 2, 3];
/** Enough chunks that the frozen node heads some pipelines and comes first for some reads: each
 *  chunk's order is spread by its id, so none of 24 doing so has odds (2/3)^24, below 1 in 10,000. */
const CHUNKS = 24;
const PATIENT_MS = 600_000;

describe("a frozen data node, with a client that would wait 10 minutes on a silent request", () => {
  let cluster: MetaCluster | undefined;
  let client: RaftfsClient | undefined;

  beforeAll(async () => {
    cluster = await MetaCluster.start({
      replicas: 1,
      dataNodes: NODES.length,
      extra: { chunkSizeBytes: CHUNK, inlineThresholdBytes: 4096, garbageGraceMs: 600_000 },
    });
    client = await connect({
      config: cluster.configPath,
      cacheBytes: 0,
      requestTimeoutMs: PATIENT_MS,
      chunkDeadlineMs: PATIENT_MS,
    });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  const holders = (id: string) =>
    NODES.filter((n) => existsSync(join(cluster!.dir, "data", `data-${n}`, "chunks", id.slice(0, 2), id)));

  it("reads from the other holders and writes to the other nodes once the leader judges it dead", {
    timeout: 240_000,
  }, async () => {
    const c = cluster!;
    const fs = client!;
    const before = bytesOf("before-the-freeze", CHUNKS * CHUNK);
    await fs.writeFile("/before.bin", before);
    await c.killData(3, "SIGSTOP");
    try {
      // Right after the freeze the leader still counts node 3 alive and lists it among the holders.
      expect((await fs.readFile("/before.bin")).equals(before)).toBe(true);
      const during = bytesOf("during-the-freeze", CHUNKS * CHUNK);
      await fs.writeFile("/during.bin", during);
      expect((await fs.readFile("/during.bin")).equals(during)).toBe(true);
      const info = await fs.fileInfo("/during.bin");
      if (info.content.kind !== "chunks") throw new Error("/during.bin is not chunked");
      // Every copy went to the live nodes (minReplication 2 of R = 3 goes on without the frozen one).
      for (const chunk of info.content.chunks) expect(holders(chunk.id)).toEqual([1, 2]);
    } finally {
      await c.killData(3, "SIGCONT");
    }
  });
});
