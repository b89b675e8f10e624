/**
 * MetaReplica's own logic over a fake Raft driver (its dependencies are injected; main.ts wires the
 * real ones): how a lost proposal becomes NOT_LEADER with the new leader's hints, that reads wait for a
 * ReadIndex unless stale, and that each leadership gets a fresh data-node tracker whose GC proposals go
 * through the log.
 */
import { describe, expect, test } from "vitest";
import { parseConfig } from "../../src/common/config.js";
import { DfsError } from "../../src/common/errors.js";
import { SILENT_LOGGER } from "../../src/common/log.js";
import { DataTracker, type DataTrackerDeps } from "../../src/meta/data-tracker.js";
import { decodeEntry } from "../../src/meta/entry-codec.js";
import { FsMachine } from "../../src/meta/fs-machine.js";
import { MetaMetrics } from "../../src/meta/metrics.js";
import { MetaReplica, type ReplicaDriver } from "../../src/meta/replica.js";
import type { Command } from "../../src/meta/state/index.js";
import { WatchFeed } from "../../src/meta/watch-feed.js";
import type { LeaderChange, RaftStatus } from "../../src/raft/index.js";

const config = parseConfig({
  meta: [1, 2, 3].map((id) => ({ id, host: "127.0.0.1", port: 7100 + id })),
  data: [{ id: 1, host: "127.0.0.1", port: 7201 }],
  replication: 1,
});

/** Applies each proposal to the machine at once, unless told to lose it; reads count ReadIndex calls. */
class FakeDriver implements ReplicaDriver {
  leaderId: number | null = 1;
  lose: DfsError | null = null;
  readIndexCalls = 0;
  readonly proposed: Command[] = [];
  private index = 0;
  private readonly listeners = new Set<(c: LeaderChange) => void>();
  constructor(private readonly machine: FsMachine) {}
  start(): void {}
  async stop(): Promise<void> {}
  isLeader(): boolean {
    return this.leaderId === 1;
  }
  status(): RaftStatus {
    return {
      id: 1,
      role: this.isLeader() ? "leader" : "follower",
      term: 2,
      leaderId: this.leaderId,
      commitIndex: this.index,
      appliedIndex: this.index,
      lastLogIndex: this.index,
      snapshotIndex: 0,
      snapshotsInstalled: 0,
      peers: [],
      voters: [1, 2, 3],
      learners: [],
    };
  }
  async propose(data: Uint8Array): Promise<unknown> {
    this.proposed.push(decodeEntry(data).command);
    if (this.lose) throw this.lose;
    return this.machine.apply({ index: ++this.index, term: 2, data });
  }
  async proposeConfChange(): Promise<void> {}
  async readIndex(): Promise<void> {
    this.readIndexCalls++;
  }
  onLeaderChange(cb: (c: LeaderChange) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }
  announce(leaderId: number | null): void {
    this.leaderId = leaderId;
    for (const cb of this.listeners) cb({ leaderId, term: 2, isLeader: leaderId === 1 });
  }
}

function setup() {
  const feed = new WatchFeed(config.watch);
  const machine = new FsMachine({ versionsRetained: 2, sessionTimeoutMs: 60_000 }, feed);
  const driver = new FakeDriver(machine);
  const metrics = new MetaMetrics(1);
  const trackers: DataTrackerDeps[] = [];
  const replica = new MetaReplica(
    { config, id: 1, dutyIntervalMs: 3_600_000 },
    {
      driver,
      machine,
      feed,
      metrics,
      log: SILENT_LOGGER,
      now: () => 1_000_000,
      newTracker: (deps) => {
        trackers.push(deps);
        return new DataTracker(
          {
            replication: 1,
            deadAfterMs: 5000,
            secret: "replica-test-secret",
            ticketTtlMs: 1000,
            maxRepairsInFlight: 1,
            garbageGraceMs: 1000,
            tombstoneRetentionMs: 10_000,
            expectedNodeIds: [1],
          },
          deps,
        );
      },
    },
  );
  replica.start();
  return { replica, driver, trackers, metrics };
}

describe("a metadata replica over an injected driver", () => {
  test("a proposal lost to a leader change is NOT_LEADER naming the new leader, and counted so", async () => {
    const { replica, driver, metrics } = setup();
    driver.lose = new DfsError("NOT_LEADER", "lost the election");
    driver.leaderId = 3;
    // The replica still believed it led when it proposed: the hint comes from the driver afterwards.
    driver.isLeader = () => true;
    const err = await replica.mutate({ type: "leaderChanged" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DfsError);
    expect((err as DfsError).toJSON()).toMatchObject({
      code: "NOT_LEADER",
      leaderId: 3,
      leaderUrl: "http://127.0.0.1:7103",
    });
    const ops = await metrics.registry.getSingleMetric("raftfs_meta_operations_total")!.get();
    expect(ops.values).toContainEqual(
      expect.objectContaining({ labels: { op: "leaderChanged", result: "NOT_LEADER" } }),
    );
  });

  test("a follower refuses before proposing, with the leader's hints", async () => {
    const { replica, driver } = setup();
    driver.leaderId = 2;
    await expect(replica.mutate({ type: "leaderChanged" })).rejects.toMatchObject({
      code: "NOT_LEADER",
      details: { leaderId: 2, leaderUrl: "http://127.0.0.1:7102" },
    });
    expect(driver.proposed).toEqual([]);
  });

  test("reads wait for a ReadIndex unless stale", async () => {
    const { replica, driver } = setup();
    await replica.read(false, (fs) => fs.stat("/"));
    await replica.read(true, (fs) => fs.stat("/"));
    expect(driver.readIndexCalls).toBe(1);
  });

  test("each leadership makes a fresh tracker, whose GC proposals go through the log; losing it drops the tracker", async () => {
    const { replica, driver, trackers } = setup();
    expect(replica.tracker).toBeNull();
    driver.announce(1);
    expect(trackers).toHaveLength(1);
    const first = replica.tracker;
    expect(first).not.toBeNull();
    expect(driver.proposed).toEqual([{ type: "leaderChanged" }]);
    // An orphan (never referenced): the log condemns it, and the tracker learns so.
    await expect(trackers[0]!.collectGarbage(["a".repeat(64)], 999)).resolves.toEqual(["a".repeat(64)]);
    expect(driver.proposed.at(-1)).toEqual({
      type: "collectGarbage",
      chunkIds: ["a".repeat(64)],
      beforeMs: 999,
    });
    driver.announce(2);
    expect(replica.tracker).toBeNull();
    driver.announce(1);
    expect(trackers).toHaveLength(2);
    expect(replica.tracker).not.toBe(first);
    await replica.stop();
  });
});
