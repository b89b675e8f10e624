/**
 * raftfs across network namespaces (run as root, after `npm run build`): 5 replicas and 6 data
 * nodes in 3 zones, driven through the client library from the test process (whose own links are
 * 0 ms, so the figures are the replicas' RTT). In one run, the same cluster at 0 ms and at 10 ms RTT
 * between zones: sequential small-write latency and 64-in-flight throughput, as ratios; then leader
 * failover (SIGKILL of the leader) at 10 ms RTT and 0.5 % loss, time until a new leader and until
 * the next acknowledged write.
 *   tsx bench/netns-cluster.ts [--writes 100] [--inflight-writes 640] [--failovers 5]
 */
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { connect } from "../src/client/index.js";
import { NetnsCluster } from "../test/netns/cluster.js";
import { whyNoNamespaces } from "../test/support/netns.js";
import type { LinkOf } from "../test/support/netns-plan.js";
import { waitFor } from "../test/support/wait.js";

const { values } = parseArgs({
  options: {
    writes: { type: "string", default: "100" },
    "inflight-writes": { type: "string", default: "640" },
    failovers: { type: "string", default: "5" },
  },
});
const why = whyNoNamespaces();
if (why !== null) {
  console.log(`netns cluster bench skipped: ${why}`);
  process.exit(0);
}
const links =
  (rttMs: number, lossPerMille: number): LinkOf =>
  (x, y) =>
    x === "client" || y === "client" || x === y
      ? { rttMs: 0, jitterMs: 0, lossPerMille: 0 }
      : { rttMs, jitterMs: rttMs / 10, lossPerMille };
const errors: string[] = [];
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1] ?? Number.NaN;

const c = await NetnsCluster.start(
  {
    zones: ["a", "b", "c"],
    metaZones: ["a", "b", "c", "a", "b"],
    dataZones: ["a", "a", "b", "b", "c", "c"],
    link: links(0, 0),
    clientZone: "client",
  },
  console.log,
);
const client = await connect({ config: c.configPath, deadlineMs: 30_000 });
try {
  await client.mkdir("/b");
  const body = Buffer.alloc(1000, 7);
  let n = 0;
  async function latency(): Promise<number> {
    const xs: number[] = [];
    for (let i = 0; i < Number(values.writes); i++) {
      const t0 = performance.now();
      await client.writeFile(`/b/s${n++}`, body);
      xs.push(performance.now() - t0);
    }
    return median(xs);
  }
  async function throughput(): Promise<number> {
    const total = Number(values["inflight-writes"]);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (next < total) {
          next++;
          await client.writeFile(`/b/t${n++}`, body).catch((e: unknown) => errors.push(String(e)));
        }
      }),
    );
    return total / ((performance.now() - t0) / 1000);
  }
  await latency(); // warm-up: connections, caches, JIT
  const lat0 = await latency();
  const tput0 = await throughput();
  c.lab.setLinks(links(10, 0));
  await sleep(500);
  const lat10 = await latency();
  const tput10 = await throughput();
  console.log(`netns cluster bench, ${new Date().toISOString()}`);
  console.log("| inter-zone RTT | write p50 ms | 64-in-flight writes/s |");
  console.log("|---|---|---|");
  console.log(`| 0 ms | ${lat0.toFixed(2)} | ${tput0.toFixed(0)} |`);
  console.log(`| 10 ms | ${lat10.toFixed(2)} | ${tput10.toFixed(0)} |`);
  console.log(
    `latency 10 ms − 0 ms: ${(lat10 - lat0).toFixed(2)} ms; throughput ratio ${(tput10 / tput0).toFixed(2)}`,
  );

  c.lab.setLinks(links(10, 5));
  const toLeader: number[] = [];
  const toWrite: number[] = [];
  for (let k = 0; k < Number(values.failovers); k++) {
    const old = await waitFor("a leader", async () => {
      for (const s of (await c.statuses()).values()) if (s?.role === "leader") return s;
      return null;
    });
    await c.kill("meta", old.id);
    const t0 = performance.now();
    await waitFor(
      "a new leader",
      async () => {
        for (const s of (await c.statuses()).values())
          if (s?.role === "leader" && s.term > old.term) return true;
        return null;
      },
      { timeoutMs: 30_000, intervalMs: 10 },
    );
    toLeader.push(performance.now() - t0);
    await client.writeFile(`/b/f${n++}`, body);
    toWrite.push(performance.now() - t0);
    c.launch("meta", old.id);
    await waitFor(
      `replica ${old.id} back as a follower`,
      async () => (await c.statuses()).get(old.id)?.leader != null,
      { timeoutMs: 60_000, intervalMs: 100 },
    );
  }
  console.log("| failover at 10 ms RTT, 0.5 % loss | median ms | max ms |");
  console.log("|---|---|---|");
  console.log(`| kill → new leader | ${median(toLeader).toFixed(0)} | ${Math.max(...toLeader).toFixed(0)} |`);
  console.log(
    `| kill → next acknowledged write | ${median(toWrite).toFixed(0)} | ${Math.max(...toWrite).toFixed(0)} |`,
  );
  console.log(`samples: leader ${toLeader.map((x) => x.toFixed(0)).join(", ")}`);
} finally {
  await client.close();
  await c.stop();
}
if (errors.length > 0) {
  console.error(`${errors.length} errors, first: ${errors[0]}`);
  process.exit(1);
}
