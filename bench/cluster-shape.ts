/**
 * What the cluster's shape costs one write, on one machine: loopback clusters of different sizes run
 * side by side (same build, same Raft timing), and sequential 1000-byte writes through the library go
 * to each in alternating blocks, so every shape meets the same neighbours. Per shape: write p50/p90
 * and the CPU the whole cluster (every replica and data node) spent per write during its own blocks.
 * It answers whether a latency floor measured with 5 replicas and 6 data nodes on 2 cores (issue 18's
 * namespaces) is the network's or the shape's: on separate machines each process has its own cores
 * and disk, here they share two cores and one disk.
 *
 *   npm run build && npx tsx bench/cluster-shape.ts [--shapes 3x3,3x6,5x6] [--blocks 10] [--block 20]
 */
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { connect, type RaftfsClient } from "../src/client/index.js";
import { TestCluster } from "../test/support/cluster-harness.js";
import { cpuSeconds } from "./support/procs.js";

const { values } = parseArgs({
  options: {
    shapes: { type: "string", default: "3x3,3x6,5x6" },
    blocks: { type: "string", default: "10" },
    block: { type: "string", default: "20" },
  },
});
const BLOCKS = Number(values.blocks);
const BLOCK = Number(values.block);
const body = Buffer.alloc(1000, 7);
const pct = (xs: number[], p: number) =>
  [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(p * xs.length))] ?? Number.NaN;

interface Shape {
  name: string;
  cluster: TestCluster;
  client: RaftfsClient;
  latencies: number[];
  cpuSeconds: number;
  /** Its seconds of writing, and the CPU it spent while the other shapes wrote (its idle cost). */
  busySeconds: number;
  idleCpuSeconds: number;
  idleSeconds: number;
  writes: number;
  errors: number;
}

function pidsOf(c: TestCluster): number[] {
  const pids = [...c.metaIds.map((id) => c.pid("meta", id)), ...c.dataIds.map((id) => c.pid("data", id))];
  return pids.filter((p): p is number => p !== undefined);
}

const shapes: Shape[] = [];
try {
  for (const name of values.shapes.split(",")) {
    const [metaCount, dataCount] = name.split("x").map(Number);
    // The defaults of a real cluster (50 ms ticks, 6-tick elections), not the tests' fast ticks.
    const cluster = await TestCluster.start({
      metaCount,
      dataCount,
      overrides: { raft: { tickIntervalMs: 50, electionTimeoutTicks: 6 } },
    });
    const client = await connect({ config: cluster.configPath, deadlineMs: 30_000 });
    await client.mkdir("/b");
    shapes.push({
      name,
      cluster,
      client,
      latencies: [],
      cpuSeconds: 0,
      busySeconds: 0,
      idleCpuSeconds: 0,
      idleSeconds: 0,
      writes: 0,
      errors: 0,
    });
  }
  let n = 0;
  for (const s of shapes) for (let i = 0; i < BLOCK * 2; i++) await s.client.writeFile(`/b/w${n++}`, body);
  const loads: number[] = [];
  for (let b = 0; b < BLOCKS; b++) {
    for (const s of shapes) {
      const others = shapes.filter((o) => o !== s);
      const othersCpu0 = others.map((o) => cpuSeconds(pidsOf(o.cluster)));
      const pids = pidsOf(s.cluster);
      const cpu0 = cpuSeconds(pids);
      const start = performance.now();
      for (let i = 0; i < BLOCK; i++) {
        const t0 = performance.now();
        await s.client.writeFile(`/b/s${n++}`, body).catch(() => s.errors++);
        s.latencies.push(performance.now() - t0);
      }
      const seconds = (performance.now() - start) / 1000;
      s.cpuSeconds += cpuSeconds(pids) - cpu0;
      s.busySeconds += seconds;
      s.writes += BLOCK;
      others.forEach((o, i) => {
        o.idleCpuSeconds += cpuSeconds(pidsOf(o.cluster)) - (othersCpu0[i] ?? 0);
        o.idleSeconds += seconds;
      });
    }
    loads.push(loadavg()[0] ?? 0);
  }
  console.log(
    `${BLOCKS} blocks of ${BLOCK} sequential 1000-byte writes per shape, load ${Math.min(...loads).toFixed(1)}–${Math.max(...loads).toFixed(1)}`,
  );
  console.log(
    "| replicas × data nodes | write p50 ms | p90 ms | cluster CPU ms per write | of it above idle | idle cluster CPU ms/s | errors |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|");
  for (const s of shapes) {
    const cpuMs = (s.cpuSeconds * 1000) / s.writes;
    const idleRate = s.idleSeconds > 0 ? s.idleCpuSeconds / s.idleSeconds : 0;
    const aboveIdleMs = ((s.cpuSeconds - idleRate * s.busySeconds) * 1000) / s.writes;
    console.log(
      `| ${s.name.replace("x", " × ")} | ${pct(s.latencies, 0.5).toFixed(2)} | ${pct(s.latencies, 0.9).toFixed(2)} | ${cpuMs.toFixed(2)} | ${aboveIdleMs.toFixed(2)} | ${(idleRate * 1000).toFixed(0)} | ${s.errors} |`,
    );
  }
} finally {
  for (const s of shapes) {
    await s.client.close();
    await s.cluster.stop();
  }
}
