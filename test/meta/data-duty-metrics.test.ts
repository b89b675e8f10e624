/**
 * The repair and GC metrics a dashboard relies on move when the duties act (src/meta/data-nodes/, read
 * back from MetaMetrics' registry by name). A deterministic tracker: the leader's clock and the scans'
 * clock are stepped by the test.
 */
import { describe, expect, test } from "vitest";
import { DataTracker } from "../../src/meta/data-tracker.js";
import { MetaMetrics } from "../../src/meta/metrics.js";

const ID = (n: number) => n.toString(16).padStart(64, "0");
const DEAD_AFTER_MS = 5000;
const GRACE_MS = 10_000;

function setup(opts: { referenced?: string[]; nodes: number; failProposals?: boolean }) {
  let now = 1_000_000;
  let scanClockMs = 0;
  const metrics = new MetaMetrics(1);
  const referenced = new Map((opts.referenced ?? []).map((id) => [id, 1]));
  const tombstones = new Map<string, number>();
  const t = new DataTracker(
    {
      replication: 2,
      deadAfterMs: DEAD_AFTER_MS,
      secret: "secret-secret",
      ticketTtlMs: 60_000,
      maxRepairsInFlight: 8,
      garbageGraceMs: GRACE_MS,
      tombstoneRetentionMs: 1_000_000,
      expectedNodeIds: Array.from({ length: opts.nodes }, (_, i) => i + 1),
    },
    {
      now: () => now,
      referenced: () => referenced,
      chunkSize: () => 100,
      garbage: () => [],
      collectGarbage: async (ids) => {
        await Promise.resolve();
        if (opts.failProposals) throw new Error("no quorum");
        for (const id of ids) tombstones.set(id, now);
        return ids;
      },
      tombstones: () => tombstones,
      reviveChunks: async (ids) => {
        for (const id of ids) tombstones.delete(id);
      },
      forgetTombstones: async () => {},
      // Every reading of the scans' clock is 1 ms later: a round's length is a count, not a measurement.
      scanBudget: { clockMs: () => scanClockMs++, sliceMs: 10, itemsPerClockRead: 256 },
      metrics,
    },
  );
  const register = (id: number, chunks: string[]) =>
    t.register({
      id,
      url: `http://127.0.0.1:${9000 + id}`,
      zone: `z${id}`,
      pid: id,
      capacityBytes: 2e9,
      freeBytes: 1e9,
      usedBytes: 0,
      chunks,
    });
  const beat = (id: number, change: { added?: string[]; removed?: string[]; deleted?: string[] } = {}) =>
    t.heartbeat({
      id,
      pid: id,
      freeBytes: 1e9,
      usedBytes: 0,
      chunkCount: 0,
      added: change.added ?? [],
      removed: change.removed ?? [],
      corrupt: [],
      deleted: change.deleted ?? [],
    }).commands;
  /** The value of a metric as a scrape would show it (a histogram: how many observations). */
  const value = async (name: string): Promise<number> => {
    const m = metrics.registry.getSingleMetric(name);
    if (!m) throw new Error(`no metric ${name}`);
    const values = (await m.get()).values;
    const count = values.find((v) => (v as { metricName?: string }).metricName === `${name}_count`);
    return count ? count.value : values.reduce((sum, v) => sum + v.value, 0);
  };
  // The scrape-time gauges read the tracker (the rest of the source is irrelevant here).
  metrics.watch({
    driver: {
      status: () => ({ term: 1, role: "leader", commitIndex: 0, appliedIndex: 0, snapshotIndex: 0 }) as never,
      onLeaderChange: () => () => {},
    },
    fs: { locks: () => [], sessionCount: 0 },
    tracker: t,
    feed: { waiterCount: 0, clientCount: 0, refusedCount: 0 },
  });
  return { t, register, beat, value, advance: (ms: number) => (now += ms) };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

describe("repair metrics", () => {
  test("a copy scheduled, then reported, moves scheduled and completed; each round is timed", async () => {
    const chunk = ID(1);
    const { t, register, beat, value } = setup({ referenced: [chunk], nodes: 2 });
    register(1, [chunk]);
    register(2, []);
    expect(t.scheduleRepairs()).toBe(1);
    expect(await value("raftfs_meta_repair_copies_scheduled_total")).toBe(1);
    expect(await value("raftfs_meta_repair_copies_completed_total")).toBe(0);
    expect(await value("raftfs_meta_repair_round_seconds")).toBe(1);
    beat(2, { added: [chunk] });
    expect(await value("raftfs_meta_repair_copies_completed_total")).toBe(1);
    // A chunk reported again by another node completes nothing more.
    beat(1, { added: [chunk] });
    expect(await value("raftfs_meta_repair_copies_completed_total")).toBe(1);
  });

  test("a copy never reported expires as a failure and is scheduled again", async () => {
    const chunk = ID(2);
    const { t, register, beat, value, advance } = setup({ referenced: [chunk], nodes: 2 });
    register(1, [chunk]);
    register(2, []);
    t.scheduleRepairs();
    for (let i = 0; i < 4; i++) {
      advance(DEAD_AFTER_MS - 1);
      beat(1);
      beat(2);
    }
    expect(t.scheduleRepairs()).toBe(1);
    expect(await value("raftfs_meta_repair_copies_expired_total")).toBe(1);
    expect(await value("raftfs_meta_repair_copies_scheduled_total")).toBe(2);
  });

  test("chunks with no live copy are counted as unsourced, and under-replicated", async () => {
    const lost = ID(3);
    const kept = ID(4);
    const { t, register, value } = setup({ referenced: [lost, kept], nodes: 2 });
    register(1, [kept]);
    register(2, [kept]);
    t.scheduleRepairs();
    expect(await value("raftfs_meta_repair_unsourced_chunks")).toBe(1);
    expect(await value("raftfs_meta_under_replicated_chunks")).toBe(1);
  });
});

describe("garbage collection metrics", () => {
  test("an orphan past grace is condemned and its deletes sent; rounds are timed; pending drains", async () => {
    const orphan = ID(10);
    const { t, register, beat, value, advance } = setup({ nodes: 2 });
    register(1, [orphan]);
    register(2, [orphan]);
    expect(t.collectGarbage()).toBe(0); // first seen now
    expect(await value("raftfs_meta_gc_pending_chunks")).toBe(1);
    for (let i = 0; i < 3; i++) {
      advance(4000);
      beat(1);
      beat(2);
    }
    expect(t.collectGarbage()).toBe(1);
    await settle();
    expect(await value("raftfs_meta_gc_chunks_condemned_total")).toBe(1);
    expect(await value("raftfs_meta_gc_deletes_sent_total")).toBe(2);
    expect(await value("raftfs_meta_gc_round_seconds")).toBe(2);
    beat(1, { removed: [orphan], deleted: [orphan] });
    beat(2, { removed: [orphan], deleted: [orphan] });
    t.collectGarbage();
    expect(await value("raftfs_meta_gc_pending_chunks")).toBe(0);
  });

  test("a round with an unreported node is counted as in doubt and deletes nothing", async () => {
    const orphan = ID(11);
    const { t, register, value } = setup({ nodes: 2 });
    register(1, [orphan]);
    expect(t.collectGarbage()).toBe(0);
    expect(await value("raftfs_meta_gc_rounds_in_doubt_total")).toBe(1);
    register(2, []);
    t.collectGarbage();
    expect(await value("raftfs_meta_gc_rounds_in_doubt_total")).toBe(1);
  });

  test("a failed collection proposal is counted, and nothing is deleted", async () => {
    const orphan = ID(12);
    const { t, register, beat, value, advance } = setup({ nodes: 1, failProposals: true });
    register(1, [orphan]);
    t.collectGarbage();
    advance(GRACE_MS);
    beat(1);
    expect(t.collectGarbage()).toBe(1);
    await settle();
    expect(await value("raftfs_meta_gc_proposal_failures_total")).toBe(1);
    expect(await value("raftfs_meta_gc_chunks_condemned_total")).toBe(0);
    expect(beat(1)).toEqual([]);
  });

  test("a chunk stored again after its deletion is counted as revived", async () => {
    const orphan = ID(13);
    const { t, register, beat, value, advance } = setup({ nodes: 1 });
    register(1, [orphan]);
    t.collectGarbage();
    advance(GRACE_MS);
    beat(1);
    t.collectGarbage();
    await settle();
    expect(beat(1)).toEqual([{ type: "delete", chunkIds: [orphan] }]);
    beat(1, { added: [orphan], deleted: [orphan] });
    t.collectGarbage();
    await settle();
    expect(await value("raftfs_meta_gc_chunks_revived_total")).toBe(1);
  });
});
