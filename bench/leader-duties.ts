/**
 * How long the metadata leader's periodic data-node duties hold its event loop, as the cluster grows:
 * the repair scan (every referenced chunk against every live node) and the garbage-collection round
 * (tombstone duties, then the orphan scan over every node's inventory). Both run every 500 ms on the
 * same thread as Raft, so a round longer than an election timeout (500 ms by default) would cost the
 * leadership. Synthetic state: `chunks` referenced chunks with 3 copies spread over 4 nodes, and a
 * tenth as many tombstones. Rounds 2 and 3 follow round 1 after 10 ms: a slow GC round is followed by
 * a pause, so they show 0 for GC.
 *
 *   npx tsx bench/leader-duties.ts [--chunks 100000,1000000]
 */
import { parseArgs } from "node:util";
import { DataTracker } from "../src/meta/data-tracker.js";

const { values } = parseArgs({ options: { chunks: { type: "string", default: "100000,1000000" } } });
const SIZES = values.chunks.split(",").map(Number);
const NODES = 4;
const ID = (n: number) => n.toString(16).padStart(64, "0");

console.log("| referenced chunks | copies | tombstones | round | repair scan ms | GC round ms |");
console.log("|---:|---:|---:|---:|---:|---:|");
for (const chunks of SIZES) {
  const referenced = new Map<string, number>();
  for (let i = 0; i < chunks; i++) referenced.set(ID(i), 1);
  const now = 1_000_000;
  // Recent tombstones: none due to be forgotten, so the round does its full work.
  const tombstones = new Map(Array.from({ length: chunks / 10 }, (_, i) => [ID(chunks + i), now]));
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
      garbage: () => [],
      collectGarbage: async () => [],
      tombstones: () => tombstones,
      reviveChunks: async () => {},
      forgetTombstones: async () => {},
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
      `| ${chunks} | ${chunks * 3} | ${tombstones.size} | ${round} | ${(t1 - t0).toFixed(0)} | ${(t2 - t1).toFixed(0)} |`,
    );
    await new Promise((r) => setTimeout(r, 10));
  }
}
