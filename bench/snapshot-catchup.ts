/**
 * A wiped follower catching up by snapshot (issue 15), small enough to run beside other work: 3
 * replicas on loopback, `--files` inline files of `--size` bytes written through the library, the
 * leader compacting every `--snapshot-every` entries; then `--runs` times: a follower killed, its
 * folder removed, restarted, timed until it applied the leader's commit index (from spawn, and from
 * its first /status answer). The stream's size is the installed store read back as a leader sends it.
 *
 *   npm run build && npx tsx bench/snapshot-catchup.ts [--files 3000] [--size 16384] [--runs 2]
 *     [--snapshot-every 1000] [--keep-entries 1000] [--max-seconds 240] [--cpu-prof-dir DIR]
 *     (CATCHUP_LOG_LEVEL=info: the replicas' snapshot log lines are printed after each run)
 *
 * `--keep-entries` is the leader's `snapshotKeepEntries`: with writes coalesced into few log entries,
 * the default 1,000 may keep the whole log, and the wiped follower then catches up from the log, not
 * by a snapshot; each run says which it was (the follower's "raft snapshot installed" line).
 *
 * With `--restarts N` (before the wiped runs), N times: a follower killed (kill -9, its folder kept),
 * `--writes-while-down` files written meanwhile, restarted, timed until it applied the leader's commit
 * index; the time is split from the follower's own log and its /status (support/restart-split.ts).
 *
 * With `--cpu-prof-dir`, every replica is profiled (support/cpu-profile-preload.cjs) and each run's
 * catch-up (spawn → caught up) is cut out of the leader's and the follower's profiles, summed by function.
 */
import { readFileSync } from "node:fs";
import { readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { connect } from "../src/index.js";
import { TestCluster } from "../test/support/cluster-harness.js";
import { formatProfile, profileClockUs, summarizeProfile } from "./support/cpu-profile.js";
import { load, waitFor } from "./support/procs.js";
import { RESTART_HEADER, restartRow, timeFollowerRestart } from "./support/restart-split.js";
import { streamBytes } from "./support/state-stream.js";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "3000" },
    size: { type: "string", default: "16384" },
    runs: { type: "string", default: "2" },
    "snapshot-every": { type: "string", default: "1000" },
    "keep-entries": { type: "string", default: "1000" },
    "max-seconds": { type: "string", default: "240" },
    "cpu-prof-dir": { type: "string" },
    restarts: { type: "string", default: "0" },
    "writes-while-down": { type: "string", default: "2000" },
  },
});
const PROF_DIR = values["cpu-prof-dir"];
const FILES = Number(values.files);
const SIZE = Number(values.size);
const RESTARTS = Number(values.restarts);

const cluster = await TestCluster.start({
  metaCount: 3,
  dataCount: 0,
  env: {
    // The restart split is read from the replicas' info lines.
    RAFTFS_LOG_LEVEL: process.env.CATCHUP_LOG_LEVEL ?? "info",
    ...(PROF_DIR
      ? {
          NODE_OPTIONS: `--require ${fileURLToPath(new URL("./support/cpu-profile-preload.cjs", import.meta.url))}`,
          RAFTFS_CPU_PROF_DIR: PROF_DIR,
        }
      : {}),
  },
  overrides: {
    inlineThresholdBytes: Math.max(SIZE, 4096),
    raft: {
      snapshotEveryEntries: Number(values["snapshot-every"]),
      snapshotKeepEntries: Number(values["keep-entries"]),
    },
  },
});
// A metadata call's budget of 60 s, not the library's 10 s: at load 30-40 on the shared 2 cores, 64
// writes in flight met the 10 s deadline now and then, and any failed write fails the bench.
const client = await connect({ config: cluster.configPath, deadlineMs: 60_000 });

/** CPU time (user + system) a process has used so far, in ms (/proc/<pid>/stat, in clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** What the two ends logged about snapshot streams since `sinceMs` (CATCHUP_LOG_LEVEL=info), ms from then. */
function printSnapshotLines(leader: number, follower: number, sinceMs: number): void {
  for (const [who, id] of [
    ["leader", leader],
    ["follower", follower],
  ] as const) {
    const lines = cluster
      .logs("meta", id)
      .split("\n")
      .filter((l) => /snapshot/.test(l))
      .map((l) => {
        const m = /"time":(\d+)/.exec(l);
        return m && Number(m[1]) >= sinceMs ? `+${Number(m[1]) - sinceMs} ms ${l.slice(0, 300)}` : null;
      })
      .filter((l) => l !== null);
    console.error(`--- ${who} (meta ${id}), snapshot lines:\n${lines.slice(-40).join("\n")}`);
  }
}
/** Waits (at most --max-seconds) until `follower` has applied `target`. */
async function caughtUp(who: string, follower: number, target: number): Promise<void> {
  await waitFor(
    `${who} to catch up`,
    async () => {
      const row = (await cluster.status()).meta.find((m) => m.id === follower);
      return row?.appliedIndex !== null && (row?.appliedIndex ?? 0) >= target ? true : null;
    },
    Number(values["max-seconds"]) * 1000,
  );
}

/** The follower's JSON log lines since `sinceMs`. */
function logLinesSince(id: number, sinceMs: number): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const l of cluster.logs("meta", id).split("\n")) {
    if (!l.startsWith("{")) continue;
    const rec = JSON.parse(l) as Record<string, unknown>;
    if (typeof rec.time === "number" && rec.time >= sinceMs) out.push(rec);
  }
  return out;
}

try {
  const body = Buffer.alloc(SIZE, 120);
  let firstError = "";
  const r = await load(64, FILES, 600, async (i) => {
    try {
      await client.writeFile(`/m/d${Math.floor(i / 1000)}/f${i}`, body, { createParents: true });
    } catch (err) {
      firstError ||= String(err);
      throw err;
    }
  });
  console.log(`populated ${r.ops} files in ${r.seconds.toFixed(1)} s, ${r.errors} errors`);
  if (r.errors > 0) throw new Error(`${r.errors} write errors, the first: ${firstError}`);
  const leader = await cluster.leaderId();
  const follower = cluster.metaIds.find((id) => id !== leader)!;
  if (RESTARTS > 0) console.log(RESTART_HEADER);
  for (let run = 0; run < RESTARTS; run++) {
    const split = await timeFollowerRestart(cluster, {
      follower,
      leader,
      writesWhileDown: Number(values["writes-while-down"]),
      write: (i) => client.writeFile(`/m/after${run}/f${i}`, body, { createParents: true }),
      maxSeconds: Number(values["max-seconds"]),
    });
    console.log(restartRow(split));
  }
  const folder = join(cluster.dir, "data", `meta-${follower}`);
  const times: [number, number][] = [];
  /** Per run: whether the follower installed a snapshot (else it caught up from the log). */
  const bySnapshot: boolean[] = [];
  /** Per run: CPU ms of the leader during the catch-up, and of the follower from spawn to caught up. */
  const cpu: [number, number][] = [];
  /** Per run: the follower's pid and the catch-up's window on the profiles' clock. */
  const windows: { pid: number; fromUs: number; toUs: number }[] = [];
  const leaderPid = cluster.pid("meta", leader)!;
  for (let run = 0; run < Number(values.runs); run++) {
    // SIGTERM when profiled: a killed process writes no profile.
    await cluster.kill("meta", follower, PROF_DIR ? "SIGTERM" : "SIGKILL");
    await rm(folder, { recursive: true, force: true });
    const target = (await cluster.status()).meta.find((m) => m.id === leader)?.commitIndex ?? 0;
    const t0 = performance.now();
    const t0Ms = Date.now();
    const fromUs = profileClockUs();
    const leaderCpu0 = cpuMs(cluster.pid("meta", leader)!);
    await cluster.restart("meta", follower);
    const tUp = performance.now();
    try {
      await caughtUp("the wiped follower", follower, target);
    } catch (err) {
      printSnapshotLines(leader, follower, t0Ms);
      throw err;
    }
    if (process.env.CATCHUP_LOG_LEVEL) printSnapshotLines(leader, follower, t0Ms);
    times.push([(performance.now() - t0) / 1000, (performance.now() - tUp) / 1000]);
    bySnapshot.push(logLinesSince(follower, t0Ms).some((l) => l.msg === "raft snapshot installed"));
    cpu.push([cpuMs(cluster.pid("meta", leader)!) - leaderCpu0, cpuMs(cluster.pid("meta", follower)!)]);
    windows.push({ pid: cluster.pid("meta", follower)!, fromUs, toUs: profileClockUs() });
  }
  await cluster.kill("meta", follower, PROF_DIR ? "SIGTERM" : "SIGKILL");
  if (PROF_DIR) await cluster.kill("meta", leader, "SIGTERM");
  const mib = (await streamBytes(join(folder, "state"))) / 2 ** 20;
  for (const [run, [spawnS, upS]] of times.entries()) {
    const [leaderMs, followerMs] = cpu[run]!;
    console.log(
      `caught up ${bySnapshot[run] ? "by a snapshot" : "FROM THE LOG (no snapshot installed)"}: ` +
        `${spawnS.toFixed(2)} s from spawn, ${upS.toFixed(2)} s from its first answer; ` +
        `stream ${mib.toFixed(1)} MiB: ${(mib / upS).toFixed(1)} MiB/s from its first answer; CPU ms per MiB: ` +
        `leader ${(leaderMs / mib).toFixed(1)}, follower ${(followerMs / mib).toFixed(1)} (from spawn)`,
    );
  }
  if (PROF_DIR) {
    const files = await readdir(PROF_DIR);
    const of = (pid: number) => files.find((f) => f.includes(`.${pid}.`) && f.endsWith(".cpuprofile"));
    for (const [run, w] of windows.entries()) {
      for (const [who, pid] of [
        ["leader", leaderPid],
        ["follower", w.pid],
      ] as const) {
        const f = of(pid);
        if (!f) {
          console.log(`run ${run + 1} ${who}: no profile of pid ${pid} in ${PROF_DIR}`);
          continue;
        }
        const s = summarizeProfile(join(PROF_DIR, f), w.fromUs, w.toUs);
        console.log(formatProfile(`run ${run + 1} ${who} (${f})`, s));
      }
    }
  }
} finally {
  await client.close();
  await cluster.stop();
}
