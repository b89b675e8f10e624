/**
 * Watch-mode metadata cache without a quorum (real processes): a cached answer is served only while
 * the change feed has proved, with a quorum, that it misses nothing — so a client whose feed cannot be
 * confirmed stops serving its cache within `metadataMaxStalenessMs`, and a read begun later than that
 * after another client's acknowledged write sees the write.
 */
import { setTimeout as delay } from "node:timers/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";

const MAX_STALENESS_MS = 300;

let cluster: TestCluster;
const clients: RaftfsClient[] = [];

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 1 });
}, 120_000);

afterAll(async () => {
  for (const id of cluster?.metaIds ?? []) await cluster.kill("meta", id, "SIGCONT");
  for (const c of clients) await c.close();
  await cluster?.stop();
}, 60_000);

test("with no quorum to confirm the feed, the cache stops serving within the bound; later reads see new writes", async () => {
  const open = async (opts: Parameters<typeof connect>[0] = {}) => {
    const c = await connect({ config: cluster.configPath, ...opts });
    clients.push(c);
    return c;
  };
  const writer = await open();
  const cached = await open({
    metadataCache: "watch",
    metadataMaxStalenessMs: MAX_STALENESS_MS,
    deadlineMs: 2000,
  });
  await writer.writeFile("/f.txt", "one");
  await waitFor("a metadata cache hit", async () => {
    await cached.readFile("/f.txt");
    return cached.cacheStats().metaHits > 0;
  });

  // Freeze two replicas of three: whichever one the feed polls, no answer can be confirmed by a
  // quorum now, and no error reaches the client for seconds (a frozen peer just does not answer) —
  // only the missing proof of freshness can stop the cache. The bound is the contract, not a guess
  // at timing: it holds however slow the machine is.
  const frozen = cluster.metaIds.slice(0, 2);
  for (const id of frozen) await cluster.kill("meta", id, "SIGSTOP");
  await delay(MAX_STALENESS_MS + 50);
  const hits = cached.cacheStats().metaHits;
  await expect(cached.readFile("/f.txt")).rejects.toThrow();
  expect(cached.cacheStats().metaHits).toBe(hits);

  for (const id of frozen) await cluster.kill("meta", id, "SIGCONT");
  await writer.writeFile("/f.txt", "two");
  await delay(MAX_STALENESS_MS + 50);
  expect(await cached.readFile("/f.txt", { encoding: "utf8" })).toBe("two");
}, 180_000);
