/**
 * The client as a user meets it: time from `raftfs cluster up` (what `npm start` runs after building)
 * to the first acknowledged write, a 1 MiB file read with the chunk cache cold versus warm (and warm in
 * watch mode, where the metadata comes from the cache too), and small
 * files written through the library at 64 in flight (files/s by size; any error fails the run).
 *
 *   npm run build && npx tsx bench/client.ts [--reads 50] [--files 3000] [--seconds 20] \
 *     [--sizes 4096,16384,65536,1048576] [--inline 65536] [--small-only] [--rounds 1] \
 *     [--baseline DIR] [--cpu-prof-dir DIR] [--seed 1]
 *
 * `--inline` sets the cluster's inlineThresholdBytes (files up to it are committed inside their Raft
 * entry; larger ones go to the data nodes as chunks), to compare thresholds in the same harness.
 * `--small-only` skips the start-up and read rows. `--baseline DIR` (an older build's root: its
 * `dist/` built, `node_modules` beside it) runs the small-file rows again on a cluster of that build
 * through that build's library, alternating with this one for `--rounds`, so an A/B shares the
 * machine's minutes. `--cpu-prof-dir` writes a V8 CPU profile of every server process of this
 * build's first round (bench/support/cpu-profile-preload.cjs).
 * Each phase also prints on stderr each replica's CPU per file (busiest first: the leader) and the
 * library's metadata batches, so a gap between sizes can be placed on the leader or on every replica.
 *
 * Each small file's content is its own pseudo-random bytes (AES-CTR keyed by `--seed`, the size and the
 * file's number), the same in every run and build: constant-filled files let LevelDB's snappy (the
 * replicas' Raft log and state store) compress 64 KiB to almost nothing, which real data does not.
 */
import { spawn } from "node:child_process";
import { createCipheriv, createHash } from "node:crypto";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import type { connect as Connect, RaftfsClient } from "../src/index.js";
import { profileClockUs } from "./support/cpu-profile.js";
import { cpuSeconds, freePort, load, median, writtenBytes } from "./support/procs.js";

const { values } = parseArgs({
  options: {
    reads: { type: "string", default: "50" },
    files: { type: "string", default: "3000" },
    seconds: { type: "string", default: "20" },
    sizes: { type: "string", default: "4096,16384,65536,1048576" },
    inline: { type: "string" },
    concurrency: { type: "string", default: "64" },
    "small-only": { type: "boolean", default: false },
    baseline: { type: "string" },
    rounds: { type: "string", default: "1" },
    "cpu-prof-dir": { type: "string" },
    seed: { type: "string", default: "1" },
  },
});
const READS = Number(values.reads);
const FILES = Number(values.files);
const SECONDS = Number(values.seconds);
const SIZES = values.sizes.split(",").map(Number);
const CONCURRENCY = Number(values.concurrency);

/**
 * File `index`'s content at `size` bytes: incompressible and distinct per file (no two files share a
 * chunk), seeded so every run and build writes the same bytes. AES-CTR is native and far faster than
 * the write it feeds (a few µs per 64 KiB), so it costs the client column next to nothing.
 */
function fileContent(size: number, index: number): Buffer {
  const key = createHash("sha256").update(`raftfs bench ${values.seed}`).digest().subarray(0, 16);
  const iv = Buffer.alloc(16);
  iv.writeUInt32BE(size, 0);
  iv.writeUInt32BE(index, 4);
  return createCipheriv("aes-128-ctr", key, iv).update(Buffer.alloc(size));
}

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/** The server processes `raftfs cluster up` (pid `upPid`) started, by kind (Linux /proc). */
function serverPids(upPid: number): { meta: number[]; data: number[] } {
  const out = { meta: [] as number[], data: [] as number[] };
  const children = readFileSync(`/proc/${upPid}/task/${upPid}/children`, "utf8").trim().split(/\s+/);
  for (const c of children.filter((x) => x !== "").map(Number)) {
    const args = readFileSync(`/proc/${c}/cmdline`, "utf8").split("\0");
    if (args.includes("meta")) out.meta.push(c);
    else if (args.includes("data")) out.data.push(c);
  }
  return out;
}

/**
 * Files of each size written at CONCURRENCY in flight, each to a new path; errors are counted by
 * message. Beside the rate, the CPU (user + system, all threads) each file cost the three replicas,
 * the three data nodes and this process: on a shared machine the rate follows the load, the CPU per
 * file much less.
 */
async function smallFiles(
  client: RaftfsClient,
  label: string,
  pids: { meta: number[]; data: number[] },
): Promise<{ rows: string[]; errors: number }> {
  const rows: string[] = [];
  let errors = 0;
  for (const size of SIZES) {
    // The big files are bounded by bytes too: 1 MiB × FILES could be gigabytes.
    const count = Math.min(FILES, Math.max(64, Math.floor((512 * 1024 * 1024) / size)));
    const messages = new Map<string, number>();
    const fromUs = profileClockUs();
    const cpu0 = { meta: cpuSeconds(pids.meta), data: cpuSeconds(pids.data), self: process.cpuUsage() };
    const io0 = writtenBytes(pids.meta);
    const perReplica0 = pids.meta.map((pid) => cpuSeconds([pid]));
    const batches0 = batchStatsOf(client);
    const r = await load(CONCURRENCY, count, SECONDS, async (i) => {
      try {
        await client.writeFile(`/small/${size}/f${i}`, fileContent(size, i), { createParents: true });
      } catch (err) {
        const m = String((err as Error).message).slice(0, 160);
        messages.set(m, (messages.get(m) ?? 0) + 1);
        throw err;
      }
    });
    const self = process.cpuUsage(cpu0.self);
    const perFile = (seconds: number) => ((seconds * 1000) / Math.max(1, r.ops)).toFixed(2);
    const cpu = [
      perFile(cpuSeconds(pids.meta) - cpu0.meta),
      perFile(cpuSeconds(pids.data) - cpu0.data),
      perFile((self.user + self.system) / 1e6),
    ].join(" | ");
    // What the replicas wrote per file (their Raft logs and state stores, compactions included).
    const io1 = writtenBytes(pids.meta);
    const kib = (bytes: number) => (bytes / 1024 / Math.max(1, r.ops)).toFixed(0);
    const io = `${kib(io1.calls - io0.calls)} | ${kib(io1.device - io0.device)}`;
    // The phase's window on the profiles' clock (summarizeProfile's fromUs/toUs).
    console.error(`${label} ${sizeLabel(size)}: profile window ${fromUs}..${profileClockUs()} µs`);
    for (const [m, n] of messages) console.error(`${sizeLabel(size)}: ${n} × ${m}`);
    // Each replica apart, busiest first (the leader, unless it changed): the per-file gap between sizes
    // is in the leader's requests and Raft sends, or in what every replica applies.
    const perReplica = pids.meta
      .map((pid, k) => ({ pid, ms: perFile(cpuSeconds([pid]) - perReplica0[k]!) }))
      .sort((a, b) => Number(b.ms) - Number(a.ms));
    const batches1 = batchStatsOf(client);
    console.error(
      `${label} ${sizeLabel(size)}: CPU ms/file per replica ${perReplica.map((p) => `${p.ms} (pid ${p.pid})`).join(", ")}; ` +
        `metadata batches ${batches1.batches - batches0.batches} carrying ${batches1.batchedCalls - batches0.batchedCalls} calls`,
    );
    errors += r.errors;
    rows.push(
      `| ${label} | ${sizeLabel(size)} | ${CONCURRENCY} | ${r.ops} | ${r.opsPerSecond.toFixed(0)} | ${((r.opsPerSecond * size) / 1e6).toFixed(1)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.errors} | ${cpu} | ${io} |`,
    );
  }
  return { rows, errors };
}

/** The library's batch counters (an older build's client may lack them: zeros). */
function batchStatsOf(client: RaftfsClient): { batches: number; batchedCalls: number } {
  return (
    (client as { batchStats?: { batches: number; batchedCalls: number } }).batchStats ?? {
      batches: 0,
      batchedCalls: 0,
    }
  );
}

/** A build: where its CLI is, and its library's `connect`. */
interface Build {
  label: string;
  cli: string;
  connect: typeof Connect;
}

async function buildAt(label: string, root: string): Promise<Build> {
  const lib = (await import(pathToFileURL(join(root, "dist/src/index.js")).href)) as {
    connect: typeof Connect;
  };
  return { label, cli: join(root, "dist/src/cli/main.js"), connect: lib.connect };
}

/** A `raftfs cluster up` of `build` (3 replicas, 3 data nodes) in a temp folder, and a client of it. */
/**
 * `startOnce`, again (up to 3 times) when `raftfs cluster up` gives up first: on a machine at load 30+
 * its 30 s wait for a leader passes before the niced replicas have elected one.
 */
async function startCluster(build: Build, profDir: string | undefined) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(build, profDir);
    } catch (err) {
      if (attempt >= 3 || !String(err).includes("cluster up exited")) throw err;
      console.error(`${build.label}: ${String(err)}; starting another cluster (attempt ${attempt + 1})`);
    }
  }
}

async function startOnce(build: Build, profDir: string | undefined) {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-client-bench-"));
  const meta = [];
  const data = [];
  for (let id = 1; id <= 3; id++) meta.push({ id, host: "127.0.0.1", port: await freePort() });
  for (let id = 1; id <= 3; id++)
    data.push({ id, host: "127.0.0.1", port: await freePort(), zone: `z${id}` });
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "bench-secret-0123",
      meta,
      data,
      ...(values.inline !== undefined ? { inlineThresholdBytes: Number(values.inline) } : {}),
    }),
  );
  const t0 = performance.now();
  const env =
    profDir === undefined
      ? process.env
      : {
          ...process.env,
          NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${resolve("bench/support/cpu-profile-preload.cjs")}`,
          RAFTFS_CPU_PROF_DIR: profDir,
        };
  // The servers' output, kept after a run with errors (a crash under load is worth reading).
  const logPath = `${dir}.log`;
  const log = openSync(logPath, "w");
  const up = spawn(process.execPath, [build.cli, "cluster", "up", "--config", configPath], {
    stdio: ["ignore", log, log],
    env,
  });
  closeSync(log);
  console.error(`${build.label}: servers write to ${logPath}`);
  const client = await build.connect({ config: configPath });
  const stop = async (keepLog = false) => {
    await client.close();
    up.kill("SIGTERM");
    if (up.exitCode === null && up.signalCode === null) await new Promise((r) => up.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
    if (!keepLog) rmSync(logPath, { force: true });
  };
  let firstWriteMs = Number.NaN;
  for (;;) {
    try {
      await client.writeFile("/first", "hello");
      firstWriteMs = performance.now() - t0;
      break;
    } catch {
      if (up.exitCode !== null || up.signalCode !== null) {
        await stop(true);
        throw new Error(`cluster up exited before the first write (servers' output: ${logPath})`);
      }
      // Seven processes starting on a loaded machine may take a while; never leave them behind.
      if (performance.now() - t0 > 180_000) {
        await stop(true);
        throw new Error(`no write within 180 s (servers' output: ${logPath})`);
      }
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return { configPath, client, firstWriteMs, stop, pids: serverPids(up.pid!) };
}

/** Start-up and 1 MiB reads, cold, warm and watch-cached (this build only). */
async function startAndReads(build: Build): Promise<void> {
  const c = await startCluster(build, undefined);
  const { client, configPath, firstWriteMs } = c;
  try {
    const mib = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < mib.length; i += 4) mib.writeUInt32LE((i * 2654435761) >>> 0, i);
    // Above the inline threshold: a chunked file, whose chunk the cache can keep.
    await client.writeFile("/mib", Buffer.concat([mib, Buffer.alloc(1)]));
    // Watch mode: metadata from the cache the change feed keeps provably fresh, chunks from the chunk
    // cache — a re-read with no round trip at all while the feed's proof is young.
    const watcher = await build.connect({ config: configPath, metadataCache: "watch" });
    const watchStart = performance.now();
    while (watcher.cacheStats().metaHits === 0) {
      if (performance.now() - watchStart > 30_000) throw new Error("the watch cache never served");
      await watcher.readFile("/mib");
    }
    const cold: number[] = [];
    const warm: number[] = [];
    const cached: number[] = [];
    for (let i = 0; i < READS; i++) {
      const fresh = await build.connect({ config: configPath, cacheBytes: 0 });
      let t = performance.now();
      await fresh.readFile("/mib");
      cold.push(performance.now() - t);
      await fresh.close();
      t = performance.now();
      await client.readFile("/mib");
      warm.push(performance.now() - t);
      t = performance.now();
      await watcher.readFile("/mib");
      cached.push(performance.now() - t);
    }
    const stats = watcher.cacheStats();
    await watcher.close();
    console.log("| measurement | value |");
    console.log("|---|---:|");
    console.log(
      `| \`raftfs cluster up\` → first acknowledged write | ${(firstWriteMs / 1000).toFixed(2)} s |`,
    );
    console.log(`| read 1 MiB, chunk cache cold (median of ${READS}) | ${median(cold).toFixed(1)} ms |`);
    console.log(`| read 1 MiB, chunk cache warm (median of ${READS}) | ${median(warm).toFixed(1)} ms |`);
    console.log(`| cold ÷ warm | ${(median(cold) / median(warm)).toFixed(1)} |`);
    console.log(
      `| read 1 MiB, watch mode, metadata and chunk cached (median of ${READS}; ${stats.metaHits} metadata hits, ${stats.metaMisses} misses) | ${median(cached).toFixed(2)} ms |`,
    );
    console.log(`| cold ÷ watch-mode cached | ${(median(cold) / median(cached)).toFixed(1)} |`);
  } finally {
    await c.stop();
  }
}

async function main(): Promise<void> {
  const builds = [await buildAt("this build", resolve("."))];
  if (values.baseline !== undefined) builds.push(await buildAt("baseline", resolve(values.baseline)));
  if (!values["small-only"]) await startAndReads(builds[0]!);
  const profDir = values["cpu-prof-dir"];
  const rows: string[] = [];
  let errors = 0;
  for (let round = 1; round <= Number(values.rounds); round++) {
    for (const build of builds) {
      const prof = round === 1 && build === builds[0] ? profDir : undefined;
      const c = await startCluster(build, prof);
      let failed = true;
      try {
        const small = await smallFiles(c.client, `${build.label}, round ${round}`, c.pids);
        rows.push(...small.rows);
        errors += small.errors;
        failed = small.errors > 0;
      } finally {
        await c.stop(failed);
      }
    }
  }
  console.log(
    `\nsmall files through the library, each to a new path (inline threshold ${values.inline ?? "default"})\n`,
  );
  console.log(
    "| build | size | in flight | files | files/s | MB/s | p50 ms | p99 ms | errors | CPU ms/file: replicas | data nodes | client | replicas wrote KiB/file: write calls | device |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const row of rows) console.log(row);
  if (errors > 0) {
    console.error(`${errors} writes failed`);
    process.exitCode = 1;
  }
}

await main();
