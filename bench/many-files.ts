/**
 * Many small files through the library on 3 replicas (issue 15): each replica's RSS as the namespace
 * grows, the write rate per window (the last window beside the first), a follower's restart until it
 * has caught up, and a wiped follower catching up by snapshot (MB/s of its state folder).
 *
 *   npm run build && npx tsx bench/many-files.ts [--files 1000000] [--size 1024] [--concurrency 64]
 *     [--windows 10] [--max-seconds 5400] [--cache-mib 64] [--big-dir 100000] [--restarts 3]
 *     [--cpu-prof-dir DIR]
 *
 * Files go 1,000 per directory (`/m/d<k>/f<i>`), written with `createParents`; with `--big-dir N` the
 * first N go into one directory `/m/big`, whose first page is then timed through `raftfs ls` (spawn →
 * 1,000 lines, beside `ls` of a 1-entry directory for the CLI's start-up) and the library's `listPage`. RSS is read from
 * /proc/<pid>/status of each replica process at the end of each window, with each replica's CPU and
 * bytes written to the device (/proc/<pid>/io: LevelDB's logs and compactions) per file written in the
 * window. Any write error fails the run (with the first one's message). With `--cpu-prof-dir` every
 * replica is profiled (bench/support/cpu-profile-preload.cjs), the run ends after the windows, and
 * each replica's profile is summarized for the first window and the last.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { readdir, rm, stat } from "node:fs/promises";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { DEFAULT_RAFT_SETTINGS } from "../src/common/raft-settings.js";
import { connect } from "../src/index.js";
import { TestCluster } from "../test/support/cluster-harness.js";
import { formatProfile, profileClockUs, summarizeProfile } from "./support/cpu-profile.js";
import { cpuSeconds, load, median, waitFor, writtenBytes } from "./support/procs.js";
import { RESTART_HEADER, restartRow, timeFollowerRestart } from "./support/restart-split.js";
import { streamBytes } from "./support/state-stream.js";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "1000000" },
    size: { type: "string", default: "1024" },
    concurrency: { type: "string", default: "64" },
    windows: { type: "string", default: "10" },
    "max-seconds": { type: "string", default: "5400" },
    /** The replicas' metaStateCacheBytes, in MiB (default: the config's default). */
    "cache-mib": { type: "string" },
    /** How many of the first files go into the one directory /m/big (0: none). */
    "big-dir": { type: "string", default: "0" },
    /** How many times a follower is restarted (kill -9) and timed until caught up. */
    restarts: { type: "string", default: "3" },
    /** Profiles the replicas; the run then stops after the windows. */
    "cpu-prof-dir": { type: "string" },
  },
});
const FILES = Number(values.files);
const SIZE = Number(values.size);
const CONCURRENCY = Number(values.concurrency);
const WINDOWS = Number(values.windows);
const MAX_SECONDS = Number(values["max-seconds"]);
const BIG_DIR = Number(values["big-dir"]);
const RESTARTS = Number(values.restarts);
const PROF_DIR = values["cpu-prof-dir"] === undefined ? undefined : resolve(values["cpu-prof-dir"]);
const CLI = resolve("dist/src/cli/main.js");
const PAGE_LINES = 1000;

const pathOf = (n: number) => (n < BIG_DIR ? `/m/big/f${n}` : `/m/d${Math.floor(n / 1000)}/f${n}`);

/** Spawns `raftfs ls path`: ms from spawn to its first byte and to its first PAGE_LINES lines. */
function timeLs(configPath: string, path: string): Promise<{ firstByteMs: number; firstPageMs: number }> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, "ls", path], {
      env: { ...process.env, RAFTFS_CONFIG: configPath },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let firstByteMs = Number.NaN;
    let firstPageMs = Number.NaN;
    let lines = 0;
    let err = "";
    child.stdout.on("data", (b: Buffer) => {
      if (Number.isNaN(firstByteMs)) firstByteMs = performance.now() - t0;
      for (const c of b) if (c === 10) lines++;
      if (Number.isNaN(firstPageMs) && lines >= PAGE_LINES) firstPageMs = performance.now() - t0;
    });
    child.stderr.on("data", (b: Buffer) => {
      err = (err + b.toString()).slice(-2000);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      if (code !== 0) return fail(new Error(`raftfs ls ${path} exited ${code}: ${err}`));
      if (Number.isNaN(firstPageMs)) firstPageMs = performance.now() - t0; // under a page
      done({ firstByteMs, firstPageMs });
    });
  });
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** A replica's memory, split: V8's heap (used, and held), memory outside it, and the RSS by kind. */
async function memorySplit(cluster: TestCluster, id: number): Promise<string> {
  const mib = async (name: string) => (await cluster.metric("meta", id, `raftfs_process_${name}`)) / 2 ** 20;
  const status = readFileSync(`/proc/${cluster.pid("meta", id)}/status`, "utf8");
  const kib = (field: string) =>
    Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? Number.NaN) / 1024;
  return (
    `RSS ${kib("VmRSS").toFixed(0)} MiB (anonymous ${kib("RssAnon").toFixed(0)}, files ${kib("RssFile").toFixed(0)}): ` +
    `V8 heap used ${(await mib("nodejs_heap_size_used_bytes")).toFixed(0)} of ${(await mib("nodejs_heap_size_total_bytes")).toFixed(0)} MiB, ` +
    `external ${(await mib("nodejs_external_memory_bytes")).toFixed(0)} MiB`
  );
}

async function folderBytes(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    total += e.isDirectory() ? await folderBytes(p) : (await stat(p)).size;
  }
  return total;
}

async function main(): Promise<void> {
  const cluster = await TestCluster.start({
    metaCount: 3,
    dataCount: 0,
    env: {
      RAFTFS_LOG_LEVEL: process.env.MANY_FILES_LOG_LEVEL ?? "info",
      ...(PROF_DIR === undefined
        ? {}
        : {
            NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${resolve("bench/support/cpu-profile-preload.cjs")}`,
            RAFTFS_CPU_PROF_DIR: PROF_DIR,
          }),
    },
    overrides: {
      inlineThresholdBytes: Math.max(SIZE, 4096),
      ...(values["cache-mib"] ? { metaStateCacheBytes: Number(values["cache-mib"]) * 2 ** 20 } : {}),
      raft: { tickIntervalMs: DEFAULT_RAFT_SETTINGS.tickIntervalMs },
    },
  });
  // A metadata call's budget of 60 s, not the library's 10 s: a 1M run at load 30-40 on the shared 2
  // cores ended at 400k files on 64 failed writes of 100,000, and any failed write fails the bench.
  const client = await connect({ config: cluster.configPath, deadlineMs: 60_000 });
  const body = Buffer.alloc(SIZE, 120);
  const started = performance.now();
  const perWindow = Math.ceil(FILES / WINDOWS);
  let written = 0;
  let firstError = "";
  try {
    console.log(`\n${FILES} files of ${SIZE} B, ${CONCURRENCY} in flight, 3 replicas\n`);
    console.log(`cluster folder ${cluster.dir}\n`);
    console.log(
      "| files | window files/s | RSS MiB replica 1 | 2 | 3 | errors | CPU ms per file: replica 1 | 2 | 3 | device KiB per file: replica 1 | 2 | 3 |",
    );
    console.log("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    const rates: number[] = [];
    /** Each window's span on the profiles' clock (µs). */
    const spans: [number, number][] = [];
    for (let w = 0; w < WINDOWS && written < FILES; w++) {
      const base = written;
      const count = Math.min(perWindow, FILES - base);
      const left = MAX_SECONDS - (performance.now() - started) / 1000;
      if (left <= 0) break;
      const pids = cluster.metaIds.map((id) => cluster.pid("meta", id)!);
      const cpu0 = pids.map((pid) => cpuSeconds([pid]));
      const io0 = pids.map((pid) => writtenBytes([pid]).device);
      const from = profileClockUs();
      const r = await load(CONCURRENCY, count, left, async (i) => {
        const n = base + i;
        try {
          await client.writeFile(pathOf(n), body, { createParents: true });
        } catch (err) {
          firstError ||= String(err);
          throw err;
        }
      });
      written += r.ops;
      rates.push(r.opsPerSecond);
      spans.push([from, profileClockUs()]);
      const rss = cluster.metaIds.map((id) => rssMiB(cluster.pid("meta", id)).toFixed(0));
      const cpu = pids.map((pid, k) => (((cpuSeconds([pid]) - cpu0[k]!) * 1000) / r.ops).toFixed(2));
      const io = pids.map((pid, k) => ((writtenBytes([pid]).device - io0[k]!) / 1024 / r.ops).toFixed(1));
      console.log(
        `| ${written} | ${r.opsPerSecond.toFixed(0)} | ${rss.join(" | ")} | ${r.errors} | ${cpu.join(" | ")} | ${io.join(" | ")} |`,
      );
      if (r.errors > 0) throw new Error(`window ${w}: ${r.errors} write errors, the first: ${firstError}`);
    }
    const first = rates[0] ?? Number.NaN;
    const last = rates.at(-1) ?? Number.NaN;
    console.log(`\nlast window ÷ first window: ${(last / first).toFixed(2)}`);
    for (const id of cluster.metaIds)
      console.log(`replica ${id} after the windows: ${await memorySplit(cluster, id)}`);
    if (PROF_DIR !== undefined) {
      await summarizeReplicaProfiles(cluster, PROF_DIR, [spans[0]!, spans.at(-1)!]);
      return;
    }

    if (BIG_DIR > 0 && written >= BIG_DIR) {
      // The first page of the BIG_DIR-entry directory, 5 runs each, interleaved with `ls` of a
      // one-entry directory (the CLI's own start-up, paired by run).
      await client.writeFile("/m/tiny/only", body, { createParents: true });
      const lib: number[] = [];
      const beyond: number[] = [];
      const page: number[] = [];
      for (let run = 0; run < 5; run++) {
        const tiny = await timeLs(cluster.configPath, "/m/tiny");
        const big = await timeLs(cluster.configPath, "/m/big");
        page.push(big.firstPageMs);
        beyond.push(big.firstPageMs - tiny.firstByteMs);
        const t1 = performance.now();
        const p = await client.listPage("/m/big");
        lib.push(performance.now() - t1);
        if (p.entries.length !== PAGE_LINES) throw new Error(`listPage: ${p.entries.length} entries`);
      }
      console.log(
        `ls /m/big (${BIG_DIR} entries), median of 5: CLI spawn → first page ${median(page).toFixed(0)} ms, ` +
          `beyond start-up ${median(beyond).toFixed(0)} ms, library listPage ${median(lib).toFixed(0)} ms`,
      );
    }

    // Follower restarts: kill -9, 2,000 more writes while it is down, start, time until it applied
    // everything the leader had committed when it came back; split from its log and its /status.
    const leader = await cluster.leaderId();
    const follower = cluster.metaIds.find((id) => id !== leader)!;
    console.log(`\nfollower ${follower} restarted ${RESTARTS} times (kill -9, 2,000 writes while down)\n`);
    console.log(RESTART_HEADER);
    for (let run = 0; run < RESTARTS; run++) {
      const split = await timeFollowerRestart(cluster, {
        follower,
        leader,
        writesWhileDown: 2000,
        write: (i) => client.writeFile(`/m/after${run}/f${i}`, body, { createParents: true }),
        maxSeconds: 600,
      });
      console.log(restartRow(split));
    }

    // A wiped follower: its folder removed, it starts empty and the leader sends a snapshot.
    await cluster.kill("meta", follower);
    const folder = join(cluster.dir, "data", `meta-${follower}`);
    await rm(folder, { recursive: true, force: true });
    const target2 = (await cluster.status()).meta.find((m) => m.id === leader)?.commitIndex ?? 0;
    console.log(`leader ${leader} before the catch-up: ${await memorySplit(cluster, leader)}`);
    const t0 = performance.now();
    const leaderCpu0 = cpuSeconds([cluster.pid("meta", leader)!]);
    await cluster.restart("meta", follower);
    await waitFor(
      "the wiped follower to catch up",
      async () => {
        const row = (await cluster.status()).meta.find((m) => m.id === follower);
        return row?.appliedIndex !== null && (row?.appliedIndex ?? 0) >= target2 ? true : null;
      },
      1_800_000,
    );
    const snapS = (performance.now() - t0) / 1000;
    const leaderCpuS = cpuSeconds([cluster.pid("meta", leader)!]) - leaderCpu0;
    const rss = cluster.metaIds.map((id) => rssMiB(cluster.pid("meta", id)).toFixed(0));
    console.log(`RSS at the end (MiB): ${rss.join(", ")}`);
    console.log(`leader ${leader} after the catch-up: ${await memorySplit(cluster, leader)}`);
    console.log(`wiped follower ${follower} after the catch-up: ${await memorySplit(cluster, follower)}`);
    // The stream's size: the installed store read back as the leader streams it (after the process).
    const folderMiB = (await folderBytes(join(folder, "state"))) / 2 ** 20;
    await cluster.kill("meta", follower);
    const streamMiB = (await streamBytes(join(folder, "state"))) / 2 ** 20;
    console.log(
      `wiped follower → caught up by snapshot: ${snapS.toFixed(2)} s from its start, stream ${streamMiB.toFixed(0)} MiB (state folder ${folderMiB.toFixed(0)} MiB compressed): ${(streamMiB / snapS).toFixed(1)} MiB/s; leader CPU ${((leaderCpuS * 1000) / streamMiB).toFixed(1)} ms per MiB`,
    );
    if (process.env.MANY_FILES_LOGS) {
      for (const id of [follower, leader]) console.error(`--- meta ${id}\n${cluster.logs("meta", id)}`);
    }
  } finally {
    await client.close();
    await cluster.stop();
  }
}

/** Ends the replicas cleanly (a profile is written at exit) and prints each one's windows. */
async function summarizeReplicaProfiles(
  cluster: TestCluster,
  dir: string,
  windows: [number, number][],
): Promise<void> {
  const leader = await cluster.leaderId();
  for (const id of cluster.metaIds) {
    const pid = cluster.pid("meta", id)!;
    await cluster.kill("meta", id, "SIGTERM");
    const path = join(dir, `CPU.${pid}.cpuprofile`);
    for (const [k, [from, to]] of windows.entries()) {
      const role = id === leader ? "leader" : "follower";
      const title = `replica ${id} (${role}), ${k === 0 ? "first" : "last"} window`;
      console.log(`\n${formatProfile(title, summarizeProfile(path, from, to), 20)}`);
    }
  }
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
}
