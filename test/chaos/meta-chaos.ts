/**
 * Fault injection on real metadata replica processes: concurrent clients write, compare-and-set, read,
 * delete and rename a few files while a schedule kills (-9), pauses (SIGSTOP) and partitions replicas.
 * Afterwards every fault heals, and the run must show: a linearizable history (timed-out calls count as
 * maybe-happened), no acknowledged write lost (final reads close the history), and every replica at the
 * same applied index with the same state digest.
 */

import { setTimeout as sleep } from "node:timers/promises";
import fc from "fast-check";
import { checkLinearizable, describeOperation, HistoryRecorder } from "../support/linearizability/index.js";
import { type HttpResult, MetaCluster, waitUntil } from "../support/meta-procs.js";
import { TEST_SECRET } from "../support/test-config.js";
import { type FsInput, type FsOutput, fsModel } from "./fs-model.js";

export type FaultKind =
  | "killLeader"
  | "killFollower"
  | "pauseLeader"
  | "pauseFollower"
  | "isolateLeader"
  | "isolateFollower";

export interface Fault {
  atMs: number;
  kind: FaultKind;
  durationMs: number;
}

export interface ChaosSchedule {
  seed: number;
  clients: number;
  durationMs: number;
  faults: Fault[];
}

const PATHS = ["/k0", "/k1", "/k2"];
const OP_DEADLINE_MS = 4000;
const SECRET_HEADER = "x-raftfs-secret";
/** The secret test/support/meta-procs.ts configures: the fault routes ask for it. */
const E2E_SECRET = { [SECRET_HEADER]: TEST_SECRET };

export function scheduleArb(durationMs: number): fc.Arbitrary<ChaosSchedule> {
  return fc.record({
    seed: fc.integer({ min: 1, max: 2 ** 30 }),
    clients: fc.integer({ min: 2, max: 4 }),
    durationMs: fc.constant(durationMs),
    faults: fc.array(
      fc.record({
        atMs: fc.integer({ min: 200, max: Math.max(300, durationMs - 1500) }),
        kind: fc.constantFrom<FaultKind>(
          "killLeader",
          "killFollower",
          "pauseLeader",
          "pauseFollower",
          "isolateLeader",
          "isolateFollower",
        ),
        durationMs: fc.integer({ min: 300, max: 1500 }),
      }),
      { minLength: 1, maxLength: 4 },
    ),
  });
}

/** mulberry32, for each client's choice of operations. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ChaosReport {
  ops: number;
  unknown: number;
  faults: number;
  /** Each replica's snapshot index at the end: shows that snapshots and compactions happened. */
  snapshotIndexes: number[];
}

/**
 * Snapshots and compactions every few hundred entries (the defaults are 10,000), so that kills,
 * pauses and partitions land on them and isolated replicas come back through InstallSnapshot.
 */
export const CHAOS_RAFT = { snapshotEveryEntries: 200, snapshotKeepEntries: 50 };

export async function runChaos(
  schedule: ChaosSchedule,
  log: (s: string) => void = () => {},
): Promise<ChaosReport> {
  const c = await MetaCluster.start({ faults: true, raft: CHAOS_RAFT });
  try {
    return await play(c, schedule, log);
  } finally {
    await c.stop();
  }
}

async function play(c: MetaCluster, schedule: ChaosSchedule, log: (s: string) => void): Promise<ChaosReport> {
  const history = new HistoryRecorder<FsInput, FsOutput>();
  const secret = { [SECRET_HEADER]: TEST_SECRET };
  const started = Date.now();
  const until = started + schedule.durationMs;
  const faults: ReplicaFaults = { paused: new Set(), isolated: new Set(), restarts: [] };
  const { paused, restarts } = faults;

  const injector = (async () => {
    for (const f of [...schedule.faults].sort((a, b) => a.atMs - b.atMs)) {
      const wait = started + f.atMs - Date.now();
      if (wait > 0) await sleep(wait);
      if (Date.now() > until) break;
      await injectReplicaFault(c, f, faults, secret, (target) =>
        log(`+${Date.now() - started} ms: ${f.kind} → replica ${target} for ${f.durationMs} ms`),
      );
    }
  })();

  const clients = Array.from({ length: schedule.clients }, (_, k) =>
    client(c, k + 1, rng(schedule.seed * 97 + k), until, history),
  );
  await Promise.all([injector, ...clients]);
  await Promise.all(restarts);

  // Heal everything.
  for (const id of c.ids) {
    if (paused.has(id)) await c.kill(id, "SIGCONT");
    if (!c.alive(id)) c.launch(id);
  }
  await waitUntil("every replica to answer", async () => {
    for (const id of c.ids) if (!(await c.status(id))) return null;
    return true;
  });
  await partition(c, [], secret);

  await closeHistory(c, schedule, history);

  const ops = history.history();
  const verdict = checkLinearizable(fsModel, ops, { timeoutMs: 60_000 });
  if (verdict.ok === false) {
    const shown = verdict.longestPrefix.slice(-10).map((op) => describeOperation(op, fsModel.describe));
    throw new Error(`not linearizable: ${verdict.explanation}\nlast linearized:\n  ${shown.join("\n  ")}`);
  }
  if (verdict.ok === "unknown") throw new Error(`linearizability undecided: ${verdict.reason}`);

  await checkConverged(c);
  const statuses = await Promise.all(c.ids.map((id) => c.status(id)));
  return {
    ops: ops.length,
    unknown: ops.filter((o) => o.ret === Number.POSITIVE_INFINITY).length,
    faults: schedule.faults.length,
    snapshotIndexes: statuses.map((s) => s?.snapshotIndex ?? 0),
  };
}

/** The parts of a cluster the clients and the final reads use (a fake one in their tests). */
export type ChaosTarget = Pick<MetaCluster, "ids" | "url" | "http" | "leader">;

/** How long, after healing, a leader may take to appear and each final read to be answered. */
export const AFTER_HEALING_MS = 20_000;

/**
 * After healing: a leader must exist, and final linearizable reads of every path close the history
 * (an acknowledged write that was lost shows up there). Either missing is a failure, not "unknown":
 * a healed cluster that cannot answer has lost its liveness. The replicas read are chosen from the
 * seed, so a failure replays exactly.
 */
export async function closeHistory(
  c: ChaosTarget,
  schedule: Pick<ChaosSchedule, "seed" | "clients">,
  history: HistoryRecorder<FsInput, FsOutput>,
  afterHealingMs = AFTER_HEALING_MS,
): Promise<void> {
  const leader = await c.leader(afterHealingMs).catch(() => null);
  if (leader === null) throw new Error(`liveness: no leader within ${afterHealingMs} ms after healing`);
  const finalClient = schedule.clients + 1;
  const random = rng(schedule.seed * 97 + finalClient);
  for (const path of PATHS) {
    const answered = await runOp(
      c,
      finalClient,
      { kind: "read", path },
      null,
      history,
      Date.now() + afterHealingMs,
      random,
    );
    if (!answered) throw new Error(`liveness: the final read of ${path} was not answered after healing`);
  }
}

/** Every replica converges on the same state at the same applied index. */
export async function checkConverged(c: MetaCluster): Promise<void> {
  await waitUntil(
    "replicas to converge",
    async () => {
      const states = await Promise.all(
        c.ids.map((id) => c.http.get(`${c.url(id)}/internal/test/state`, E2E_SECRET)),
      );
      // Anything but 200 means the fault routes are missing (a harness bug), not divergence.
      const missing = states.find((s) => s.status !== 200);
      if (missing) throw new Error(`/internal/test/state answered ${JSON.stringify(missing)}`);
      const bodies = states.map((s) => s.body as { appliedIndex: number; hash: string });
      const first = bodies[0]!;
      return bodies.every((b) => b.appliedIndex === first.appliedIndex && b.hash === first.hash)
        ? true
        : null;
    },
    30_000,
  );
}

/** Replicas paused or isolated now, and the healings scheduled so far. */
export interface ReplicaFaults {
  paused: Set<number>;
  isolated: Set<number>;
  restarts: Promise<void>[];
}

/**
 * Kills, pauses or isolates the leader (kinds ending in "Leader") or a live, unpaused follower, and
 * schedules the healing after `durationMs` in `s.restarts`. `note` hears the chosen replica.
 */
export async function injectReplicaFault(
  c: MetaCluster,
  f: { kind: string; durationMs: number },
  s: ReplicaFaults,
  secret: Record<string, string>,
  note: (target: number) => void,
): Promise<void> {
  const leader = (await c.leader(3000).catch(() => null)) ?? c.ids[0]!;
  const follower = c.ids.find((id) => id !== leader && c.alive(id) && !s.paused.has(id)) ?? leader;
  const target = f.kind.endsWith("Leader") ? leader : follower;
  note(target);
  if (f.kind.startsWith("kill")) {
    await c.kill(target);
    s.restarts.push(
      sleep(f.durationMs).then(() => {
        if (!c.alive(target)) c.launch(target);
      }),
    );
  } else if (f.kind.startsWith("pause")) {
    if (!c.alive(target) || s.paused.has(target)) return;
    s.paused.add(target);
    await c.kill(target, "SIGSTOP");
    s.restarts.push(
      sleep(f.durationMs).then(async () => {
        await c.kill(target, "SIGCONT");
        s.paused.delete(target);
      }),
    );
  } else {
    s.isolated.add(target);
    await partition(c, [...s.isolated], secret);
    s.restarts.push(
      sleep(f.durationMs).then(async () => {
        s.isolated.delete(target);
        await partition(c, [...s.isolated], secret);
      }),
    );
  }
}

export async function partition(
  c: MetaCluster,
  isolateFrom: number[],
  headers: Record<string, string>,
): Promise<void> {
  for (const id of c.ids) {
    if (!c.alive(id)) continue;
    // A replica that cannot be reached (paused) is skipped; one that answers must take the cut.
    const r = await c.http
      .post(`${c.url(id)}/internal/test/partition`, { isolateFrom }, headers)
      .catch(() => null);
    if (r !== null && r.status !== 200) throw new Error(`partition on replica ${id}: ${JSON.stringify(r)}`);
  }
}

async function client(
  c: ChaosTarget,
  clientId: number,
  random: () => number,
  until: number,
  history: HistoryRecorder<FsInput, FsOutput>,
): Promise<void> {
  const session = await waitUntil("a session", async () => {
    const leader = await c.leader(3000);
    const r = await c.http.post(`${c.url(leader)}/v1/sessions`, {});
    const opened = r.body as { sessionId: number; secret: string };
    return r.status === 200 ? { id: opened.sessionId, secret: opened.secret, seq: 0 } : null;
  });
  let n = 0;
  while (Date.now() < until) {
    const path = PATHS[Math.floor(random() * PATHS.length)]!;
    const value = `c${clientId}-${n++}`;
    const roll = random();
    let input: FsInput;
    if (roll < 0.3) input = { kind: "write", path, value };
    else if (roll < 0.45) input = { kind: "cas", path, value, expected: Math.floor(random() * 4) };
    else if (roll < 0.8) input = { kind: "read", path };
    else if (roll < 0.9) input = { kind: "delete", path };
    else input = { kind: "rename", from: path, to: PATHS[Math.floor(random() * PATHS.length)]! };
    session.seq++;
    await runOp(c, clientId, input, session, history, Date.now() + OP_DEADLINE_MS, random);
  }
}

/**
 * One call with retries (same session seq) until answered or the deadline; then it stays unknown.
 * Reads go to a replica `random` picks (seeded: a run replays). Returns whether it was answered.
 */
async function runOp(
  c: ChaosTarget,
  clientId: number,
  input: FsInput,
  session: { id: number; secret: string; seq: number } | null,
  history: HistoryRecorder<FsInput, FsOutput>,
  deadline: number,
  random: () => number,
): Promise<boolean> {
  const call = history.begin(clientId, input);
  const s = session ? { id: session.id, seq: session.seq, ackedSeq: 0, secret: session.secret } : null;
  while (Date.now() < deadline) {
    const target =
      input.kind === "read"
        ? c.ids[Math.floor(random() * c.ids.length)]!
        : await c.leader(1000).catch(() => null);
    if (target === null) continue;
    let r: HttpResult | null = null;
    try {
      r = await send(c, target, input, s);
    } catch {
      r = null; // connection refused, reset or timed out: maybe it happened; retry the same seq
    }
    const out = r ? toOutput(input, r) : null;
    if (out === "retry" || out === null) {
      await sleep(20);
      continue;
    }
    call.complete(out);
    return true;
  }
  call.unknown();
  return false;
}

function send(
  c: ChaosTarget,
  id: number,
  input: FsInput,
  session: { id: number; seq: number; ackedSeq: number; secret: string } | null,
): Promise<HttpResult> {
  const url = c.url(id);
  const content = (v: string) => ({ kind: "inline", dataBase64: Buffer.from(v).toString("base64") });
  switch (input.kind) {
    case "read":
    case "readData":
      return c.http.get(`${url}/v1/fs/read?path=${encodeURIComponent(input.path)}`);
    case "write":
      return c.http.post(`${url}/v1/fs/commit`, { path: input.path, content: content(input.value), session });
    case "cas":
      return c.http.post(`${url}/v1/fs/commit`, {
        path: input.path,
        content: content(input.value),
        expectedVersion: input.expected,
        session,
      });
    case "delete":
      return c.http.post(`${url}/v1/fs/delete`, { path: input.path, session });
    case "rename":
      return c.http.post(`${url}/v1/fs/rename`, { from: input.from, to: input.to, session });
  }
}

function toOutput(input: FsInput, r: HttpResult): FsOutput | "retry" {
  const body = r.body as Record<string, unknown> | null;
  const code = typeof body?.code === "string" ? body.code : null;
  if (
    r.status === 421 ||
    r.status === 503 ||
    r.status === 504 ||
    code === "UNAVAILABLE" ||
    code === "TIMEOUT"
  ) {
    return "retry";
  }
  if (r.status === 200) {
    if (input.kind === "read") {
      const b = body as { version: number; content: { dataBase64: string } };
      return { value: Buffer.from(b.content.dataBase64, "base64").toString(), version: b.version };
    }
    if (input.kind === "write" || input.kind === "cas")
      return { version: (body as { version: number }).version };
    return { ok: true };
  }
  if (input.kind === "read" && code === "NOT_FOUND") return { missing: true };
  if (code === "VERSION_MISMATCH" || code === "NOT_FOUND" || code === "EXISTS") return { ok: false, code };
  throw new Error(`unexpected answer to ${JSON.stringify(input)}: HTTP ${r.status} ${JSON.stringify(body)}`);
}
