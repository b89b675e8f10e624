/**
 * How long the metadata leader's periodic data-node duties hold its event loop, as the cluster grows:
 * the repair scan (every referenced chunk against every live node) and the garbage-collection round
 * (tombstone duties, then the orphan scan over every node's inventory). Both run every 500 ms on the
 * same thread as Raft, so a round longer than an election timeout (500 ms by default) would cost the
 * leadership. Synthetic state: `chunks` referenced chunks with 3 copies spread over 4 nodes, a tenth
 * as many tombstones, and a tenth as many chunks on the garbage list (still within their grace period,
 * so the round reads, sorts and judges the whole list, as the replica's `garbageChunks()` does, through
 * the state machine's own ChunkRefs). A slow GC round is followed by a pause of 20 times its length:
 * the tracker's scan clock is moved past it between rounds, so every row measures a round that ran.
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
  const tracker = new DataTracker(
    {
      replication: 3,
      deadAfterMs: 10_000,
      secret: "bench-secret-0123456789",
      ticketTtlMs: 60_000,
      maxRepairsInFlight: 16,
      garbageGraceMs: 600_000,
      tombstoneRetentionMs: 7 * 86_400_000,
      expectedNodeIds: Array.from({ length: NODES }, (_, i) => i + 1),
    },
    {
      now: () => now,
      referenced: () => referenced,
      chunkSize: () => 4 * 1024 * 1024,
      garbage: garbageList,
      collectGarbage: async () => [],
      tombstones: () => tombstones,
      reviveChunks: async () => {},
      forgetTombstones: async () => {},
      scanBudget: { clockMs: () => performance.now() + skewMs, sliceMs: 10, itemsPerClockRead: 256 },
    },
  );
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
