/**
 * The election timeout's trade: failover time against spurious elections on a starved machine.
 * Per setting of `electionTimeoutTicks`: a 3-replica raftfs cluster (real processes, LevelDB with
 * fsync, pre-vote and check-quorum on as always), loaded through the client library while two
 * CPU-bound processes (`node -e 'for(;;);'`) run beside it; the terms are polled the whole time, so
 * every term change there is spurious (nobody was killed). Then, hogs stopped, kill -9 of the leader
 * → first write acknowledged through the library, `--failovers` times.
 *
 *   npm run build && npx tsx bench/election-timeout.ts [--ticks 10,6,5] [--seconds 30] [--failovers 5]
 *     [--hogs 2] [--in-flight 64]
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { connect } from "../src/index.js";
import { freePort, load, median, start, stop, waitFor } from "./support/procs.js";

const { values } = parseArgs({
  options: {
    ticks: { type: "string", default: "10,6,5" },
    seconds: { type: "string", default: "30" },
    failovers: { type: "string", default: "5" },
    hogs: { type: "string", default: "2" },
    "in-flight": { type: "string", default: "64" },
  },
});
const SECONDS = Number(values.seconds);
const FAILOVERS = Number(values.failovers);
const HOGS = Number(values.hogs);
const IN_FLIGHT = Number(values["in-flight"]);
const probe = new Agent({ connections: 4, connectTimeout: 200, headersTimeout: 250, bodyTimeout: 250 });

interface Cluster {
  urls: Map<number, string>;
  procs: Map<number, ChildProcess>;
  launch(id: number): void;
  dir: string;
}

async function startCluster(ticks: number): Promise<Cluster> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-election-"));
  const ports = [await freePort(), await freePort(), await freePort()];
  const configPath = join(dir, "cluster.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "bench-secret-0123",
      meta: ports.map((port, i) => ({ id: i + 1, host: "127.0.0.1", port })),
      data: [],
      raft: { electionTimeoutTicks: ticks },
    }),
  );
  const main = resolve("dist/src/meta/main.js");
  const procs = new Map<number, ChildProcess>();
  const launch = (id: number) => {
    const code = `process.once("SIGTERM", () => process.exit(0)); import(${JSON.stringify(main)}).then(m => m.runMetaReplica({ configPath: ${JSON.stringify(configPath)}, id: ${id} }))`;
    procs.set(
      id,
      start(process.execPath, ["--input-type=module", "-e", code], { RAFTFS_LOG_LEVEL: "error" }),
    );
  };
  for (let id = 1; id <= 3; id++) launch(id);
  return { urls: new Map(ports.map((p, i) => [i + 1, `http://127.0.0.1:${p}`])), procs, launch, dir };
}

async function statusOf(url: string): Promise<{ role: string; term: number; id: number } | null> {
  try {
    const res = await request(`${url}/status`, { dispatcher: probe });
    return (await res.body.json()) as { role: string; term: number; id: number };
  } catch {
    return null;
  }
}

async function leader(c: Cluster): Promise<number> {
  return waitFor("a leader", async () => {
    for (const url of c.urls.values()) {
      const s = await statusOf(url);
      if (s?.role === "leader") return s.id;
    }
    return null;
  });
}

/** Polls every replica's term until `done`; returns the number of term increases seen (max over replicas). */
async function watchTerms(
  c: Cluster,
  done: () => boolean,
): Promise<{ termChanges: number; leaderChanges: number }> {
  let first = -1;
  let last = -1;
  let leaderId = -1;
  let leaderChanges = 0;
  while (!done()) {
    for (const url of c.urls.values()) {
      const s = await statusOf(url);
      if (!s) continue;
      if (first < 0) first = s.term;
      last = Math.max(last, s.term);
      if (s.role === "leader" && s.id !== leaderId) {
        if (leaderId >= 0) leaderChanges++;
        leaderId = s.id;
      }
    }
    await sleep(50);
  }
  return { termChanges: Math.max(0, last - first), leaderChanges };
}

async function measure(
  ticks: number,
): Promise<{ termChanges: number; leaderChanges: number; ops: number; failovers: number[] }> {
  const c = await startCluster(ticks);
  const client = await connect({ endpoints: [...c.urls.values()] });
  try {
    await leader(c);
    await client.mkdir("/e", { recursive: true });
    // Warm up before the clock starts: the first seconds of a process are JIT and module loading.
    await load(8, 2000, 5, (i) =>
      client.writeFile(`/e/f${i % 1000}`, Buffer.alloc(100, i)).then(() => undefined),
    );
    const hogs = Array.from({ length: HOGS }, () => start(process.execPath, ["-e", "for(;;);"]));
    let finished = false;
    const terms = watchTerms(c, () => finished);
    const r = await load(IN_FLIGHT, 10_000_000, SECONDS, (i) =>
      client.writeFile(`/e/f${i % 1000}`, Buffer.alloc(100, i)).then(() => undefined),
    );
    finished = true;
    const seen = await terms;
    for (const h of hogs) await stop(h);
    const failovers: number[] = [];
    for (let k = 0; k < FAILOVERS; k++) {
      const id = await leader(c);
      await client.writeFile("/e/before", `k${k}`);
      const t0 = performance.now();
      await stop(c.procs.get(id)!);
      await client.writeFile("/e/after", `k${k}`);
      failovers.push(performance.now() - t0);
      c.launch(id);
      // Back in the cluster: the restarted replica follows the leader again.
      await waitFor(`replica ${id} back`, async () =>
        (await statusOf(c.urls.get(id)!))?.role === "follower" ? true : null,
      );
      await sleep(300);
    }
    return { ...seen, ops: r.ops, failovers };
  } finally {
    await client.close();
    for (const p of c.procs.values()) await stop(p);
    rmSync(c.dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows: string[] = [];
  for (const ticks of values.ticks.split(",").map(Number)) {
    const r = await measure(ticks);
    rows.push(
      `| ${ticks} × 50 ms | ${r.termChanges} | ${r.leaderChanges} | ${r.ops} | ${Math.round(median(r.failovers))} | ${r.failovers.map((t) => t.toFixed(0)).join(", ")} |`,
    );
    console.log(rows.at(-1));
  }
  console.log(
    `\n${HOGS} CPU-bound processes beside the cluster for ${SECONDS} s, library writes of 100 B, ${IN_FLIGHT} in flight; then kill -9 of the leader → first acknowledged write through the library (hogs stopped)\n`,
  );
  console.log(
    "| election timeout | term changes under load | leader changes | writes | failover median ms | all ms |",
  );
  console.log("|---|---:|---:|---:|---:|---|");
  for (const r of rows) console.log(r);
  await probe.close();
}

await main();
