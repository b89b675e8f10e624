/**
 * CLI start-up: wall time of the built `raftfs` (a real child process) beside `node -e 0`, the
 * floor every Node program pays. Runs are interleaved round-robin, so the machine's noise falls on
 * every row alike; the table gives medians and each row's ratio to the floor. `stat` and `status`
 * talk to a real 3-replica cluster on loopback, so their rows include one metadata round trip.
 * Any run that exits non-zero, or prints something other than what it should, fails the bench.
 *
 *   npm run build && npx tsx bench/cli-start.ts [--runs 20]
 */
import { spawnSync } from "node:child_process";
import { parseArgs } from "node:util";
import { CLI, startCluster } from "../test/support/cluster-harness.js";
import { median } from "./support/procs.js";

const { values } = parseArgs({ options: { runs: { type: "string", default: "20" } } });
const RUNS = Number(values.runs);

interface Row {
  name: string;
  args: string[];
  /** What stdout must contain (a run that "succeeds" without doing its job is not a start-up). */
  expect: string;
}

function timeOnce(row: Row, env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, row.args, { env, encoding: "utf8", timeout: 30_000 });
  const ms = performance.now() - t0;
  if (r.status !== 0 || !r.stdout.includes(row.expect)) {
    throw new Error(
      `${row.name}: exit ${r.status} ${r.signal ?? ""}\nstdout: ${r.stdout.slice(0, 300)}\nstderr: ${r.stderr.slice(0, 500)}`,
    );
  }
  return ms;
}

const cluster = await startCluster({ metaCount: 3, dataCount: 1 });
try {
  await cluster.ready();
  const env = { ...process.env, RAFTFS_CONFIG: cluster.configPath };
  const put = await cluster.cli(["put", "-", "/bench/f.txt", "--parents"], { input: "hello" });
  if (put.code !== 0) throw new Error(`put: ${put.stderr}`);
  const rows: Row[] = [
    { name: "node -e 0 (floor)", args: ["-e", "process.stdout.write('ok')"], expect: "ok" },
    { name: "raftfs --help", args: [CLI, "--help"], expect: "Usage: raftfs" },
    { name: "raftfs stat /bench/f.txt", args: [CLI, "stat", "/bench/f.txt"], expect: "/bench/f.txt" },
    { name: "raftfs cat /bench/f.txt", args: [CLI, "cat", "/bench/f.txt"], expect: "hello" },
    { name: "raftfs status", args: [CLI, "status"], expect: "leader" },
  ];
  for (const row of rows) timeOnce(row, env); // warm the page cache; not counted
  const times = rows.map(() => [] as number[]);
  for (let i = 0; i < RUNS; i++) {
    for (const [k, row] of rows.entries()) times[k]!.push(timeOnce(row, env));
  }
  const floor = median(times[0]!);
  console.log(`\nCLI start-up, ${RUNS} interleaved runs each (wall ms, median; node ${process.version})\n`);
  console.log("| command | median ms | min ms | × node -e 0 |");
  console.log("|---|---|---|---|");
  rows.forEach((row, k) => {
    const m = median(times[k]!);
    const min = Math.min(...times[k]!);
    console.log(`| \`${row.name}\` | ${m.toFixed(0)} | ${min.toFixed(0)} | ${(m / floor).toFixed(2)} |`);
  });
} finally {
  await cluster.stop();
}
