/**
 * A deterministic simulation of data nodes around one leader's DataTracker (src/meta/data-tracker.ts):
 * the leader's clock and the scans' clock are stepped by the test, heartbeats carry the leader's
 * commands, and the nodes carry them out at once.
 */
import type { DataHeartbeatResponse, DataNodeCommand } from "../../src/common/protocol/index.js";
import { DataTracker } from "../../src/meta/data-tracker.js";

export const ID = (n: number) => n.toString(16).padStart(64, "0");
export const R = 3;
export const DEAD_AFTER_MS = 5000;
export const BEAT_MS = 1000;
/** Three missed heartbeats: a node is stale (placement avoids it) well before it is dead. */
export const STALE_AFTER_MS = 2500;

export interface SimNode {
  id: number;
  zone: string;
  up: boolean;
  chunks: Set<string>;
  added: Set<string>;
  removed: Set<string>;
  deleted: Set<string>;
}

/** A cluster of data nodes around one leader's tracker; `leaderChange` starts a fresh tracker. */
export class Sim {
  now = 1_000_000;
  private scanClockMs = 0;
  readonly referenced = new Map<string, number>();
  /** How often the referenced chunks were walked (the queue's rounds should not). */
  walks = 0;
  readonly nodes: SimNode[];
  /** The replicated decommission table, as the state machine would answer it. */
  readonly draining = new Set<number>();
  tracker!: DataTracker;

  constructor(zones: readonly string[]) {
    this.nodes = zones.map((zone, i) => ({
      id: i + 1,
      zone,
      up: true,
      chunks: new Set(),
      added: new Set(),
      removed: new Set(),
      deleted: new Set(),
    }));
    this.leaderChange();
  }

  leaderChange(): void {
    const referenced = this.referenced;
    const walked = () => this.walks++;
    // Counts the walks over every referenced chunk (keys() is what a full pass iterates).
    const view = new Proxy(referenced, {
      get(target, prop) {
        if (prop === "keys") {
          return () => {
            walked();
            return target.keys();
          };
        }
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    this.tracker = new DataTracker(
      {
        replication: R,
        deadAfterMs: DEAD_AFTER_MS,
        staleAfterMs: STALE_AFTER_MS,
        secret: "secret-secret",
        ticketTtlMs: 60_000,
        maxRepairsInFlight: 4,
        garbageGraceMs: 60_000,
        tombstoneRetentionMs: 1_000_000,
        expectedNodeIds: this.nodes.map((n) => n.id),
      },
      {
        now: () => this.now,
        nodeState: (id) => (this.draining.has(id) ? "draining" : "active"),
        referenced: () => view,
        chunkSize: (id) => (referenced.has(id) ? 100 : undefined),
        garbage: () => [],
        collectGarbage: async () => [],
        tombstones: () => new Map(),
        reviveChunks: async () => {},
        forgetTombstones: async () => {},
        scanBudget: { clockMs: () => this.scanClockMs++, sliceMs: 10, itemsPerClockRead: 256 },
      },
    );
    for (const n of this.nodes) if (n.up) this.register(n);
  }

  register(n: SimNode): void {
    n.added.clear();
    n.removed.clear();
    n.deleted.clear();
    this.tracker.register({
      id: n.id,
      url: `http://127.0.0.1:${9000 + n.id}`,
      zone: n.zone,
      pid: n.id,
      capacityBytes: 1e12,
      freeBytes: 1e12,
      usedBytes: 0,
      chunks: [...n.chunks],
    });
  }

  node(id: number): SimNode {
    return this.nodes.find((n) => n.id === id)!;
  }

  store(n: SimNode, chunkId: string): void {
    if (n.chunks.has(chunkId)) return;
    n.chunks.add(chunkId);
    n.removed.delete(chunkId);
    n.added.add(chunkId);
  }

  drop(n: SimNode, chunkId: string, ordered: boolean): void {
    if (!n.chunks.delete(chunkId)) return;
    n.added.delete(chunkId);
    n.removed.add(chunkId);
    if (ordered) n.deleted.add(chunkId);
  }

  /** A client writes a new chunk: placed by the leader, stored on the nodes that took it, committed. */
  write(chunkId: string, failedTargets: number): void {
    const targets = this.tracker.choose(100, R, new Set());
    this.tracker.recordPlacement(chunkId, targets);
    for (const t of targets.slice(0, Math.max(1, targets.length - failedTargets))) {
      const n = this.node(t.id);
      if (n.up) this.store(n, chunkId);
    }
    if ([...this.nodes].some((n) => n.chunks.has(chunkId))) this.referenced.set(chunkId, 1);
  }

  private execute(from: SimNode, c: DataNodeCommand): void {
    if (c.type === "delete") {
      // Acknowledged whether or not the chunk was there, as src/data/leader-link.ts does.
      for (const id of c.chunkIds) {
        this.drop(from, id, true);
        from.deleted.add(id);
      }
      return;
    }
    if (!from.chunks.has(c.chunkId)) return;
    for (const t of c.targets) {
      const n = this.node(t.id);
      if (n.up) this.store(n, c.chunkId);
    }
  }

  /** Nodes whose next heartbeat answer is lost on its way (its commands never arrive). */
  readonly loseAnswer = new Set<number>();
  /** Each node's last heartbeat answer. */
  readonly answers = new Map<number, DataHeartbeatResponse>();

  /** One heartbeat interval: every node up reports, carries out its commands; then a duty round. */
  tick(): void {
    this.now += BEAT_MS;
    this.scanClockMs += BEAT_MS;
    for (const n of this.nodes) {
      if (!n.up) continue;
      const r = this.tracker.heartbeat({
        id: n.id,
        pid: n.id,
        freeBytes: 1e12,
        usedBytes: 0,
        chunkCount: n.chunks.size,
        added: [...n.added],
        removed: [...n.removed],
        corrupt: [],
        deleted: [...n.deleted],
      });
      n.added.clear();
      n.removed.clear();
      n.deleted.clear();
      this.answers.set(n.id, r);
      if (r.reregister) this.register(n);
      if (this.loseAnswer.delete(n.id)) continue;
      for (const c of r.commands) this.execute(n, c);
    }
    this.tracker.scheduleRepairs();
  }

  /** Nodes with a delete of `chunkId` waiting in their command queue at the leader. */
  deleteOrdered(chunkId: string): number[] {
    return [...this.tracker.nodes.values()]
      .filter((n) => n.queue.some((c) => c.type === "delete" && c.chunkIds.includes(chunkId)))
      .map((n) => n.id);
  }

  /** Live copies of a chunk and the zones they span. */
  copies(chunkId: string): { count: number; zones: number } {
    const holders = this.nodes.filter((n) => n.up && n.chunks.has(chunkId));
    return { count: holders.length, zones: new Set(holders.map((n) => n.zone)).size };
  }
}
