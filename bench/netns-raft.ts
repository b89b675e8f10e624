/**
 * Raft under latency across network namespaces (run as root, after `npm run build`): 5 replicas
 * (zones a, b, c, a, b) and 6 data nodes, the client's own links at 0 ms so the figures are the
 * replicas' RTT. For each election setting (the default 10 ticks × 50 ms, and `--ticks` others), one
 * cluster, and in it for each inter-zone RTT (0, 10, 20 ms with 10 % jitter, 0.5 % loss where RTT >
 * 0): sequential small-write latency (p50, p99), terms that pass in a quiet period (elections nobody
 * asked for: loss or jitter taken for a dead leader), and leader failovers (SIGKILL of the leader):
 * time to a new leader and to the next acknowledged write. Ratios against the 0 ms row of the same
 * cluster. Any failed write is printed and fails the run.
 *   tsx bench/netns-raft.ts [--writes 100] [--failovers 4] [--quiet-ms 5000] [--ticks 10,5]
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
    failovers: { type: "string", default: "4" },
    "quiet-ms": { type: "string", default: "5000" },
    ticks: { type: "string", default: "10,5" },
  },
});
const why = whyNoNamespaces();
if (why !== null) {
  console.log(`netns raft bench skipped: ${why}`);
  process.exit(0);
}
const WRITES = Number(values.writes);
const FAILOVERS = Number(values.failovers);
const QUIET_MS = Number(values["quiet-ms"]);
const RTTS = [0, 10, 20];
const links =
  (rttMs: number): LinkOf =>
  (x, y) =>
    x === "client" || y === "client" || x === y
      ? { rttMs: 0, jitterMs: 0, lossPerMille: 0 }
      : { rttMs, jitterMs: rttMs / 10, lossPerMille: rttMs > 0 ? 5 : 0 };
const errors: string[] = [];
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;

interface Row {
  ticks: number;
  rttMs: number;
  p50: number;
  p99: number;
  quietTerms: number;
  toLeader: number[];
  toWrite: number[];
}
const rows: Row[] = [];

async function leader(c: NetnsCluster): Promise<{ id: number; term: number }> {
  return waitFor(
    "a leader",
    async () => {
      for (const s of (await c.statuses()).values()) if (s?.role === "leader") return s;
      return null;
    },
    { timeoutMs: 30_000, intervalMs: 20 },
  );
}

async function maxTerm(c: NetnsCluster): Promise<number> {
  return Math.max(0, ...[...(await c.statuses()).values()].map((s) => s?.term ?? 0));
}

for (const ticks of values.ticks.split(",").map(Number)) {
  const c = await NetnsCluster.start(
    {
      zones: ["a", "b", "c"],
      metaZones: ["a", "b", "c", "a", "b"],
      dataZones: ["a", "a", "b", "b", "c", "c"],
      link: links(0),
      clientZone: "client",
      overrides: { raft: { electionTimeoutTicks: ticks } },
    },
    console.log,
  );
  const client = await connect({ config: c.configPath, deadlineMs: 30_000 });
  try {
    await client.mkdir("/b");
    const body = Buffer.alloc(1000, 7);
    let n = 0;
    for (let i = 0; i < 20; i++) await client.writeFile(`/b/w${n++}`, body); // warm-up
    for (const rttMs of RTTS) {
      c.lab.setLinks(links(rttMs));
      await sleep(500);
      const lat: number[] = [];
      for (let i = 0; i < WRITES; i++) {
        const t0 = performance.now();
        await client.writeFile(`/b/s${n++}`, body).catch((e: unknown) => errors.push(String(e)));
        lat.push(performance.now() - t0);
      }
      // Quiet: no fault at all; any new term is an election that loss or jitter caused.
      const term0 = await maxTerm(c);
      await sleep(QUIET_MS);
      const quietTerms = (await maxTerm(c)) - term0;
      const toLeader: number[] = [];
      const toWrite: number[] = [];
      for (let k = 0; k < FAILOVERS; k++) {
        const old = await leader(c);
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
        await client.writeFile(`/b/f${n++}`, body).catch((e: unknown) => errors.push(String(e)));
        toWrite.push(performance.now() - t0);
        c.launch("meta", old.id);
        const back = await waitFor(
          `replica ${old.id} back as a follower`,
          async () => (await c.statuses()).get(old.id)?.leader != null,
          { timeoutMs: 60_000, intervalMs: 100 },
        ).catch(async (err: unknown) => {
          // A finding, not a crash: say what each replica saw, and stop failing over at this RTT.
          const all = await c.statuses();
          const seen = [...all].map(
            ([id, s]) => `${id}: ${s ? `${s.role} term ${s.term} leader ${s.leader}` : "no answer"}`,
          );
          // The leader's view of the stuck replica: its progress state tells a paused probe apart.
          const lead = [...all.values()].find((s) => s?.role === "leader");
          seen.push(
            `leader's progress of ${old.id}: ${JSON.stringify(lead?.peers.find((p) => p.id === old.id))}`,
          );
          errors.push(`${ticks} ticks, ${rttMs} ms: ${String(err)}; replicas ${seen.join(", ")}`);
          console.error(errors[errors.length - 1]);
          return false;
        });
        if (back === false) break;
      }
      const row = { ticks, rttMs, p50: pct(lat, 0.5), p99: pct(lat, 0.99), quietTerms, toLeader, toWrite };
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  } finally {
    await client.close();
    await c.stop();
  }
}

console.log(`netns raft bench, ${new Date().toISOString()}, writes ${WRITES}, failovers ${FAILOVERS}`);
console.log(
  "| election timeout | inter-zone RTT (loss) | write p50 ms | p99 ms | p50 ÷ 0 ms | terms in quiet | kill → leader median (max) ms | kill → write median ms |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) {
  const base = rows.find((x) => x.ticks === r.ticks && x.rttMs === 0);
  console.log(
    `| ${r.ticks} × 50 ms | ${r.rttMs} ms (${r.rttMs > 0 ? "0.5 %" : "0"}) | ${r.p50.toFixed(1)} | ${r.p99.toFixed(1)} | ${
      base ? (r.p50 / base.p50).toFixed(2) : "-"
    } | ${r.quietTerms} in ${QUIET_MS / 1000} s | ${pct(r.toLeader, 0.5).toFixed(0)} (${Math.max(...r.toLeader).toFixed(0)}) | ${pct(
      r.toWrite,
      0.5,
    ).toFixed(0)} |`,
  );
}
if (errors.length > 0) {
  console.error(`${errors.length} errors, first: ${errors[0]}`);
  process.exit(1);
}
