/**
 * One metadata replica: the file-system state machine under a Raft driver, the watch feed, and, while
 * this replica leads, the data-node tracker with its repair and garbage-collection duties. The driver,
 * the machine and a maker of trackers come in as dependencies (main.ts wires the real ones), so the
 * replica's logic and the HTTP API above it are tested without Raft, LevelDB or processes.
 */
import type { ClusterConfig } from "../common/config.js";
import { metaUrl } from "../common/config.js";
import { DfsError } from "../common/errors.js";
import type { Logger } from "../common/log.js";
import type { ClusterStatus, Membership, ReplicaStatus } from "../common/protocol/index.js";
import type { ConfChange, RaftDriver } from "../raft/index.js";
import type { DataTracker, DataTrackerDeps } from "./data-tracker.js";
import { encodeEntry } from "./entry-codec.js";
import { EventLog } from "./events.js";
import type { FsMachine } from "./fs-machine.js";
import type { MetaMetrics } from "./metrics.js";
import type { ReplicaApi } from "./replica-api.js";
import type { ApplyResult, BatchableCommand, BatchEntryResult, Command, FsState } from "./state/index.js";
import type { WatchFeed } from "./watch-feed.js";

export interface MetaReplicaOptions {
  config: ClusterConfig;
  id: number;
  /** How often the leader runs repair and GC duties. */
  dutyIntervalMs?: number;
}

/** The parts of the Raft driver a replica drives. */
export type ReplicaDriver = Pick<
  RaftDriver,
  "start" | "stop" | "isLeader" | "status" | "propose" | "proposeConfChange" | "readIndex" | "onLeaderChange"
>;

export interface MetaReplicaDeps {
  /** The Raft driver, applying committed entries to `machine`. */
  driver: ReplicaDriver;
  machine: FsMachine;
  /** The change feed `machine` publishes to. */
  feed: WatchFeed;
  /**
   * Makes the data-node tracker at each leadership, from the replica's side of its dependencies
   * (reads of the state, proposals of GC commands); the maker adds the options and metrics.
   */
  newTracker(deps: DataTrackerDeps): DataTracker;
  metrics?: MetaMetrics;
  log: Logger;
  now?: () => number;
}

export class MetaReplica implements ReplicaApi {
  readonly id: number;
  readonly feed: WatchFeed;
  readonly machine: FsMachine;
  readonly driver: ReplicaDriver;
  tracker: DataTracker | null = null;
  readonly events: EventLog;
  private dutyTimer: NodeJS.Timeout | null = null;
  /** Data nodes' liveness at the last duty round, to report transitions as events. */
  private readonly wasAlive = new Map<number, boolean>();
  private corruptSeen = 0;
  private readonly now: () => number;
  private readonly config: ClusterConfig;

  constructor(
    private readonly opts: MetaReplicaOptions,
    private readonly deps: MetaReplicaDeps,
  ) {
    this.id = opts.id;
    this.config = opts.config;
    this.now = deps.now ?? Date.now;
    this.events = new EventLog(200, this.now);
    this.feed = deps.feed;
    this.machine = deps.machine;
    this.driver = deps.driver;
  }

  get fs(): FsState {
    return this.machine.fs;
  }

  start(): void {
    this.driver.onLeaderChange((c) => {
      this.events.add(
        "leader",
        c.leaderId === null ? `term ${c.term}: no leader` : `term ${c.term}: replica ${c.leaderId} leads`,
      );
      if (c.isLeader) this.becameLeader();
      else this.lostLeadership();
    });
    this.driver.start();
  }

  async stop(): Promise<void> {
    this.lostLeadership();
    this.feed.close();
    await this.driver.stop();
    await this.machine.close();
  }

  isLeader(): boolean {
    return this.driver.isLeader();
  }

  leaderUrl(id: number | null): string | null {
    const node = this.config.meta.find((m) => m.id === id);
    return node ? metaUrl(node, this.config.tls !== undefined) : null;
  }

  notLeader(): DfsError {
    const leaderId = this.driver.status().leaderId;
    return new DfsError("NOT_LEADER", "this replica is not the leader", {
      leaderId,
      leaderUrl: this.leaderUrl(leaderId),
    });
  }

  /** Proposes a command stamped with this leader's clock; resolves with its result once applied here. */
  async mutate(command: Command): Promise<unknown> {
    try {
      // Refused here, a rename too large never reaches the log (apply would refuse it anyway).
      if (this.isLeader()) this.fs.checkRenameBound(command);
    } catch (err) {
      if (err instanceof DfsError) this.countOp(command.type, err.code);
      throw err;
    }
    const result = await this.propose(command, [command.type]);
    this.countOp(command.type, result.ok ? "OK" : result.error.code);
    if (!result.ok) throw DfsError.fromBody(result.error);
    return result.value;
  }

  /**
   * Proposes several requests in ONE log entry (Command "batch"): each is applied as if alone, and
   * settles with its own result or error, in order. A proposal that fails as a whole (not the leader,
   * leadership lost before the entry committed) rejects: none of them is known to have applied, and the
   * client retries each under its same session seq.
   */
  async mutateBatch(commands: BatchableCommand[]): Promise<PromiseSettledResult<unknown>[]> {
    const types = commands.map((c) => c.type);
    const result = await this.propose({ type: "batch", commands }, types);
    // A batch's own apply succeeds unless the entry is malformed, which the leader's parse rules out.
    if (!result.ok) throw DfsError.fromBody(result.error);
    return (result.value as BatchEntryResult).map((r, i) => {
      this.countOp(types[i]!, r.ok ? "OK" : r.error.code);
      return r.ok
        ? { status: "fulfilled", value: r.value }
        : { status: "rejected", reason: DfsError.fromBody(r.error) };
    });
  }

  private countOp(op: string, result: string): void {
    this.deps.metrics?.ops.inc({ op, result });
  }

  /** The entry of `command` through Raft; `ops` are the request types it carries, for the counters. */
  private async propose(command: Command, ops: readonly string[]): Promise<ApplyResult> {
    const failed = (code: string) => {
      for (const op of ops) this.countOp(op, code);
    };
    if (!this.isLeader()) {
      failed("NOT_LEADER");
      throw this.notLeader();
    }
    const end = this.deps.metrics?.proposalSeconds.startTimer();
    try {
      return (await this.driver.propose(encodeEntry({ timestampMs: this.now(), command }))) as ApplyResult;
    } catch (err) {
      const code = err instanceof DfsError ? err.code : "INTERNAL";
      failed(code);
      if (code === "NOT_LEADER") throw this.notLeader();
      throw err;
    } finally {
      end?.();
    }
  }

  /** A read at least as new as every write acknowledged before it began (ReadIndex), unless stale. */
  async read<T>(stale: boolean, query: (fs: FsState) => T): Promise<{ value: T; index: number }> {
    if (!stale) await this.driver.readIndex();
    return { value: query(this.fs), index: this.machine.appliedIndex };
  }

  status(): ReplicaStatus {
    const s = this.driver.status();
    const tls = this.config.tls !== undefined;
    const member = (id: number): Membership =>
      s.voters.includes(id) ? "voter" : s.learners.includes(id) ? "learner" : "none";
    const peers = this.config.meta
      .filter((m) => m.id !== this.id)
      .map((m) => {
        const p = s.peers.find((x) => x.id === m.id);
        return {
          id: m.id,
          url: metaUrl(m, tls),
          member: member(m.id),
          ...(p ? { match: p.match, next: p.next, state: p.state, recentActive: p.recentActive } : {}),
        };
      });
    return {
      id: this.id,
      url: this.leaderUrl(this.id) ?? "",
      role: s.role,
      term: s.term,
      leader: s.leaderId,
      leaderUrl: this.leaderUrl(s.leaderId),
      commitIndex: s.commitIndex,
      appliedIndex: s.appliedIndex,
      lastLogIndex: s.lastLogIndex,
      snapshotIndex: s.snapshotIndex,
      snapshotsInstalled: s.snapshotsInstalled,
      pid: process.pid,
      member: member(this.id),
      peers,
    };
  }

  // ---------------------------------------------------------------- admin: membership, decommission

  /**
   * Adds a metadata replica of the config (its address book) as a learner; the Raft core promotes it
   * to voter by itself once it has caught up. Resolves once the change is applied here.
   */
  async addMetaReplica(id: number): Promise<{ id: number; url: string; state: "learner" }> {
    const node = this.config.meta.find((m) => m.id === id);
    if (!node) {
      throw new DfsError(
        "NOT_FOUND",
        `no metadata replica ${id} in the config: add it there (join: true) first`,
        {
          id,
        },
      );
    }
    await this.changeConf({ type: "addLearner", nodeId: id, promoteWhenCaughtUp: true });
    this.events.add("membership", `replica ${id} added as a learner (promoted once caught up)`);
    return { id, url: metaUrl(node, this.config.tls !== undefined), state: "learner" };
  }

  /** Removes a metadata replica (voter or learner). A leader removing itself hands over first. */
  async removeMetaReplica(id: number): Promise<{ id: number; removed: true }> {
    await this.changeConf({ type: "removeNode", nodeId: id });
    this.events.add("membership", `replica ${id} removed`);
    return { id, removed: true };
  }

  private async changeConf(cc: ConfChange): Promise<void> {
    if (!this.isLeader()) throw this.notLeader();
    try {
      await this.driver.proposeConfChange(cc);
    } catch (err) {
      if (err instanceof DfsError && err.code === "NOT_LEADER") throw this.notLeader();
      if (err instanceof DfsError && err.code === "BAD_REQUEST") {
        throw new DfsError(
          "CONDITION_FAILED",
          `cannot ${cc.type} replica ${cc.nodeId}: ${cc.type === "addLearner" ? "it is a member already" : "it is not a member, or the last voter"}`,
          { id: cc.nodeId },
        );
      }
      throw err;
    }
  }

  private dataNodeOfConfig(id: number): void {
    if (!this.config.data.some((d) => d.id === id)) {
      throw new DfsError("NOT_FOUND", `no data node ${id} in the config`, { id });
    }
  }

  /** Decommission: the node takes no new chunks; repairs copy its chunks to the others. */
  async decommissionDataNode(id: number): Promise<{ id: number; state: string; remainingChunks: number }> {
    this.dataNodeOfConfig(id);
    const tracker = this.leaderTracker();
    const rec = (await this.mutate({ type: "drainDataNode", nodeId: id })) as { state: string };
    this.events.add("decommission", `data node ${id} is draining`);
    return { id, state: rec.state, remainingChunks: tracker.drainRemaining(id) };
  }

  /**
   * Removes a drained data node for good. Refused while some of its chunks still lack R copies on
   * active nodes, or while the leader has no report from it to judge by, unless `force`.
   */
  async removeDataNode(id: number, force: boolean): Promise<{ id: number; state: string }> {
    this.dataNodeOfConfig(id);
    const tracker = this.leaderTracker();
    if (this.fs.dataNodeState(id) !== "draining" && this.fs.dataNodeState(id) !== "removed") {
      throw new DfsError("CONDITION_FAILED", `decommission data node ${id} first (it is active)`, { id });
    }
    if (!force && this.fs.dataNodeState(id) === "draining") {
      const node = tracker.nodes.get(id);
      if (!node || !tracker.reportsComplete()) {
        throw new DfsError(
          "CONDITION_FAILED",
          `no complete report from data node ${id} yet: cannot tell it is drained`,
          {
            id,
          },
        );
      }
      const remaining = tracker.drainRemaining(id);
      if (remaining > 0) {
        throw new DfsError(
          "CONDITION_FAILED",
          `data node ${id} still holds ${remaining} chunk(s) without R copies elsewhere`,
          {
            id,
            remainingChunks: remaining,
          },
        );
      }
    }
    const rec = (await this.mutate({ type: "retireDataNode", nodeId: id })) as { state: string };
    this.tracker?.forget(id);
    this.events.add("decommission", `data node ${id} removed from the cluster`);
    return { id, state: rec.state };
  }

  private leaderTracker(): DataTracker {
    if (!this.isLeader() || this.tracker === null) throw this.notLeader();
    return this.tracker;
  }

  /** The data half of the cluster status, as this leader's tracker sees it. */
  dataStatus(): Pick<ClusterStatus, "data" | "underReplicatedChunks" | "corruptChunks"> {
    const t = this.tracker;
    const data = this.config.data.map((d) => {
      const n = t?.nodes.get(d.id);
      return {
        id: d.id,
        url: n?.url ?? metaUrl(d, this.config.tls !== undefined),
        zone: d.zone,
        pid: n?.pid ?? null,
        alive: n !== undefined && (t?.isAlive(n) ?? false),
        chunks: n?.chunks.size ?? 0,
        usedBytes: n?.usedBytes ?? 0,
        freeBytes: n?.freeBytes ?? 0,
        capacityBytes: n?.capacityBytes ?? 0,
        state: this.fs.dataNodeState(d.id),
        ...(this.fs.dataNodeState(d.id) === "draining" && t
          ? { drainRemainingChunks: t.drainRemaining(d.id) }
          : {}),
      };
    });
    return {
      data,
      underReplicatedChunks: t?.underReplicated().length ?? 0,
      corruptChunks: t?.corruptFound ?? 0,
    };
  }

  private becameLeader(): void {
    // Leases restart in full under the new leader: a failover never expires a lock early.
    this.mutate({ type: "leaderChanged" }).catch((err) =>
      this.deps.log.warn({ err }, "could not commit leaderChanged"),
    );
    this.tracker = this.deps.newTracker({
      now: this.now,
      referenced: () => this.fs.referencedChunks(),
      chunkSize: (id) => this.fs.chunkSize(id),
      garbage: () => this.fs.garbageChunks(),
      nodeState: (id) => this.fs.dataNodeState(id),
      tombstones: () => this.fs.tombstoneMap(),
      collectGarbage: async (chunkIds, beforeMs) => {
        const r = (await this.proposeDuty({ type: "collectGarbage", chunkIds, beforeMs })) as {
          removed: string[];
        };
        if (r.removed.length > 0)
          this.events.add("gc", `${r.removed.length} unreferenced chunk(s) collected`);
        return r.removed;
      },
      reviveChunks: async (chunkIds) => {
        await this.proposeDuty({ type: "reviveChunks", chunkIds });
      },
      forgetTombstones: async (beforeMs) => {
        await this.proposeDuty({ type: "forgetTombstones", beforeMs });
      },
    });
    const every = this.opts.dutyIntervalMs ?? 500;
    this.dutyTimer = setInterval(() => this.leaderDuties(), every);
  }

  /** A proposal of the leader's own bookkeeping: a failure is logged, and the next round tries again. */
  private async proposeDuty(command: Command): Promise<unknown> {
    try {
      return await this.mutate(command);
    } catch (err) {
      this.deps.log.warn({ err }, `${command.type} failed`);
      throw err;
    }
  }

  private lostLeadership(): void {
    if (this.dutyTimer) clearInterval(this.dutyTimer);
    this.dutyTimer = null;
    this.tracker = null;
    this.wasAlive.clear();
    this.corruptSeen = 0;
  }

  private leaderDuties(): void {
    const t = this.tracker;
    if (!t) return;
    for (const n of t.nodes.values()) {
      const alive = t.isAlive(n);
      if (this.wasAlive.get(n.id) !== alive) {
        this.events.add(
          alive ? "data-node-alive" : "data-node-dead",
          `data node ${n.id} (${n.url}) is ${alive ? "alive" : "dead"}`,
        );
        this.wasAlive.set(n.id, alive);
      }
    }
    if (t.corruptFound > this.corruptSeen) {
      this.events.add("corrupt", `${t.corruptFound - this.corruptSeen} corrupt chunk(s) reported`);
      this.corruptSeen = t.corruptFound;
    }
    const repairs = t.scheduleRepairs();
    if (repairs > 0) this.events.add("repair", `${repairs} chunk copies scheduled`);
    t.collectGarbage();
    for (const n of t.nodes.values()) t.signQueued(n);
  }
}
