/**
 * A follower restart timed and split (issue 15: a restarted follower caught up within 5 s), shared by
 * bench/many-files.ts and bench/snapshot-catchup.ts.
 *
 * The follower is killed (kill -9, its folder kept), `writesWhileDown` files are written meanwhile, it
 * is started again, and its own /status is polled every 20 ms from spawn until it applied the leader's
 * commit index. The time is split from two sources:
 * - the follower's log (info level): module loading, the Raft store's open (LevelDB open and the log's
 *   check), the state store's open (LevelDB open and its applied index read), the listen;
 * - its /status polls: the first answer (what it had on disk: applied index, last log index), the
 *   leader known, the tail of its own log applied (entries it held but had not applied: the replay),
 *   its log reaching the leader's commit index (the append rounds), and caught up.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "undici";
import type { ReplicaStatus } from "../../src/common/protocol/meta.js";
import type { TestCluster } from "../../test/support/cluster-harness.js";
import { load } from "./procs.js";

export interface RestartSplit {
  /** Entries the leader committed beyond what the follower had applied when it was killed. */
  entriesBehind: number;
  /** ms from spawn, or null when not seen. */
  listeningMs: number | null;
  /** From the follower's "listening" line: load, raftStore, stateStore, listen (ms each). */
  startMs: Record<string, number>;
  firstAnswerMs: number | null;
  /** What the first /status answer held: the applied index and last log index read from disk. */
  appliedAtStart: number | null;
  lastLogAtStart: number | null;
  leaderKnownMs: number | null;
  /** Its own log's tail (up to lastLogAtStart) applied. */
  tailAppliedMs: number | null;
  /** Its log holds the leader's commit index (the append rounds done). */
  logCaughtUpMs: number | null;
  caughtUpMs: number;
}

async function replicaStatus(url: string): Promise<ReplicaStatus | null> {
  try {
    const res = await request(`${url}/status`, { headersTimeout: 1000, bodyTimeout: 1000 });
    const text = await res.body.text();
    return res.statusCode === 200 ? (JSON.parse(text) as ReplicaStatus) : null;
  } catch {
    return null; // not listening yet
  }
}

/** Kill -9, writes while down, restart; polls until caught up (at most `maxSeconds`). */
export async function timeFollowerRestart(
  cluster: TestCluster,
  opts: {
    follower: number;
    leader: number;
    writesWhileDown: number;
    write: (i: number) => Promise<unknown>;
    maxSeconds: number;
  },
): Promise<RestartSplit> {
  const { follower, leader } = opts;
  const before = (await cluster.status()).meta.find((m) => m.id === follower)?.appliedIndex ?? 0;
  await cluster.kill("meta", follower);
  const w = await load(64, opts.writesWhileDown, 300, async (i) => {
    await opts.write(i);
  });
  if (w.errors > 0) throw new Error(`${w.errors} write errors while the follower was down`);
  const target = (await cluster.status()).meta.find((m) => m.id === leader)?.commitIndex ?? 0;
  const url = cluster.url("meta", follower);
  const t0 = performance.now();
  const t0Ms = Date.now();
  cluster.launch("meta", follower);
  const since = () => Math.round(performance.now() - t0);
  const split: RestartSplit = {
    entriesBehind: target - before,
    listeningMs: null,
    startMs: {},
    firstAnswerMs: null,
    appliedAtStart: null,
    lastLogAtStart: null,
    leaderKnownMs: null,
    tailAppliedMs: null,
    logCaughtUpMs: null,
    caughtUpMs: Number.NaN,
  };
  const deadline = t0 + opts.maxSeconds * 1000;
  for (;;) {
    if (performance.now() > deadline)
      throw new Error(`the restarted follower not caught up in ${opts.maxSeconds} s`);
    const s = await replicaStatus(url);
    if (s) {
      split.firstAnswerMs ??= since();
      split.appliedAtStart ??= s.appliedIndex;
      split.lastLogAtStart ??= s.lastLogIndex;
      if (s.leader !== null) split.leaderKnownMs ??= since();
      if (s.appliedIndex >= split.lastLogAtStart) split.tailAppliedMs ??= since();
      if (s.lastLogIndex >= target) split.logCaughtUpMs ??= since();
      if (s.appliedIndex >= target) {
        split.caughtUpMs = since();
        break;
      }
    }
    await sleep(20);
  }
  for (const l of cluster.logs("meta", follower).split("\n")) {
    if (!l.startsWith("{")) continue;
    const rec = JSON.parse(l) as { time?: number; msg?: string; startMs?: Record<string, number> };
    if (rec.msg === "metadata replica listening" && (rec.time ?? 0) >= t0Ms) {
      split.listeningMs = (rec.time ?? 0) - t0Ms;
      split.startMs = rec.startMs ?? {};
    }
  }
  return split;
}

/** One line of a markdown table: caught up, then each part of the split. */
export function restartRow(s: RestartSplit): string {
  const ms = (x: number | null | undefined) => (x === null || x === undefined ? "?" : String(x));
  return (
    `| ${(s.caughtUpMs / 1000).toFixed(2)} | ${s.entriesBehind} | ${ms(s.startMs.load)} | ${ms(s.startMs.raftStore)} | ` +
    `${ms(s.startMs.stateStore)} | ${ms(s.startMs.listen)} | ${ms(s.listeningMs)} | ${ms(s.firstAnswerMs)} | ` +
    `${ms(s.appliedAtStart)}/${ms(s.lastLogAtStart)} | ${ms(s.leaderKnownMs)} | ${ms(s.tailAppliedMs)} | ` +
    `${ms(s.logCaughtUpMs)} | ${s.caughtUpMs} |`
  );
}

export const RESTART_HEADER =
  "| caught up, s | entries behind | module load ms | Raft store open | state store open | listen | " +
  "listening at | first answer at | applied/last log at start | leader known at | own tail applied at | " +
  "log has the commit at | caught up at (ms) |\n|" +
  "---:|".repeat(13);
