/**
 * How fast the pure Raft core commits, with the network and disks simulated (no I/O): entries
 * committed and applied on every node per CPU-second (the simulator's invariant checks are off here), for 3 and 5 nodes, with proposals batched per
 * round as a driver's group commit would batch them.
 *
 *   npm run bench:sim [-- --entries 200000]
 */
import { parseArgs } from "node:util";
import { Sim } from "../test/sim/cluster.js";

const { values } = parseArgs({ options: { entries: { type: "string", default: "100000" } } });
const target = Number(values.entries);

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

function run(nodes: number, batch: number): { entries: number; cpuS: number; perCpuS: number } {
  const sim = new Sim({ nodeCount: nodes, voterCount: nodes, seed: 1, checkInvariants: false });
  const leader = sim.stabilize(100);
  if (!leader) throw new Error("no leader");
  const start = cpuSeconds();
  const base = leader.applied;
  let proposed = 0;
  for (let round = 0; proposed < target && round < 10 * target; round++) {
    for (let i = 0; i < batch && proposed < target; i++, proposed++)
      sim.put(leader.id, `k${i % 64}`, "v".repeat(100));
    sim.settle();
    // Compact as a replica would, so the in-memory log stays bounded.
    if (round % 200 === 0) for (const id of sim.nodes.keys()) sim.snapshot(id, 100);
  }
  for (let r = 0; r < 5; r++) sim.round();
  const entries = Math.min(...[...sim.nodes.values()].map((n) => n.applied)) - base;
  const cpuS = cpuSeconds() - start;
  return { entries, cpuS, perCpuS: entries / cpuS };
}

console.log(`Raft core in the simulator: ${target} proposals of 100 B, batched per round`);
console.log("| nodes | batch | entries applied on all | CPU s | entries / CPU s |");
console.log("|---:|---:|---:|---:|---:|");
for (const nodes of [3, 5]) {
  for (const batch of [1, 64]) {
    const r = run(nodes, batch);
    console.log(`| ${nodes} | ${batch} | ${r.entries} | ${r.cpuS.toFixed(2)} | ${Math.round(r.perCpuS)} |`);
  }
}
