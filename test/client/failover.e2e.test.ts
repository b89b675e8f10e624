/**
 * The client across failures of real processes: kill -9 of the metadata leader in the middle of a
 * series of operations, a paused (SIGSTOP) leader, and a data node killed while files are written.
 */
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";

let cluster: TestCluster;
const clients: RaftfsClient[] = [];

async function client(opts: Parameters<typeof connect>[0] = {}): Promise<RaftfsClient> {
  const c = await connect({ config: cluster.configPath, ...opts });
  clients.push(c);
  return c;
}

beforeAll(async () => {
  // Four data nodes, three replicas: a dead node can be placed around.
  cluster = await startCluster({ metaCount: 3, dataCount: 4 });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await cluster?.stop();
}, 60_000);

describe("client failover (real processes)", () => {
  test("keeps working across kill -9 of the leader in the middle of a series; every write applied once", async () => {
    const retries: string[] = [];
    const fs = await client({ onRetry: (r) => retries.push(r.error.code) });
    await fs.writeFile("/counter", "0", { createParents: true });
    const written = new Map<string, Buffer>();
    let killed: number | null = null;
    for (let i = 0; i < 30; i++) {
      if (i === 10) {
        killed = await cluster.leaderId();
        await cluster.kill("meta", killed, "SIGKILL");
      }
      // Compare-and-set increments: had a retried commit been applied twice, the retry's
      // answer would be VERSION_MISMATCH instead of the remembered first result.
      expect((await fs.writeFile("/counter", String(i + 1), { expectedVersion: i + 1 })).version).toBe(i + 2);
      const data = i % 5 === 0 ? randomBytes(150_000) : randomBytes(100);
      await fs.writeFile(`/series/${i}`, data, { createParents: true });
      written.set(`/series/${i}`, data);
      expect((await fs.readFile(`/series/${i}`)).equals(data)).toBe(true);
    }
    expect(await fs.readFile("/counter", { encoding: "utf8" })).toBe("30");
    expect((await fs.stat("/counter")).version).toBe(31);
    for (const [path, data] of written) expect((await fs.readFile(path)).equals(data)).toBe(true);
    expect(retries.length).toBeGreaterThan(0); // it did have to look for the new leader
    expect(killed).not.toBeNull();
    const now = await cluster.leaderId();
    expect(now).not.toBe(killed);
    await cluster.restart("meta", killed!);
  });

  test("a paused leader: the client gives up on it after the attempt timeout and finds the new one", async () => {
    const fs = await client({ requestTimeoutMs: 1000 });
    await fs.writeFile("/paused.txt", "before");
    const old = await cluster.leaderId();
    await cluster.kill("meta", old, "SIGSTOP");
    try {
      expect((await fs.writeFile("/paused.txt", "during")).version).toBe(2);
      expect(await fs.readFile("/paused.txt", { encoding: "utf8" })).toBe("during");
      expect(fs.leaderUrl).not.toBe(cluster.url("meta", old));
    } finally {
      await cluster.kill("meta", old, "SIGCONT");
    }
    // The old leader steps down once it hears of the new term; the client stays with the new one.
    await waitFor("one leader again", async () => ((await cluster.leaderId()) !== old ? true : null));
    expect((await fs.writeFile("/paused.txt", "after")).version).toBe(3);
  });

  test("a data node killed while files are written: placements go around it", async () => {
    const fs = await client();
    await cluster.ready();
    await cluster.kill("data", 1, "SIGKILL");
    const files: Buffer[] = [];
    for (let i = 0; i < 6; i++) {
      const data = randomBytes(140_000); // three chunks each
      expect((await fs.writeFile(`/dn/${i}`, data, { createParents: true })).sizeBytes).toBe(140_000);
      files.push(data);
    }
    const fresh = await client({ cacheBytes: 0 });
    for (const [i, data] of files.entries())
      expect((await fresh.readFile(`/dn/${i}`)).equals(data)).toBe(true);
    await cluster.restart("data", 1);
    await cluster.ready();
  });
});
