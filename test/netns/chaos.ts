/**
 * The chaos checks of test/chaos/data-chaos.ts, run against the cluster in network namespaces with
 * faults made by the network itself (test/netns/run.ts calls this). Clients in the root namespace
 * play the data-chaos workload — chunked and inline writes, compare-and-set, reads that verify
 * every byte, deletes, renames, and exclusive/shared locks with commits under their fencing tokens —
 * while a seeded schedule (chaos-schedule.ts) cuts a zone off (nft, both ways), drops one zone's
 * packets one way only, pulls a host's cable (veth down), kills (-9) and pauses (SIGSTOP) replicas
 * and data nodes. Then every fault heals and the run must show:
 * - a linearizable history of the file operations (a timed-out call may or may not have happened;
 *   final reads through a fresh client close it, so a lost acknowledged write shows up);
 * - the lock rules of test/chaos/lock-check.ts (unique tokens increasing with grants, no two
 *   holders overlapping, fencing refusing stale tokens), and no acknowledged commit under a lock lost;
 * - every chunk of every retained version back to R intact copies on the data nodes' disks.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { isDfsError } from "../../src/common/errors.js";
import { checkLockCommitsKept, finalRead, LOCK_PATH, PATHS, worker } from "../chaos/data-chaos-clients.js";
import { type FsInput, type FsOutput, fsModel } from "../chaos/fs-model.js";
import { checkLocks, type LockEvent } from "../chaos/lock-check.js";
import { rng } from "../chaos/meta-chaos.js";
import { checkLinearizable, describeOperation, HistoryRecorder } from "../support/linearizability/index.js";
import { waitFor } from "../support/wait.js";
import { type NetnsFault, netnsSchedule } from "./chaos-schedule.js";
import type { NetnsCluster } from "./cluster.js";

const CLIENTS = 3;
const REPLICATION = 3;

export interface NetnsChaosReport {
  ops: number;
  unknown: number;
  lockGrants: number;
  lockCommitsAccepted: number;
  lockCommitsRefused: number;
  chunksChecked: number;
}

function chaosClient(c: NetnsCluster): Promise<RaftfsClient> {
  return connect({
    config: c.configPath,
    // Past a failover (≤ ~1.5 s here) and a partition's length, so most calls get an answer.
    deadlineMs: 8000,
    chunkDeadlineMs: 16_000,
    requestTimeoutMs: 2000,
    connectTimeoutMs: 1000,
    // No chunk cache: every read goes to the data nodes.
    cacheBytes: 0,
  });
}

async function leaderId(c: NetnsCluster): Promise<number | null> {
  for (const s of (await c.statuses()).values()) if (s?.role === "leader") return s.id;
  return null;
}

/**
 * Starts one fault and returns how to heal it. Targets are chosen by `pick` among what the cluster
 * looks like now (the leader or a follower, the leader's zone or another), so a seed replays the
 * same kind of target even when the leader's id differs.
 */
async function inject(
  c: NetnsCluster,
  f: NetnsFault,
  zones: string[],
  say: (l: string) => void,
): Promise<() => void> {
  const leader = (await leaderId(c)) ?? (f.pick % c.metaIds.length) + 1;
  const followers = c.metaIds.filter((id) => id !== leader);
  const replica = f.pick % 2 === 0 ? leader : followers[f.pick % followers.length]!;
  const zone = f.pick % 2 === 0 ? c.metaZone(leader) : zones[f.pick % zones.length]!;
  const dataNode = (f.pick % c.opts.dataZones.length) + 1;
  const what = `${f.kind} for ${f.durationMs} ms`;
  switch (f.kind) {
    case "cutZone": {
      const others = zones.filter((z) => z !== zone);
      c.lab.setBlocked(others.flatMap((z) => [[zone, z] as const, [z, zone] as const]));
      say(`${what}: zone ${zone} (leader ${leader} in ${c.metaZone(leader)})`);
      return () => c.lab.setBlocked([]);
    }
    case "oneWay": {
      c.lab.setBlocked(zones.filter((z) => z !== zone).map((z) => [zone, z] as const));
      say(`${what}: zone ${zone}'s packets dropped by the others (leader ${leader})`);
      return () => c.lab.setBlocked([]);
    }
    case "linkDown": {
      // A third of the time a replica's cable (the leader's, half of those), else a data node's.
      const host = f.pick % 3 === 0 ? `m${replica}` : `d${dataNode}`;
      c.lab.setLink(host, false);
      say(`${what}: ${host}'s veth down (leader ${leader})`);
      return () => c.lab.setLink(host, true);
    }
    case "killMeta":
      await c.kill("meta", replica);
      say(`${what}: replica ${replica} (leader ${leader}) killed`);
      return () => c.launch("meta", replica);
    case "pauseMeta":
      c.signal("meta", replica, "SIGSTOP");
      say(`${what}: replica ${replica} (leader ${leader}) stopped`);
      return () => c.signal("meta", replica, "SIGCONT");
    case "killData":
      await c.kill("data", dataNode);
      say(`${what}: data node ${dataNode} killed`);
      return () => c.launch("data", dataNode);
    case "pauseData":
      c.signal("data", dataNode, "SIGSTOP");
      say(`${what}: data node ${dataNode} stopped`);
      return () => c.signal("data", dataNode, "SIGCONT");
  }
}

export async function runNetnsChaos(
  c: NetnsCluster,
  seed: number,
  zones: string[],
  say: (l: string) => void,
): Promise<NetnsChaosReport> {
  const schedule = netnsSchedule(seed);
  const last = schedule[schedule.length - 1]!;
  const started = Date.now();
  // The workload runs from before the first fault until a second after the last one healed.
  const until = started + last.atMs + last.durationMs + 1000;
  const history = new HistoryRecorder<FsInput, FsOutput>();
  const locks: LockEvent[] = [];
  const clients: RaftfsClient[] = [];
  let heal: (() => void) | null = null;
  try {
    for (let k = 0; k <= CLIENTS; k++) clients.push(await chaosClient(c));
    const counted = { bytes: 0 };
    const workers = clients
      .slice(0, CLIENTS)
      .map((cl, k) => worker(cl, k + 1, rng(seed * 131 + k), until, history, locks, counted));
    const injector = (async () => {
      for (const f of schedule) {
        const wait = started + f.atMs - Date.now();
        if (wait > 0) await sleep(wait);
        heal = await inject(c, f, zones, (l) => say(`+${Date.now() - started} ms ${l}`));
        await sleep(f.durationMs);
        heal();
        heal = null;
      }
    })();
    // Settle every worker and the injector before the checks: nothing may touch the cluster after.
    const settled = await Promise.allSettled([injector, ...workers]);
    for (const r of settled) if (r.status === "rejected") throw r.reason;
    say(`chaos: ${history.history().length} operations, ${locks.length} lock calls; healed`);
    await c.ready();

    const final = clients[CLIENTS]!;
    for (const path of PATHS) {
      const call = history.begin(CLIENTS + 1, { kind: "readData", path });
      call.complete(await finalRead(final, path));
    }
    const ops = history.history();
    const verdict = checkLinearizable(fsModel, ops, { timeoutMs: 60_000 });
    if (verdict.ok === false) {
      const shown = verdict.longestPrefix.slice(-10).map((op) => describeOperation(op, fsModel.describe));
      throw new Error(`not linearizable: ${verdict.explanation}\nlast linearized:\n  ${shown.join("\n  ")}`);
    }
    if (verdict.ok === "unknown") throw new Error(`linearizability undecided: ${verdict.reason}`);
    const lockVerdict = checkLocks(locks);
    if (lockVerdict.violations.length > 0)
      throw new Error(`lock rules broken:\n  ${lockVerdict.violations.slice(0, 10).join("\n  ")}`);
    await checkLockCommitsKept(final, locks);
    const chunksChecked = await checkChunksBack(c, final);
    return {
      ops: ops.length,
      unknown: ops.filter((o) => o.ret === Number.POSITIVE_INFINITY).length,
      lockGrants: lockVerdict.grants,
      lockCommitsAccepted: lockVerdict.acceptedCommits,
      lockCommitsRefused: lockVerdict.refusedCommits,
      chunksChecked,
    };
  } finally {
    // A failure mid-fault must not leave the cluster cut or stopped for whoever looks next.
    (heal as (() => void) | null)?.();
    await Promise.all(clients.map((cl) => cl.close()));
  }
}

/** Nodes holding an intact copy of each chunk on disk (the file hashes to its id). */
export function intactHolders(c: NetnsCluster, chunkIds: Iterable<string>): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const nodes = c.opts.dataZones.map((_, i) => i + 1);
  for (const id of chunkIds) {
    out.set(
      id,
      nodes.filter((n) => {
        const f = join(c.dir, "data", `data-${n}`, "chunks", id.slice(0, 2), id);
        try {
          return createHash("sha256").update(readFileSync(f)).digest("hex") === id;
        } catch {
          return false;
        }
      }),
    );
  }
  return out;
}

/**
 * Every chunk of every retained version of the workload's paths back to R intact copies on disk.
 * (Not "in R zones": a chunk written while a zone was cut off was rightly placed in the other two,
 * and nothing moves a copy once it is placed; the zone rule is checked where every zone was free.)
 */
async function checkChunksBack(c: NetnsCluster, cl: RaftfsClient): Promise<number> {
  const referenced = new Set<string>();
  for (const path of [...PATHS, LOCK_PATH]) {
    const versions = await cl.versions(path).catch((err: unknown) => {
      if (isDfsError(err, "NOT_FOUND")) return [];
      throw err;
    });
    for (const v of versions) {
      const info = await cl.fileInfo(path, { version: v.version });
      if (info.content.kind === "chunks") for (const ch of info.content.chunks) referenced.add(ch.id);
    }
  }
  let last = "";
  await waitFor(
    "every referenced chunk at R intact copies",
    () => {
      const short = [...intactHolders(c, referenced)].filter(([, ns]) => ns.length < REPLICATION);
      last = `${short.length} of ${referenced.size} under ${REPLICATION} intact copies${
        short[0] ? ` (e.g. ${short[0][0].slice(0, 12)}… on ${short[0][1]})` : ""
      }`;
      return short.length === 0;
    },
    { timeoutMs: 60_000, intervalMs: 500 },
  ).catch((err: unknown) => {
    throw new Error(`chunks not back: ${last}`, { cause: err });
  });
  return referenced.size;
}
