/**
 * Process helpers for benchmarks: free loopback ports, spawning, waiting, and bounded load loops.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

export { freePort, waitFor } from "../../test/support/wait.js";

export function start(cmd: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(cmd, args, { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, ...env } });
  let tail = "";
  child.stderr?.on("data", (b: Buffer) => {
    tail = (tail + b.toString()).slice(-2000);
  });
  child.on("exit", (code, signal) => {
    if (code !== 0 && signal === null && code !== null)
      process.stderr.write(`${cmd} exited ${code}: ${tail}\n`);
  });
  return child;
}

/** SIGTERM, then SIGKILL after `graceMs` (a profiled process needs the clean exit to write its profile). */
export async function stop(child: ChildProcess, graceMs = 0): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once("exit", r));
  if (graceMs > 0) {
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await done;
    clearTimeout(timer);
    return;
  }
  child.kill("SIGKILL");
  await done;
}

export interface LoadResult {
  ops: number;
  errors: number;
  seconds: number;
  opsPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  /** The latency distribution for plots (bench/plots.ts): [percentile, ms] at CDF_PERCENTILES. */
  cdfMs: [number, number][];
}

/** Where a latency CDF is sampled: fine steps in the tail, where systems differ. */
export const CDF_PERCENTILES = [
  0, 1, 5, 10, 20, 30, 40, 50, 60, 70, 80, 85, 90, 92.5, 95, 97, 98, 99, 99.5, 99.9, 100,
];

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs `op` from `concurrency` workers until `maxOps` are done or `maxSeconds` pass, whichever first. */
export async function load(
  concurrency: number,
  maxOps: number,
  maxSeconds: number,
  op: (i: number) => Promise<void>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  const started = performance.now();
  const deadline = started + maxSeconds * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < maxOps && performance.now() < deadline) {
        const i = next++;
        const t0 = performance.now();
        try {
          await op(i);
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    ops: latencies.length,
    errors,
    seconds,
    opsPerSecond: latencies.length / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    cdfMs: latencies.length === 0 ? [] : CDF_PERCENTILES.map((p) => [p, percentile(latencies, p)]),
  };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** Pids of the children still running. */
export function livePids(procs: Map<number, ChildProcess>): number[] {
  return [...procs.values()]
    .filter((c) => c.exitCode === null && c.signalCode === null && c.pid !== undefined)
    .map((c) => c.pid!);
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync("getconf", ["CLK_TCK"]).stdout?.toString().trim()) || 100;

/** User and system CPU seconds used so far by one process (Linux /proc; zeros once it vanished). */
export function cpuTimes(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is [0], utime [11], stime [12].
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return {
      user: Number(fields[11]) / CLOCK_TICKS_PER_SECOND,
      system: Number(fields[12]) / CLOCK_TICKS_PER_SECOND,
    };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** User + system CPU seconds used so far by these processes. */
export function cpuSeconds(pids: number[]): number {
  let total = 0;
  for (const pid of pids) {
    const t = cpuTimes(pid);
    total += t.user + t.system;
  }
  return total;
}

/** Bytes these processes have written so far: `wchar` (write calls) and `write_bytes` (to the device). */
export function writtenBytes(pids: number[]): { calls: number; device: number } {
  let calls = 0;
  let device = 0;
  for (const pid of pids) {
    try {
      const io = readFileSync(`/proc/${pid}/io`, "utf8");
      calls += Number(/^wchar: (\d+)/m.exec(io)?.[1] ?? 0);
      device += Number(/^write_bytes: (\d+)/m.exec(io)?.[1] ?? 0);
    } catch {
      // Gone: counts nothing more.
    }
  }
  return { calls, device };
}
