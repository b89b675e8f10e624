/**
 * The library meeting a new metadata leader after kill -9 of the old one (real processes): the
 * first call after the kill is answered by the new leader, and the dead replica is called once —
 * the followers' stale hints that still name it are not followed; the search by /status finds the
 * new leader (src/client/meta-connection.ts).
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";

let cluster: TestCluster;
let fs: RaftfsClient | null = null;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 0 });
}, 120_000);

afterAll(async () => {
  await fs?.close();
  await cluster?.stop();
}, 60_000);

test("after kill -9 of the leader, the next write reaches the new leader; the dead replica is called once per call", async () => {
  const retries: { url: string; code: string }[] = [];
  fs = await connect({
    config: cluster.configPath,
    onRetry: (r) => retries.push({ url: new URL(r.url).origin, code: r.error.code }),
  });
  for (let round = 0; round < 2; round++) {
    await fs.writeFile("/r/x", `before ${round}`, { createParents: true });
    const old = await cluster.leaderId();
    const deadUrl = new URL(cluster.url("meta", old)).origin;
    retries.length = 0;
    await cluster.kill("meta", old, "SIGKILL");
    await fs.writeFile("/r/x", `after ${round}`);
    const now = await cluster.leaderId();
    expect(now).not.toBe(old);
    expect(await fs.readFile("/r/x", { encoding: "utf8" })).toBe(`after ${round}`);
    // The call found the dead leader gone once; every later attempt went elsewhere.
    expect(retries.filter((r) => r.url === deadUrl)).toEqual([{ url: deadUrl, code: "UNAVAILABLE" }]);
    await cluster.restart("meta", old);
  }
}, 120_000);
