/**
 * Writes across a data node's kill -9 and restart (real processes, loopback). With R equal to the
 * number of data nodes there is no other pipeline to place around a restarting node: for the
 * leader's heartbeat timeout it still counts the dead process alive, and the new one takes a moment
 * to listen. A write in that window must wait for it within the chunk deadline, not fail the user's
 * write after a few quick retries (it did, in half a second, with "the forwarded body was aborted").
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type RaftfsClient } from "../../src/index.js";
import { bytesOf } from "../support/bytes.js";
import { MetaCluster } from "../support/meta-procs.js";

const CHUNK = 64 * 1024;
const NODES = [1, 2, 3];

describe("a write right after data nodes were killed and restarted", () => {
  let cluster: MetaCluster | undefined;
  let client: RaftfsClient | undefined;

  beforeAll(async () => {
    cluster = await MetaCluster.start({
      replicas: 1,
      dataNodes: NODES.length,
      // The write waits for restarting nodes: on a loaded machine longer than the harness's 1.5 s
      // garbage grace, after which its stored chunks are collected as orphans and the commit is
      // refused with CHUNK_GONE (test/chaos/gc-commit-race.test.ts covers that on purpose).
      extra: { chunkSizeBytes: CHUNK, inlineThresholdBytes: 4096, garbageGraceMs: 600_000 },
    });
    client = await connect({ config: cluster.configPath, cacheBytes: 0 });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it("succeeds with R = 3 on 3 nodes after kill -9 and restart of two of them", {
    timeout: 120_000,
  }, async () => {
    const c = cluster!;
    const fs = client!;
    const before = bytesOf("before", 3 * CHUNK + 123);
    await fs.writeFile("/r/before", before, { createParents: true });
    for (const round of [1, 2]) {
      // Two of three: whichever the placement puts first, the head or a downstream node is restarting.
      const restarted = round === 1 ? [2, 3] : [1, 2];
      await Promise.all(restarted.map((id) => c.killData(id, "SIGKILL")));
      for (const id of restarted) c.launchData(id);
      const data = bytesOf(`after-${round}`, 3 * CHUNK + 77);
      // The first write through the library, with the leader still counting the old processes alive.
      await fs.writeFile(`/r/after-${round}`, data).catch((err: unknown) => {
        throw new Error(
          `write after restart failed: ${(err as Error).message}\n${restarted.map((id) => c.dataLogs(id)).join("\n")}`,
        );
      });
      expect((await fs.readFile(`/r/after-${round}`)).equals(data)).toBe(true);
      await c.dataAlive(NODES, 30_000);
    }
    expect((await fs.readFile("/r/before")).equals(before)).toBe(true);
  });
});
