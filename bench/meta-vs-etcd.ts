/**
 * Metadata throughput, latency and failover: a 3-replica raftfs cluster (real processes, LevelDB with
 * fsync) beside a 3-member etcd cluster (Debian's etcd-server, when `etcd` is on PATH). Each cluster is
 * driven two ways: raftfs through the client library (`connect()`, what users run) and through raw
 * HTTP (the server's ceiling); etcd through its v3 JSON gateway (undici) and its own gRPC client (npm
 * `etcd3`). The ratios compare the library with etcd's faster client, row by row.
 *
 *   npm run build && npx tsx bench/meta-vs-etcd.ts [--ops 3000] [--seconds 10] [--failovers 5]
 *     [--sweep 1,4,16,64 --only write1,write4,write16,write64] [--json bench/results/NAME.json]
 *     [--baseline DIR]
 *
 * `--sweep` adds 100-byte write rows at those concurrencies (throughput vs concurrency); `--json`
 * also writes the rows with their latency CDFs for `bench/plots.ts`. `--baseline DIR` also runs a
 * second raftfs cluster and library from an earlier build in DIR (e.g. `git archive <commit>` there,
 * `node_modules` linked, `npx tsc -p tsconfig.build.json`), interleaved with this build's rows, so a
 * change is measured as a ratio within one run.
 */
import type { ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { connect, type RaftfsClient } from "../src/index.js";
import { etcdAvailable, etcdGrpc, startEtcd } from "./support/etcd.js";
import {
  cpuSeconds,
  cpuTimes,
  freePort,
  type LoadResult,
  livePids,
  load,
  median,
  start,
  stop,
  waitFor,
} from "./support/procs.js";
import type { System } from "./support/system.js";

const { values } = parseArgs({
  options: {
    ops: { type: "string", default: "3000" },
    seconds: { type: "string", default: "10" },
    failovers: { type: "string", default: "5" },
    /** JSON merged into the raftfs config's `raft` settings, to compare tunings. */
    raft: { type: "string", default: "{}" },
    "no-etcd": { type: "boolean", default: false },
    /** Write a V8 CPU profile of each raftfs replica into this folder (open it in Chrome DevTools). */
    "cpu-prof-dir": { type: "string" },
    /** Comma-separated subset of rows to run (for profiling one): write1,write64,write4k64,mkdir1,mkdir64,stat64. */
    only: { type: "string", default: "write1,write64,write4k64,mkdir1,mkdir64,stat64" },
    /** Each row runs this many times per system, alternating which system goes first. */
    rounds: { type: "string", default: "2" },
    /** Print each run's CPU per operation by member (user/system) and for the load generator. */
    "cpu-detail": { type: "boolean", default: false },
    /** Extra `write<N>` rows (100-byte writes, N in flight): comma-separated concurrencies. */
    sweep: { type: "string", default: "" },
    /** Also write the rows (with latency CDFs) and failovers as JSON here, for bench/plots.ts. */
    json: { type: "string" },
    /** A checkout with an earlier build (its dist/): run its cluster and library beside this build's. */
    baseline: { type: "string" },
    /** Extra library rows: comma-separated batch windows (requests out at once); 0 = batching off. */
    "batch-windows": { type: "string", default: "" },
  },
});
const MAX_OPS = Number(values.ops);
const MAX_SECONDS = Number(values.seconds);
const FAILOVERS = Number(values.failovers);
const ONLY = new Set(values.only.split(","));
const ROUNDS = Number(values.rounds);
const dispatcher = new Agent({
  connections: 128,
  keepAliveTimeout: 30_000,
  headersTimeout: 10_000,
  bodyTimeout: 10_000,
});
/** Failover probes give up fast and retry, so the time measured is the cluster's, not a timeout's. */
const probe = new Agent({ connections: 8, connectTimeout: 200, headersTimeout: 250, bodyTimeout: 250 });
let current = dispatcher;

async function post(url: string, body: unknown): Promise<{ status: number; json: unknown }> {
  const res = await request(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json" },
    dispatcher: current,
  });
  return { status: res.statusCode, json: await res.body.json() };
}

async function postOk(url: string, body: unknown): Promise<unknown> {
  const r = await post(url, body);
  if (r.status !== 200) throw new Error(`HTTP ${r.status}: ${JSON.stringify(r.json)}`);
  return r.json;
}

// ------------------------------------------------------------------ the systems under test

async function startRaftfs(root = "."): Promise<System> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-bench-"));
  const ports = [await freePort(), await freePort(), await freePort()];
  const config = {
    dataDir: join(dir, "data"),
    secret: "bench-secret-0123",
    meta: ports.map((port, i) => ({ id: i + 1, host: "127.0.0.1", port })),
    data: [],
    raft: JSON.parse(values.raft) as Record<string, unknown>,
  };
  const configPath = join(dir, "cluster.json");
  writeFileSync(configPath, JSON.stringify(config));
  const main = resolve(root, "dist/src/meta/main.js");
  const procs = new Map<number, ChildProcess>();
  const launch = (id: number) => {
    const code = `process.once("SIGTERM", () => process.exit(0)); import(${JSON.stringify(main)}).then(m => m.runMetaReplica({ configPath: ${JSON.stringify(configPath)}, id: ${id} }))`;
    const prof = values["cpu-prof-dir"] ? ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof-dir"]}`] : [];
    procs.set(
      id,
      start(process.execPath, [...prof, "--input-type=module", "-e", code], { RAFTFS_LOG_LEVEL: "warn" }),
    );
  };
  for (let id = 1; id <= 3; id++) launch(id);
  const urls = new Map(ports.map((p, i) => [i + 1, `http://127.0.0.1:${p}`]));
  // Like the client library: each mutation takes the next seq and acknowledges every seq below the
  // oldest still in flight, so the replicas keep only the results that may still be asked for again.
  const sessions = new Map<string, { id: number; secret: string; seq: number; inFlight: Set<number> }>();
  const mutation = async (url: string, route: string, body: Record<string, unknown>) => {
    let s = sessions.get(url);
    if (!s) {
      const r = (await postOk(`${url}/v1/sessions`, {})) as { sessionId: number; secret: string };
      s = { id: r.sessionId, secret: r.secret, seq: 0, inFlight: new Set() };
      sessions.set(url, s);
    }
    const seq = ++s.seq;
    let oldest = seq;
    for (const q of s.inFlight) if (q < oldest) oldest = q;
    s.inFlight.add(seq);
    try {
      await postOk(`${url}${route}`, {
        ...body,
        session: { id: s.id, seq, ackedSeq: oldest - 1, secret: s.secret },
      });
    } finally {
      s.inFlight.delete(seq);
    }
  };
  const sys: System = {
    name: "raftfs",
    urls,
    async leader() {
      return waitFor("a raftfs leader", async () => {
        for (const url of urls.values()) {
          const res = await request(`${url}/status`, { dispatcher, headersTimeout: 500 }).catch(() => null);
          if (!res) continue;
          const s = (await res.body.json()) as { role: string; id: number };
          if (s.role === "leader") return s.id;
        }
        return null;
      });
    },
    pids: () => livePids(procs),
    async kill(id) {
      await stop(procs.get(id)!);
      sessions.clear();
    },
    async restart(id) {
      launch(id);
    },
    async write(url, i, bytes = 100) {
      await mutation(url, "/v1/fs/commit", {
        path: `/bench/f${i % 1000}`,
        content: { kind: "inline", dataBase64: Buffer.alloc(bytes, i % 256).toString("base64") },
        createParents: true,
      });
    },
    async mkdir(url, i) {
      await mutation(url, "/v1/fs/mkdir", { path: `/dirs/d${i}`, parents: true });
    },
    async read(url, i) {
      const res = await request(`${url}/v1/fs/stat?path=/bench/f${i % 100}`, { dispatcher });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`stat: HTTP ${res.statusCode}`);
    },
    async close() {
      for (const p of procs.values()) await stop(p, values["cpu-prof-dir"] ? 5000 : 0);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return sys;
}

/**
 * The same raftfs cluster through the client library: the rows users get. It finds and follows the
 * leader itself, so the member URL handed to each operation is ignored.
 */
async function raftfsLibrary(
  raw: System,
  connectTo: typeof connect = connect,
  extra: Partial<Parameters<typeof connect>[0]> = {},
): Promise<System> {
  const client: RaftfsClient = await connectTo({ endpoints: [...raw.urls.values()], ...extra });
  const value = (i: number, bytes: number) => Buffer.alloc(bytes, i % 256);
  await client.mkdir("/lib", { recursive: true }).catch(() => undefined);
  const system: System = {
    ...raw,
    name: "raftfs library",
    async write(_url, i, bytes = 100) {
      await client.writeFile(`/lib/f${i % 1000}`, value(i, bytes));
    },
    async mkdir(_url, i) {
      await client.mkdir(`/libdirs/d${i}`, { recursive: true });
    },
    async read(_url, i) {
      await client.stat(`/lib/f${i % 100}`);
    },
    async close() {
      // Calls per batch request: how much the coalescing saved (a baseline build has no counter).
      const b = (client as { batchStats?: { batches: number; batchedCalls: number } }).batchStats;
      if (b) console.log(`${system.name}: ${b.batchedCalls} calls in ${b.batches} batch requests`);
      await client.close();
    },
  };
  return system;
}

// ------------------------------------------------------------------ measurements

/** One line per run: each member's user/system CPU ms per op (leader marked by its share), the load generator's. */
function printCpuDetail(
  label: string,
  pids: number[],
  before: { members: { user: number; system: number }[]; loadGenerator: NodeJS.CpuUsage },
  ops: number,
): void {
  const perOp = (seconds: number) => ((seconds * 1000) / Math.max(1, ops)).toFixed(3);
  const members = pids.map((pid, k) => {
    const now = cpuTimes(pid);
    const was = before.members[k]!;
    return `${perOp(now.user - was.user)}u+${perOp(now.system - was.system)}s`;
  });
  const lg = process.cpuUsage(before.loadGenerator);
  console.log(
    `cpu ms/op ${label}: members ${members.join(" ")}; load generator ${perOp(lg.user / 1e6)}u+${perOp(lg.system / 1e6)}s`,
  );
}

interface Row {
  system: string;
  workload: string;
  concurrency: number;
  r: LoadResult;
  cpuMsPerOp: number;
}

interface Workload {
  key: string;
  name: string;
  concurrency: number;
  op: (sys: System, url: string, i: number) => Promise<void>;
}

const WORKLOADS: Workload[] = [
  { key: "write1", name: "write 100 B", concurrency: 1, op: (s, u, i) => s.write(u, i) },
  { key: "write64", name: "write 100 B", concurrency: 64, op: (s, u, i) => s.write(u, i) },
  // Inline content's cost per byte: every byte crosses the Raft log on each replica.
  { key: "write4k64", name: "write 4 KiB", concurrency: 64, op: (s, u, i) => s.write(u, i, 4096) },
  { key: "mkdir1", name: "mkdir / put", concurrency: 1, op: (s, u, i) => s.mkdir(u, i + 1_000_000) },
  { key: "mkdir64", name: "mkdir / put", concurrency: 64, op: (s, u, i) => s.mkdir(u, i + 64_000_000) },
  { key: "stat64", name: "linearizable stat / range", concurrency: 64, op: (s, u, i) => s.read(u, i) },
];
for (const c of values.sweep
  .split(",")
  .filter((x) => x.length > 0)
  .map(Number)) {
  if (!WORKLOADS.some((w) => w.key === `write${c}`)) {
    WORKLOADS.push({ key: `write${c}`, name: "write 100 B", concurrency: c, op: (s, u, i) => s.write(u, i) });
  }
}

/**
 * Each workload runs on every system back to back, in alternating order over the rounds, so that both
 * see the same neighbours' load; a system's row is its best round (noise on a shared machine only ever
 * slows a run down). The CPU column is what the cluster's processes used per operation, from /proc.
 */
async function throughput(systems: System[]): Promise<Row[]> {
  const leaders = new Map<System, string>();
  for (const sys of systems) {
    const url = sys.urls.get(await sys.leader())!;
    leaders.set(sys, url);
    // Warm up connections, the namespace and (for raftfs) the JIT: steady state is what is measured.
    await load(8, 3000, 10, (i) => sys.write(url, i));
  }
  const rows: Row[] = [];
  for (const w of WORKLOADS.filter((x) => ONLY.has(x.key))) {
    const best = new Map<System, Row>();
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? systems : [...systems].reverse();
      for (const sys of order) {
        // Asked again per run: under load a leader may change between rows, and the raw-HTTP client
        // does not follow it (a baseline cluster's raw row once failed all 3,000 writes that way).
        const url = sys.urls.get(await sys.leader()) ?? leaders.get(sys)!;
        const pids = sys.pids();
        const cpu0 = cpuSeconds(pids);
        const detail0 = { members: pids.map(cpuTimes), loadGenerator: process.cpuUsage() };
        const r = await load(w.concurrency, MAX_OPS, MAX_SECONDS, (i) => w.op(sys, url, i + round * MAX_OPS));
        const cpuMsPerOp = ((cpuSeconds(pids) - cpu0) * 1000) / Math.max(1, r.ops);
        if (values["cpu-detail"])
          printCpuDetail(`${sys.name} ${w.key} round ${round + 1}`, pids, detail0, r.ops);
        const prev = best.get(sys);
        if (!prev || r.opsPerSecond > prev.r.opsPerSecond) {
          best.set(sys, { system: sys.name, workload: w.name, concurrency: w.concurrency, r, cpuMsPerOp });
        }
      }
    }
    rows.push(...systems.map((sys) => best.get(sys)!));
  }
  return rows;
}

/** kill -9 the leader, then time until a write is acknowledged by any member (median of N). */
async function failover(sys: System): Promise<number[]> {
  const times: number[] = [];
  for (let k = 0; k < FAILOVERS; k++) {
    const leader = await sys.leader();
    await sys.write(sys.urls.get(leader)!, k);
    const t0 = performance.now();
    await sys.kill(leader);
    current = probe;
    const others = [...sys.urls.entries()].filter(([id]) => id !== leader);
    let done = false;
    while (!done && performance.now() - t0 < 30_000) {
      for (const [, url] of others) {
        try {
          await sys.write(url, k);
          done = true;
          break;
        } catch {
          // not the leader yet, or no leader
        }
      }
      if (!done) await sleep(10);
    }
    times.push(performance.now() - t0);
    current = dispatcher;
    await sys.restart(leader);
    await sleep(1500); // let it rejoin before the next round
  }
  return times;
}

function fmt(n: number, digits = 0): string {
  return Number.isFinite(n) ? n.toFixed(digits) : "–";
}

async function main(): Promise<void> {
  const raw = await startRaftfs();
  raw.name = "raftfs raw HTTP (server ceiling)";
  // Clusters first, views after: closing in reverse order closes the clients before their clusters.
  const clusters: System[] = [raw];
  const systems: System[] = [raw];
  if (values["no-etcd"]) console.log("(etcd skipped)");
  else if (etcdAvailable()) clusters.push(await startEtcd({ post, postOk }));
  else console.log("(etcd not on PATH: raftfs only; `apt-get install etcd-server` for the comparison)");
  const etcd = clusters[1];
  if (etcd) etcd.name = "etcd JSON gateway";
  const rows: Row[] = [];
  const failovers = new Map<string, number[]>();
  // The baseline's library and raw HTTP fail over too: its defaults and client against this build's.
  const failingOver: System[] = [];
  try {
    await raw.leader();
    const library = await raftfsLibrary(raw);
    systems.unshift(library);
    // Extra library rows on the same cluster: coalescing off, or other batch windows.
    for (const w of values["batch-windows"].split(",").filter((x) => x !== "")) {
      const n = Number(w);
      const lib = await raftfsLibrary(
        raw,
        connect,
        n === 0 ? { batchMetaCalls: false } : { metaBatchRequestsInFlight: n },
      );
      lib.name = n === 0 ? "raftfs library, batching off" : `raftfs library, ${n} batch requests out`;
      systems.push(lib);
    }
    if (etcd) {
      await etcd.leader();
      systems.push(etcd, etcdGrpc(etcd));
    }
    if (values.baseline) {
      const root = resolve(values.baseline);
      const before = await startRaftfs(root);
      before.name = "baseline raw HTTP";
      clusters.push(before);
      systems.push(before);
      await before.leader();
      const lib = (await import(resolve(root, "dist/src/index.js"))) as { connect: typeof connect };
      const beforeLib = await raftfsLibrary(before, lib.connect);
      beforeLib.name = "baseline library";
      systems.push(beforeLib);
      failingOver.push(beforeLib, before);
    }
    rows.push(...(await throughput(systems)));
    for (const sys of [library, raw, ...(etcd ? [etcd] : []), ...failingOver])
      failovers.set(sys.name, await failover(sys));
  } finally {
    for (const sys of systems.filter((x) => !clusters.includes(x))) await sys.close();
    for (const sys of clusters) await sys.close();
    await dispatcher.close();
    await probe.close();
  }
  console.log(
    `\nload: at most ${MAX_OPS} ops or ${MAX_SECONDS} s per row, best of ${ROUNDS} alternating rounds; 100-byte values; fsync on\n`,
  );
  console.log(
    "| system | workload | in flight | ops | ops/s | p50 ms | p99 ms | errors | cluster CPU ms/op |",
  );
  console.log("|---|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const { system, workload, concurrency, r, cpuMsPerOp } of rows) {
    console.log(
      `| ${system} | ${workload} | ${concurrency} | ${r.ops} | ${fmt(r.opsPerSecond)} | ${fmt(r.p50Ms, 1)} | ${fmt(r.p99Ms, 1)} | ${r.errors} | ${fmt(cpuMsPerOp, 3)} |`,
    );
  }
  console.log(
    "\n| system | failover: kill -9 leader → first acknowledged write (ms), median of " +
      FAILOVERS +
      " | all |",
  );
  console.log("|---|---:|---|");
  for (const [name, ts] of failovers)
    console.log(`| ${name} | ${fmt(median(ts))} | ${ts.map((t) => fmt(t)).join(", ")} |`);
  const rate = (system: string, w: string, c: number) =>
    rows.find((x) => x.system === system && x.workload === w && x.concurrency === c)?.r;
  const lib = (w: string, c: number) => rate("raftfs library", w, c);
  /** etcd's faster client in this row (by throughput). */
  const etcdBest = (w: string, c: number) => {
    const both = [rate("etcd JSON gateway", w, c), rate("etcd gRPC (etcd3)", w, c)].filter(
      (x) => x !== undefined,
    );
    return both.sort((a, b) => b.opsPerSecond - a.opsPerSecond)[0];
  };
  console.log("\n| ratio (same run) | value | target |");
  console.log("|---|---:|---|");
  const ratio = (label: string, a: LoadResult | undefined, b: LoadResult | undefined, target: string) => {
    if (a && b) console.log(`| ${label} | ${fmt(a.opsPerSecond / b.opsPerSecond, 2)} | ${target} |`);
  };
  ratio(
    "library ÷ server ceiling, writes 64 in flight",
    lib("write 100 B", 64),
    rate(raw.name, "write 100 B", 64),
    "",
  );
  ratio(
    "library ÷ server ceiling, writes 1 in flight",
    lib("write 100 B", 1),
    rate(raw.name, "write 100 B", 1),
    "",
  );
  ratio(
    "library ÷ server ceiling, stat 64",
    lib("linearizable stat / range", 64),
    rate(raw.name, "linearizable stat / range", 64),
    "",
  );
  ratio(
    "library ÷ etcd best, writes/s 64 in flight",
    lib("write 100 B", 64),
    etcdBest("write 100 B", 64),
    "≥ 2",
  );
  ratio("library ÷ etcd best, writes/s 1 in flight", lib("write 100 B", 1), etcdBest("write 100 B", 1), "");
  const p1 = lib("write 100 B", 1);
  const e1 = [rate("etcd JSON gateway", "write 100 B", 1), rate("etcd gRPC (etcd3)", "write 100 B", 1)]
    .filter((x) => x !== undefined)
    .sort((a, b) => a.p50Ms - b.p50Ms)[0];
  if (p1 && e1)
    console.log(`| library p50 ÷ etcd best p50, 1 in flight | ${fmt(p1.p50Ms / e1.p50Ms, 2)} | ≤ 1 |`);
  ratio("library ÷ etcd best, mkdir/put 64", lib("mkdir / put", 64), etcdBest("mkdir / put", 64), "");
  ratio(
    "library ÷ etcd best, linearizable stat ÷ get, 64",
    lib("linearizable stat / range", 64),
    etcdBest("linearizable stat / range", 64),
    "≥ 2",
  );
  for (const r of rows.filter((x) => x.system === "raftfs library")) {
    const b = rows.find(
      (x) => x.system === "baseline library" && x.workload === r.workload && x.concurrency === r.concurrency,
    );
    if (!b) continue;
    const label = `${r.workload}, ${r.concurrency} in flight`;
    console.log(
      `| library ÷ baseline library, ops/s, ${label} | ${fmt(r.r.opsPerSecond / b.r.opsPerSecond, 2)} | |`,
    );
    console.log(
      `| library ÷ baseline library, cluster CPU/op, ${label} | ${fmt(r.cpuMsPerOp / b.cpuMsPerOp, 2)} | < 1 |`,
    );
    console.log(`| library ÷ baseline library, p50, ${label} | ${fmt(r.r.p50Ms / b.r.p50Ms, 2)} | < 1 |`);
  }
  const fl = failovers.get("raftfs library");
  const fe = failovers.get("etcd JSON gateway");
  const fb = failovers.get("baseline library");
  if (fl && fe)
    console.log(`| failover, library ÷ etcd (lower is better) | ${fmt(median(fl) / median(fe), 2)} | |`);
  if (fl && fb)
    console.log(`| failover, library ÷ baseline library | ${fmt(median(fl) / median(fb), 2)} | < 1 |`);
  if (fl) console.log(`| failover, library median (ms) | ${fmt(median(fl))} | ≤ 500 |`);
  if (values.json) {
    mkdirSync(dirname(values.json), { recursive: true });
    const json = {
      command: `npx tsx bench/meta-vs-etcd.ts ${process.argv.slice(2).join(" ")}`,
      date: new Date().toISOString(),
      rows: rows.map(({ system, workload, concurrency, r, cpuMsPerOp }) => ({
        system,
        workload,
        concurrency,
        ...r,
        cpuMsPerOp,
      })),
      failovers: Object.fromEntries(failovers),
    };
    writeFileSync(values.json, `${JSON.stringify(json, null, 1)}\n`);
  }
  const errors = rows.reduce((n, x) => n + x.r.errors, 0);
  if (errors > 0) {
    console.error(`${errors} operations failed`);
    process.exitCode = 1;
  }
}

await main();
