/**
 * How long the metadata leader's periodic data-node duties hold its event loop, as the cluster grows:
 * the repair round (since the needed-replication queue, its first rounds are the leader-start pass
 * over every referenced chunk, the only such walk; see the second table) and the garbage-collection round
 * (tombstone duties, then the orphan scan over every node's inventory). Both run every 500 ms on the
 * same thread as Raft, so a round longer than an election timeout (500 ms by default) would cost the
 * leadership. Synthetic state: `chunks` referenced chunks with 3 copies spread over 4 nodes, a tenth
 * as many tombstones, and a tenth as many chunks on the garbage list (still within their grace period,
 * so the round reads, sorts and judges the whole list, as the replica's `garbageChunks()` does, through
 * the state machine's own ChunkRefs). A slow GC round is followed by a pause of 20 times its length:
 * the tracker's scan clock is moved past it between rounds, so every row measures a round that ran.
 *
 * A second table times repair's reaction, on the tracker's real clock (10 ms slices): first rounds
 * until one takes under 1 ms (the leader-start pass is over; a rescan never gets there, since every
 * round runs its whole slice), at most 6000; then one node reports a handful of its chunks gone (8,
 * spread over the whole range): rounds, and ms of rounds, until all 8 are scheduled for copying; then
 * the mean of 20 quiet rounds. The same file runs against an older repair.ts for the "before" rows.
 *
 *   npx tsx bench/leader-duties.ts [--chunks 100000,1000000]
 */
import { parseArgs } from "node:util";
import { DataTracker } from "../src/meta/data-tracker.js";
import { byTime, ChunkRefs } from "../src/meta/state/chunks.js";
import { MemoryStore } from "../src/meta/state/memory-store.js";
import { garbageEntries } from "../src/meta/state/state-dump.js";
import { Overlay } from "../src/meta/state/store.js";

const { values } = parseArgs({ options: { chunks: { type: "string", default: "100000,1000000" } } });
const SIZES = values.chunks.split(",").map(Number);
const NODES = 4;
const ID = (n: number) => n.toString(16).padStart(64, "0");
const OPTIONS = {
  replication: 3,
  deadAfterMs: 10_000,
  secret: "bench-secret-0123456789",
  ticketTtlMs: 60_000,
  maxRepairsInFlight: 16,
  garbageGraceMs: 600_000,
  tombstoneRetentionMs: 7 * 86_400_000,
  expectedNodeIds: Array.from({ length: NODES }, (_, i) => i + 1),
};

/** Node n holds every chunk i with i % NODES !== n - 1: three copies each, over four zones. */
function registerNodes(tracker: DataTracker, chunks: number): void {
  for (let n = 1; n <= NODES; n++) {
    const held: string[] = [];
    for (let i = 0; i < chunks; i++) if (i % NODES !== n - 1) held.push(ID(i));
    tracker.register({
      id: n,
      url: `http://127.0.0.1:${9000 + n}`,
      zone: `z${n}`,
      pid: n,
      capacityBytes: 1e15,
      freeBytes: 1e15,
      usedBytes: 0,
      chunks: held,
    });
  }
}

console.log(
  "| referenced chunks | copies | tombstones | garbage listed | round | repair scan ms | GC round ms |",
);
console.log("|---:|---:|---:|---:|---:|---:|---:|");
for (const chunks of SIZES) {
  const referenced = new Map<string, number>();
  for (let i = 0; i < chunks; i++) referenced.set(ID(i), 1);
  const now = 1_000_000;
  // Recent tombstones: none due to be forgotten, so the round does its full work.
  const tombstones = new Map(Array.from({ length: chunks / 10 }, (_, i) => [ID(chunks + i), now]));
  // Garbage as the state machine keeps it (its list is sorted on every read), none past its grace.
  const store = new MemoryStore();
  const tx = new Overlay(store);
  new ChunkRefs(tx).abandon(
    Array.from({ length: chunks / 10 }, (_, i) => ID(2 * chunks + i)),
    now,
  );
  store.commit(tx.take(), 1);
  const garbageList = () => byTime(garbageEntries(store));
  const garbageListed = garbageList().length;
  // The slices are 10 ms on this clock, as in the server; the skew skips the pause after a slow round.
  let skewMs = 0;
  const tracker = new DataTracker(OPTIONS, {
    now: () => now,
    referenced: () => referenced,
    chunkSize: () => 4 * 1024 * 1024,
    garbage: garbageList,
    collectGarbage: async () => [],
    tombstones: () => tombstones,
    reviveChunks: async () => {},
    forgetTombstones: async () => {},
    scanBudget: { clockMs: () => performance.now() + skewMs, sliceMs: 10, itemsPerClockRead: 256 },
  });
  registerNodes(tracker, chunks);
  for (let round = 1; round <= 3; round++) {
    const t0 = performance.now();
    tracker.scheduleRepairs();
    const t1 = performance.now();
    tracker.collectGarbage();
    const t2 = performance.now();
    console.log(
      `| ${chunks} | ${chunks * 3} | ${tombstones.size} | ${garbageListed} | ${round} | ${(t1 - t0).toFixed(0)} | ${(t2 - t1).toFixed(0)} |`,
    );
    skewMs += 3_600_000;
  }
}

/** Rounds (at most `max`) and their ms until `done` says so after a round. */
function roundsUntil(tracker: DataTracker, max: number, done: (queued: number, roundMs: number) => boolean) {
  let ms = 0;
  for (let rounds = 1; rounds <= max; rounds++) {
    const t0 = performance.now();
    const queued = tracker.scheduleRepairs();
    const roundMs = performance.now() - t0;
    ms += roundMs;
    if (done(queued, roundMs)) return { rounds, ms };
  }
  return { rounds: max, ms };
}

console.log();
console.log(
  "| referenced chunks | leader-start rounds | their ms | rounds to schedule 8 lost | their ms | quiet round ms |",
);
console.log("|---:|---:|---:|---:|---:|---:|");
for (const chunks of SIZES) {
  const referenced = new Map<string, number>();
  for (let i = 0; i < chunks; i++) referenced.set(ID(i), 1);
  const tracker = new DataTracker(OPTIONS, {
    now: () => 1_000_000,
    referenced: () => referenced,
    chunkSize: () => 4 * 1024 * 1024,
    garbage: () => [],
    collectGarbage: async () => [],
    tombstones: () => new Map(),
    reviveChunks: async () => {},
    forgetTombstones: async () => {},
  });
  registerNodes(tracker, chunks);
  // The leader-start pass: over once a round is short (a rescan never is: it runs its whole slice).
  const start = roundsUntil(tracker, 6000, (_, roundMs) => roundMs < 1);
  const lost = Array.from({ length: 8 }, (_, k) => ID(k * Math.floor(chunks / 8) + 1)); // all on node 1
  tracker.heartbeat({
    id: 1,
    pid: 1,
    freeBytes: 1e15,
    usedBytes: 0,
    chunkCount: chunks,
    added: [],
    removed: lost,
    corrupt: [],
  });
  let scheduled = 0;
  const react = roundsUntil(tracker, 2000, (queued) => (scheduled += queued) >= lost.length);
  const quiet = roundsUntil(tracker, 20, () => false);
  console.log(
    `| ${chunks} | ${start.rounds} | ${start.ms.toFixed(0)} | ${react.rounds} | ${react.ms.toFixed(1)} | ${(quiet.ms / quiet.rounds).toFixed(3)} |`,
  );
}
