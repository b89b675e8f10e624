/**
 * The leader's soft state about data nodes, and the duties it drives: one object per leadership that
 * wires the rooms of src/meta/data-nodes/ together — who the nodes are (registry), where new chunks
 * go (placement), where chunks can be read (locations), copies for under-replicated chunks and trims of over-replicated ones (repair),
 * and deletion of unreferenced ones (garbage). Each room has one job; this file only routes a node's
 * reports to the rooms that learn from them.
 */
import type {
  DataHeartbeatRequest,
  DataHeartbeatResponse,
  DataRegisterRequest,
  NodeAddress,
} from "../common/protocol/index.js";
import type { GarbageMetrics, RepairMetrics } from "./data-nodes/duty-metrics.js";
import { GarbageCollector, type GarbageDeps, type GarbageOptions } from "./data-nodes/garbage.js";
import { ChunkLocations } from "./data-nodes/locations.js";
import { Placement, type PlacementOptions } from "./data-nodes/placement.js";
import {
  NodeRegistry,
  type NodeRegistryDeps,
  type NodeRegistryOptions,
  type TrackedNode,
} from "./data-nodes/registry.js";
import { type RepairDeps, RepairDuty, type RepairOptions } from "./data-nodes/repair.js";
import type { ScanBudget } from "./sliced-scan.js";

export type { TrackedNode } from "./data-nodes/registry.js";

export interface DataTrackerOptions
  extends NodeRegistryOptions,
    PlacementOptions,
    RepairOptions,
    GarbageOptions {}

export interface DataTrackerDeps
  extends NodeRegistryDeps,
    Pick<RepairDeps, "referenced" | "chunkSize">,
    Pick<GarbageDeps, "garbage" | "collectGarbage" | "tombstones" | "forgetTombstones" | "reviveChunks"> {
  /**
   * How long each round's scans may run, and the monotonic clock that measures them and spaces slow
   * GC rounds. Default: SCAN_SLICE_MS on performance.now; tests pass a clock they step themselves.
   */
  scanBudget?: ScanBudget;
  /** What repair and GC record (MetaMetrics.repair / .garbage). Default: nothing. */
  metrics?: { repair: RepairMetrics; garbage: GarbageMetrics };
}

/** How long (ms) each of a round's scans may run before it stops and resumes at the next round. */
const SCAN_SLICE_MS = 10;

export class DataTracker {
  private readonly registry: NodeRegistry;
  private readonly placement: Placement;
  private readonly chunkLocations: ChunkLocations;
  private readonly repair: RepairDuty;
  private readonly garbage: GarbageCollector;

  constructor(opts: DataTrackerOptions, deps: DataTrackerDeps) {
    const budget = deps.scanBudget ?? {
      clockMs: () => performance.now(),
      sliceMs: SCAN_SLICE_MS,
      itemsPerClockRead: 256,
    };
    const registry = new NodeRegistry(opts, deps);
    const placement = new Placement(opts, registry);
    this.registry = registry;
    this.placement = placement;
    const chunkLocations = new ChunkLocations(opts, registry);
    this.chunkLocations = chunkLocations;
    this.repair = new RepairDuty(opts, {
      registry,
      placement,
      referenced: deps.referenced,
      chunkSize: deps.chunkSize,
      budget,
      trimmed: (chunkId, nodeIds) => chunkLocations.forgetHolders(chunkId, nodeIds),
      ...(deps.metrics ? { metrics: deps.metrics.repair } : {}),
    });
    this.garbage = new GarbageCollector(opts, {
      registry,
      referenced: deps.referenced,
      garbage: deps.garbage,
      collectGarbage: deps.collectGarbage,
      tombstones: deps.tombstones,
      forgetTombstones: deps.forgetTombstones,
      reviveChunks: deps.reviveChunks,
      budget,
      ...(deps.metrics ? { metrics: deps.metrics.garbage } : {}),
    });
  }

  // ---------------------------------------------------------------- the nodes' reports

  get nodes(): ReadonlyMap<number, TrackedNode> {
    return this.registry.nodes;
  }

  get corruptFound(): number {
    return this.registry.corruptFound;
  }

  register(r: DataRegisterRequest): void {
    this.garbage.inventoryReplaced(); // a pass must see this node's new inventory, not the one it replaces
    const before = this.registry.nodes.get(r.id)?.chunks;
    this.registry.register(r);
    this.repair.inventory(this.registry.nodes.get(r.id)!, before);
  }

  heartbeat(h: DataHeartbeatRequest): DataHeartbeatResponse {
    const n = this.registry.report(h);
    if (!n) return { reregister: true, commands: [] };
    this.repair.arrived(h.added);
    this.repair.note(h.removed);
    this.repair.note(h.corrupt);
    this.repair.deleted(n.id, h.deleted ?? []);
    this.garbage.deleted(n, h.deleted ?? []);
    const deadNodes = this.deadNodeIds();
    return {
      reregister: false,
      commands: n.queue.splice(0, n.queue.length),
      ...(deadNodes.length > 0 ? { deadNodes } : {}),
    };
  }

  /** Drops a removed node from every view (its reports are refused from now on). */
  forget(id: number): void {
    const n = this.registry.nodes.get(id);
    if (n) this.repair.note(n.chunks);
    this.registry.forget(id);
    this.garbage.inventoryReplaced();
  }

  /** The registered nodes judged dead: told to the data nodes and to clients with a request gone silent. */
  deadNodeIds(): number[] {
    return this.registry.deadNodeIds();
  }

  isAlive(n: TrackedNode): boolean {
    return this.registry.isAlive(n);
  }

  liveNodes(): TrackedNode[] {
    return this.registry.liveNodes();
  }

  reportsComplete(): boolean {
    return this.registry.reportsComplete();
  }

  // ---------------------------------------------------------------- placement and reads

  choose(sizeBytes: number, count: number, exclude: ReadonlySet<number>): TrackedNode[] {
    return this.placement.choose(sizeBytes, count, exclude);
  }

  ticket(chunkId: string, sizeBytes: number, nodes: readonly { id: number }[]): string {
    return this.placement.ticket(chunkId, sizeBytes, nodes);
  }

  signQueued(n: TrackedNode): void {
    this.placement.signQueued(n);
  }

  recordPlacement(chunkId: string, nodes: readonly { id: number }[]): void {
    this.chunkLocations.recordPlacement(chunkId, nodes);
    this.repair.placedChunk(chunkId);
  }

  locations(chunkId: string): NodeAddress[] {
    return this.chunkLocations.locations(chunkId);
  }

  // ---------------------------------------------------------------- the leader's duties

  underReplicated(): string[] {
    return this.repair.underReplicated();
  }

  drainRemaining(id: number): number {
    return this.repair.drainRemaining(id);
  }

  scheduleRepairs(): number {
    return this.repair.schedule();
  }

  collectGarbage(): number {
    return this.garbage.collect();
  }
}
