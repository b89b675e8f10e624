/**
 * Fault injection on the whole system: 3 metadata replicas and 4 data nodes (replication 3, 4 KiB
 * chunks, 1 KiB inline threshold), driven through the real client library (src/client). Concurrent
 * clients write files big enough to be chunked (and some small ones), compare-and-set, read back and
 * verify every byte, delete and rename, and take exclusive and shared locks on one path, committing
 * under their fencing tokens. Meanwhile a schedule kills (-9), pauses (SIGSTOP) and partitions metadata
 * replicas, kills and restarts data nodes, pauses them, flips bytes in stored chunk files, and stops
 * the clients' own process past their lock leases.
 *
 * Afterwards every fault heals, and the run must show:
 * - a linearizable history of the file operations (timed-out calls count as maybe-happened; final
 *   reads close it, so a lost acknowledged write shows up), and every read returned intact bytes;
 * - the lock rules of lock-check.ts, and no acknowledged commit under a lock lost;
 * - every chunk of every retained version back to R intact copies within the repair timeout, checked
 *   on the data nodes' disks and by a verified GET from each holder the leader names; no corrupted
 *   copy left on any disk (the scrubber found it, or a reader did, and the leader had it replaced);
 * - every metadata replica at the same applied index with the same state digest.
 */
import { createHash } from "node:crypto";
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import type { RaftfsClient } from "../../src/client/index.js";
import type { LocationsResponse, ReadResponse, VersionsResponse } from "../../src/common/protocol/index.js";
import { checkLinearizable, describeOperation, HistoryRecorder } from "../support/linearizability/index.js";
import { MetaCluster, waitUntil } from "../support/meta-procs.js";
import { TEST_SECRET } from "../support/test-config.js";
import {
  CHUNK_BYTES,
  checkLockCommitsKept,
  finalRead,
  INLINE_BYTES,
  LOCK_PATH,
  LOCK_TTL_MS,
  newClient,
  PATHS,
  worker,
} from "./data-chaos-clients.js";
import { type FsInput, type FsOutput, fsModel } from "./fs-model.js";
import { checkLocks, type LockEvent } from "./lock-check.js";
import {
  CHAOS_RAFT,
  checkConverged,
  type FaultKind,
  injectReplicaFault,
  partition,
  type ReplicaFaults,
  rng,
} from "./meta-chaos.js";

/**
 * `pauseClients` stops the whole test process (every client, like a long GC pause) for longer than a
 * lock's TTL while the cluster runs on: leases expire, and their holders come back with stale tokens.
 * `cutData` keeps a data node from reaching the metadata leader while clients and the other nodes still
 * reach it (a partial partition): the leader declares it dead, repairs its chunks elsewhere, holds
 * collection back, and later sees it return with everything it stored meanwhile.
 */
export type DataFaultKind = "killData" | "pauseData" | "cutData" | "corruptChunk" | "pauseClients";

export interface DataChaosFault {
  atMs: number;
  kind: FaultKind | DataFaultKind;
  durationMs: number;
  /** Picks the data node (and the chunk file) among the candidates at the time. */
  pick: number;
}

export interface DataChaosSchedule {
  seed: number;
  clients: number;
  durationMs: number;
  faults: DataChaosFault[];
}

const DATA_NODES = 4;
const REPLICATION = 3;
const GARBAGE_GRACE_MS = 2_000;
/** After the faults heal, every referenced chunk must be back to R intact copies within this. */
export const REPAIR_TIMEOUT_MS = 30_000;
const SECRET = { "x-raftfs-secret": TEST_SECRET };

const META_FAULTS: FaultKind[] = [
  "killLeader",
  "killFollower",
  "pauseLeader",
  "pauseFollower",
  "isolateLeader",
  "isolateFollower",
];

export function dataScheduleArb(durationMs: number): fc.Arbitrary<DataChaosSchedule> {
  return fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 30 }),
    clients: fc.integer({ min: 2, max: 4 }),
    durationMs: fc.constant(durationMs),
    faults: fc.array(
      fc.record({
        atMs: fc.integer({ min: 300, max: Math.max(400, durationMs - 1500) }),
        // Data-node faults twice as likely as any one kind of metadata fault.
        kind: fc.oneof(
          { weight: 1, arbitrary: fc.constantFrom<FaultKind | DataFaultKind>(...META_FAULTS) },
          {
            weight: 2,
            arbitrary: fc.constantFrom<FaultKind | DataFaultKind>(
              "killData",
              "pauseData",
              "cutData",
              "corruptChunk",
              "pauseClients",
            ),
          },
        ),
        durationMs: fc.integer({ min: 300, max: 1500 }),
        pick: fc.nat({ max: 999 }),
      }),
      { minLength: 2, maxLength: 6 },
    ),
  });
}

export interface DataChaosReport {
  ops: number;
  unknown: number;
  faults: number;
  dataFaults: number;
  corruptions: number;
  bytesVerified: number;
  lockGrants: number;
  /** Acknowledged renewals in the lock history. */
  lockRenewals: number;
  lockCommitsAccepted: number;
  lockCommitsRefused: number;
  chunksChecked: number;
}

const sha256 = (b: Buffer) => createHash("sha256").update(b).digest("hex");

// ---------------------------------------------------------------- the run

export async function runDataChaos(
  schedule: DataChaosSchedule,
  log: (s: string) => void = () => {},
): Promise<DataChaosReport> {
  const c = await MetaCluster.start({
    dataNodes: DATA_NODES,
    faults: true,
    raft: CHAOS_RAFT,
    scrubEveryMs: 300,
    extra: {
      chunkSizeBytes: CHUNK_BYTES,
      inlineThresholdBytes: INLINE_BYTES,
      replication: REPLICATION,
      // Short, so that collection runs inside the schedules: an upload that stalls past it (client
      // pauses) must get CHUNK_GONE, never an acknowledgement for collected chunks (gc-commit-race).
      garbageGraceMs: GARBAGE_GRACE_MS,
    },
  });
  try {
    return await play(c, schedule, log);
  } finally {
    await c.stop();
  }
}

interface Corruption {
  node: number;
  chunkId: string;
  file: string;
}

function chunkFiles(c: MetaCluster, node: number): { chunkId: string; file: string }[] {
  const root = join(c.dir, "data", `data-${node}`, "chunks");
  const out: { chunkId: string; file: string }[] = [];
  let folders: string[];
  try {
    folders = readdirSync(root);
  } catch {
    return out;
  }
  for (const f of folders.sort())
    for (const name of readdirSync(join(root, f)).sort())
      if (/^[0-9a-f]{64}$/.test(name)) out.push({ chunkId: name, file: join(root, f, name) });
  return out;
}

/**
 * Flips one byte of a chunk file in place (never re-creating a file the node deleted meanwhile, which
 * would leave a damaged file the node does not know of). The offset flipped, or null if it is gone.
 */
function flipByte(file: string, pick: number): number | null {
  let fd: number;
  try {
    fd = openSync(file, "r+");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw err;
  }
  try {
    const size = fstatSync(fd).size;
    if (size === 0) return null;
    const at = (pick * 7919) % size;
    const b = Buffer.alloc(1);
    readSync(fd, b, 0, 1, at);
    b[0] = b[0]! ^ 0x5a;
    writeSync(fd, b, 0, 1, at);
    return at;
  } finally {
    closeSync(fd);
  }
}

async function play(
  c: MetaCluster,
  schedule: DataChaosSchedule,
  log: (s: string) => void,
): Promise<DataChaosReport> {
  const history = new HistoryRecorder<FsInput, FsOutput>();
  const locks: LockEvent[] = [];
  const started = Date.now();
  const until = started + schedule.durationMs;
  const replicaFaults: ReplicaFaults = { paused: new Set(), isolated: new Set(), restarts: [] };
  const { paused, restarts } = replicaFaults;
  const pausedData = new Set<number>();
  const corruptions: Corruption[] = [];
  const dataIds = [...c.dataUrls.keys()];

  const injector = (async () => {
    for (const f of [...schedule.faults].sort((a, b) => a.atMs - b.atMs)) {
      const wait = started + f.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() > until) break;
      const at = `+${Date.now() - started} ms: ${f.kind}`;
      if (f.kind === "pauseClients") {
        const ms = LOCK_TTL_MS + Math.floor(f.durationMs / 2);
        log(`${at} → every client stops for ${ms} ms`);
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
        continue;
      }
      if (f.kind === "corruptChunk") {
        // At most one damaged copy of any chunk: with R = 3 a good copy always survives.
        const damaged = new Set(corruptions.map((x) => x.chunkId));
        const node = dataIds[f.pick % dataIds.length]!;
        const files = chunkFiles(c, node).filter((x) => !damaged.has(x.chunkId));
        const victim = files[f.pick % Math.max(1, files.length)];
        if (!victim) {
          log(`${at} → data node ${node} holds no chunk yet: skipped`);
          continue;
        }
        const at1 = flipByte(victim.file, f.pick);
        if (at1 === null) {
          log(`${at} → chunk ${victim.chunkId.slice(0, 12)}… left data node ${node} meanwhile: skipped`);
          continue;
        }
        corruptions.push({ node, ...victim });
        log(`${at} → byte ${at1} of chunk ${victim.chunkId.slice(0, 12)}… on data node ${node}`);
        continue;
      }
      if (f.kind === "cutData") {
        const candidates = dataIds.filter((id) => c.dataRunning(id) && !pausedData.has(id));
        const node = candidates[f.pick % Math.max(1, candidates.length)];
        if (node === undefined) continue;
        // Up to twice as long, like a kill: past dataNodeDeadAfterMs the leader repairs around it.
        const cutMs = 2 * f.durationMs;
        const r = await c.http
          .post(`${c.dataUrls.get(node)}/internal/test/cut-leader`, { ms: cutMs }, SECRET)
          .catch(() => null);
        log(
          `${at} → data node ${node} cut off from the leader for ${cutMs} ms${r?.status === 200 ? "" : " (not reached)"}`,
        );
        continue;
      }
      if (f.kind === "killData" || f.kind === "pauseData") {
        const candidates = dataIds.filter((id) => c.dataRunning(id) && !pausedData.has(id));
        // Keep R nodes able to answer, or no write could be placed at all.
        if (candidates.length <= REPLICATION - 1) continue;
        const node = candidates[f.pick % candidates.length]!;
        // A killed node stays down up to twice as long: past dataNodeDeadAfterMs (2 s) the leader
        // declares it dead and re-replicates its chunks onto the others.
        const downMs = f.kind === "killData" ? 2 * f.durationMs : f.durationMs;
        log(`${at} → data node ${node} for ${downMs} ms`);
        if (f.kind === "killData") {
          await c.killData(node);
          restarts.push(
            sleep(downMs).then(() => {
              if (!c.dataRunning(node)) c.launchData(node);
            }),
          );
        } else {
          pausedData.add(node);
          void c.killData(node, "SIGSTOP");
          restarts.push(
            sleep(f.durationMs).then(() => {
              void c.killData(node, "SIGCONT");
              pausedData.delete(node);
            }),
          );
        }
        continue;
      }
      await injectReplicaFault(c, f, replicaFaults, SECRET, (target) =>
        log(`${at} → replica ${target} for ${f.durationMs} ms`),
      );
    }
  })();

  const clients: RaftfsClient[] = [];
  try {
    return await playAndCheck();
  } finally {
    await Promise.all(clients.map((cl) => cl.close()));
  }

  async function playAndCheck(): Promise<DataChaosReport> {
    const counted = { bytes: 0 };
    for (let k = 0; k <= schedule.clients; k++) clients.push(await newClient(c, 4000));
    const workers = clients
      .slice(0, schedule.clients)
      .map((cl, k) => worker(cl, k + 1, rng(schedule.seed * 131 + k), until, history, locks, counted));
    // Settle all, the injector included, before healing: nothing may touch the cluster afterwards.
    const settled = await Promise.allSettled([injector, ...workers]);
    await Promise.all(restarts);
    // Heal everything.
    for (const id of c.ids) {
      if (paused.has(id)) await c.kill(id, "SIGCONT");
      if (!c.alive(id)) c.launch(id);
    }
    for (const id of dataIds) {
      if (pausedData.has(id)) await c.killData(id, "SIGCONT");
      if (!c.dataRunning(id)) c.launchData(id);
    }
    for (const r of settled) if (r.status === "rejected") throw r.reason;
    const bytesVerified = counted.bytes;
    await waitUntil("every replica to answer", async () => {
      for (const id of c.ids) if (!(await c.status(id))) return null;
      return true;
    });
    await partition(c, [], SECRET);
    await c.dataAlive(dataIds, 30_000);
    // The repair timeout runs from here: every process is back and every partition healed.
    const healedAt = Date.now();

    // Final reads close the history (through a client that saw nothing yet): they must be answered.
    const final = clients[schedule.clients]!;
    for (const path of PATHS) {
      const call = history.begin(schedule.clients + 1, { kind: "readData", path });
      call.complete(
        await finalRead(final, path).catch(async (err: unknown) => {
          throw new Error(`the final read of ${path} failed\n${await diagnose(c, path, started)}`, {
            cause: err,
          });
        }),
      );
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

    const chunksChecked = await checkRepaired(c, corruptions, healedAt, log);
    await checkConverged(c);
    return {
      ops: ops.length,
      unknown: ops.filter((o) => o.ret === Number.POSITIVE_INFINITY).length,
      faults: schedule.faults.length,
      dataFaults: schedule.faults.filter((f) => !META_FAULTS.includes(f.kind as FaultKind)).length,
      corruptions: corruptions.length,
      bytesVerified,
      lockGrants: lockVerdict.grants,
      lockRenewals: locks.filter((e) => e.kind === "renew" && e.outcome === "ok").length,
      lockCommitsAccepted: lockVerdict.acceptedCommits,
      lockCommitsRefused: lockVerdict.refusedCommits,
      chunksChecked,
    };
  }
}

/** What the replicas saw (events: deaths, repairs, GC) and the path's versions, times from the start. */
async function diagnose(c: MetaCluster, path: string, started: number): Promise<string> {
  const lines: string[] = [];
  for (const id of c.ids) {
    const r = await c.http.get(`${c.url(id)}/v1/events`).catch(() => null);
    const events = ((r?.body as { events?: { atMs: number; kind: string; message: string }[] })?.events ?? [])
      .reverse()
      .map((e) => `+${e.atMs - started} ms ${e.kind}: ${e.message}`);
    lines.push(`replica ${id} events:\n    ${events.join("\n    ")}`);
  }
  const v = await c.http
    .get(`${c.url(await c.leader())}/v1/fs/versions?path=${encodeURIComponent(path)}`)
    .catch(() => null);
  const versions = ((v?.body as VersionsResponse)?.versions ?? []).map(
    (x) => `v${x.version} +${x.createdAtMs - started} ms ${x.sizeBytes} B ${x.contentKind}`,
  );
  lines.push(`${path} versions: ${versions.join(", ")}`);
  return lines.join("\n");
}

/**
 * Every chunk of every retained version of every path is back to R intact copies, and no damaged copy
 * is left on any disk, within REPAIR_TIMEOUT_MS of the heal; then each holder the leader names serves
 * it, verified against its id.
 */
async function checkRepaired(
  c: MetaCluster,
  corruptions: Corruption[],
  healedAt: number,
  log: (s: string) => void,
): Promise<number> {
  const leaderUrl = async () => c.url(await c.leader());
  const get = async <T>(route: string): Promise<T> =>
    waitUntil(`GET ${route}`, async () => {
      const r = await c.http.get(`${await leaderUrl()}${route}`).catch(() => null);
      return r?.status === 200 ? (r.body as T) : null;
    });
  const referenced = new Set<string>();
  for (const path of [...PATHS, LOCK_PATH]) {
    const q = `path=${encodeURIComponent(path)}`;
    const r = await waitUntil(`versions of ${path}`, async () => {
      const res = await c.http.get(`${await leaderUrl()}/v1/fs/versions?${q}`).catch(() => null);
      if (res?.status === 404) return { versions: [] };
      return res?.status === 200 ? (res.body as VersionsResponse) : null;
    });
    for (const v of r.versions) {
      if (v.contentKind !== "chunks") continue;
      const file = await get<ReadResponse>(`/v1/fs/read?${q}&version=${v.version}`);
      if (file.content.kind === "chunks") for (const ch of file.content.chunks) referenced.add(ch.id);
    }
  }
  const dataIds = [...c.dataUrls.keys()];
  const intactCopies = (chunkId: string) =>
    dataIds.filter((node) => {
      const f = join(c.dir, "data", `data-${node}`, "chunks", chunkId.slice(0, 2), chunkId);
      try {
        return sha256(readFileSync(f)) === chunkId;
      } catch {
        return false;
      }
    }).length;
  const damagedLeft = () =>
    corruptions.filter((x) => {
      try {
        return sha256(readFileSync(x.file)) !== x.chunkId;
      } catch {
        return false; // quarantined (and maybe not yet copied back: the count above covers that)
      }
    });
  let last = "";
  try {
    await waitUntil(
      "every referenced chunk back to R intact copies",
      async () => {
        const short = [...referenced].filter((id) => intactCopies(id) < REPLICATION);
        const damaged = damagedLeft();
        const s = await c.clusterStatus();
        last = `${short.length} chunks under R intact copies on disk, ${damaged.length} damaged copies left, leader counts ${s.underReplicatedChunks} under-replicated`;
        return short.length === 0 && damaged.length === 0 && s.underReplicatedChunks === 0 ? true : null;
      },
      Math.max(1000, healedAt + REPAIR_TIMEOUT_MS - Date.now()),
    );
  } catch (err) {
    throw new Error(`repair did not finish within ${REPAIR_TIMEOUT_MS} ms of the heal: ${last}`, {
      cause: err,
    });
  }
  log(
    `repair: ${referenced.size} referenced chunks at R intact copies ${Date.now() - healedAt} ms after the heal`,
  );
  // What the leader hands out: R holders per chunk, each serving it intact. The leader learns of a
  // copy that went away (quarantined as damaged, deleted as excess) from the node's next report, so a
  // holder it still names may answer 404 for a heartbeat or two (clients then read another holder):
  // a batch is checked again until it holds, within the repair bound.
  const ids = [...referenced];
  for (let i = 0; i < ids.length; i += 50) {
    const batch = ids.slice(i, i + 50);
    let wrong = "";
    try {
      await waitUntil(
        "the leader to name R holders serving each chunk intact",
        async () => {
          wrong = await wrongHolder(get, batch);
          return wrong === "" ? true : null;
        },
        Math.max(5000, healedAt + REPAIR_TIMEOUT_MS - Date.now()),
      );
    } catch (err) {
      throw new Error(wrong, { cause: err });
    }
  }
  return referenced.size;
}

/** The first way the leader's holders of `batch` fail to serve them intact, or "" when none does. */
async function wrongHolder(get: <T>(route: string) => Promise<T>, batch: string[]): Promise<string> {
  const loc = await get<LocationsResponse>(`/v1/chunks/locations?ids=${batch.join(",")}`);
  for (const id of batch) {
    const holders = loc.locations[id] ?? [];
    if (holders.length < REPLICATION)
      return `the leader names ${holders.length} holders of chunk ${id}, not ${REPLICATION}`;
    for (const h of holders) {
      const r = await fetch(`${h.url}/v1/chunks/${id}`, {
        headers: { "x-raftfs-ticket": loc.tickets[id] ?? "" },
        signal: AbortSignal.timeout(10_000),
      });
      const body = Buffer.from(await r.arrayBuffer());
      if (r.status !== 200 || sha256(body) !== id)
        return `data node ${h.id} answers chunk ${id} with HTTP ${r.status}, ${body.byteLength} bytes that do not hash to it`;
    }
  }
  return "";
}
