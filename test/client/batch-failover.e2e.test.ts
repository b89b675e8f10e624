/**
 * Coalesced metadata calls across kill -9 of the leader (real processes, through `connect()`): 64
 * writers in flight at once, so their commits travel in batches; the leader dies in the middle. Every
 * write is acknowledged exactly once: each writer's versions run 1, 2, 3… with no gap (a lost write)
 * and no jump (a retried batch applied twice), and the last content is the last acknowledged one.
 */
import { afterAll, beforeAll, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";

const WRITERS = 64;
const WRITES_EACH = 12;

let cluster: TestCluster;
let fs: RaftfsClient | null = null;

beforeAll(async () => {
  // Small inline files only: one data node is enough.
  cluster = await startCluster({ metaCount: 3, dataCount: 1 });
}, 120_000);

afterAll(async () => {
  await fs?.close();
  await cluster?.stop();
}, 60_000);

test("64 writers in flight across kill -9 of the leader: no acknowledged write lost, none applied twice", async () => {
  fs = await connect({ config: cluster.configPath, deadlineMs: 30_000 });
  const client = fs;
  await client.mkdir("/batch-failover");
  const old = await cluster.leaderId();
  let acked = 0;
  let killed = false;
  const versions: number[][] = Array.from({ length: WRITERS }, () => []);
  const writer = async (w: number) => {
    for (let k = 0; k < WRITES_EACH; k++) {
      const r = await client.writeFile(`/batch-failover/w${w}`, `${w}:${k}`);
      versions[w]!.push(r.version);
      acked++;
      // A third of the way in, with the other writers' commits in flight: kill the leader.
      if (!killed && acked >= (WRITERS * WRITES_EACH) / 3) {
        killed = true;
        await cluster.kill("meta", old, "SIGKILL");
      }
    }
  };
  await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
  expect(killed).toBe(true);
  const want = Array.from({ length: WRITES_EACH }, (_, k) => k + 1);
  for (let w = 0; w < WRITERS; w++) {
    expect(versions[w], `writer ${w}'s acknowledged versions`).toEqual(want);
    expect(await client.readFile(`/batch-failover/w${w}`, { encoding: "utf8" })).toBe(
      `${w}:${WRITES_EACH - 1}`,
    );
    expect((await client.stat(`/batch-failover/w${w}`)).version).toBe(WRITES_EACH);
  }
  // The writes did travel in batches (else this test would test nothing new).
  expect(client.batchStats.batchedCalls).toBeGreaterThan(client.batchStats.batches);
  expect(await cluster.leaderId()).not.toBe(old);
  await cluster.restart("meta", old);
}, 180_000);
