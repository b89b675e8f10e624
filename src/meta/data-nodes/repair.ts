/**
 * Keeps every referenced chunk at R copies on active nodes: finds the under-replicated ones and has a
 * live holder copy each to new nodes, a bounded number at a time. Judges nothing before every node has
 * reported to this leader (HDFS-14208: a blind standby saw hours of false missing blocks).
 */

import { type ScanBudget, SlicedScan } from "../sliced-scan.js";
import type { RepairMetrics } from "./duty-metrics.js";
import { NO_REPAIR_METRICS } from "./duty-metrics.js";
import type { Placement } from "./placement.js";
import type { NodeRegistry, TrackedNode } from "./registry.js";

export interface RepairOptions {
  replication: number;
  /** How many repair copies may be outstanding at once (bounded repair rate). */
  maxRepairsInFlight: number;
  /** A copy not reported within three times this is taken as failed, and scheduled again. */
  deadAfterMs: number;
}

export interface RepairDeps {
  registry: NodeRegistry;
  placement: Placement;
  /** Chunks referenced by retained versions, at the applied index. */
  referenced(): ReadonlyMap<string, number>;
  /** Size of a referenced chunk (tickets bind the exact size). */
  chunkSize(chunkId: string): number | undefined;
  budget: ScanBudget;
  metrics?: RepairMetrics;
}

export class RepairDuty {
  /** Chunk → when its copy was handed out. */
  private readonly inFlight = new Map<string, number>();
  /** The scan over every referenced chunk (see scheduleRepairs). */
  private readonly scan: SlicedScan<string>;
  /** Chunks without a live source seen so far in the current pass. */
  private unsourcedInPass = 0;
  private readonly metrics: RepairMetrics;

  constructor(
    private readonly opts: RepairOptions,
    private readonly deps: RepairDeps,
  ) {
    this.scan = new SlicedScan(() => deps.referenced().keys(), deps.budget);
    this.metrics = deps.metrics ?? NO_REPAIR_METRICS;
  }

  /** How many active copies a chunk needs: R, or every active node when there are fewer. */
  private want(active: readonly TrackedNode[]): number {
    return Math.min(this.opts.replication, Math.max(active.length, 1));
  }

  /** A node reported chunks: those whose repair was in flight have arrived. */
  arrived(chunkIds: readonly string[]): void {
    for (const id of chunkIds) if (this.inFlight.delete(id)) this.metrics.completed.inc();
  }

  /** Referenced chunks with fewer than R live active holders (none until every node has reported). */
  underReplicated(): string[] {
    const registry = this.deps.registry;
    if (!registry.reportsComplete()) return [];
    const live = registry.liveActive();
    const want = this.want(live);
    const out: string[] = [];
    for (const chunkId of this.deps.referenced().keys()) {
      let holders = 0;
      for (const n of live) if (n.chunks.has(chunkId)) holders++;
      if (holders < want) out.push(chunkId);
    }
    return out;
  }

  /** Chunks on a draining node that lack R copies on active nodes: the decommission's remaining work. */
  drainRemaining(id: number): number {
    const n = this.deps.registry.nodes.get(id);
    if (!n) return 0;
    const active = this.deps.registry.liveActive();
    const want = this.want(active);
    let remaining = 0;
    for (const chunkId of n.chunks) {
      if (!this.deps.referenced().has(chunkId)) continue;
      let copies = 0;
      for (const a of active) if (a.id !== id && a.chunks.has(chunkId)) copies++;
      if (copies < want) remaining++;
    }
    return remaining;
  }

  /**
   * Queues copies for under-replicated chunks, within the in-flight bound. The scan over every
   * referenced chunk runs for at most the budget's slice per round and resumes at the next: a whole
   * pass over a million chunks took ~2 s here, long enough to delay the leader's heartbeats past an
   * election timeout.
   */
  schedule(): number {
    const clock = this.deps.budget;
    const started = clock.clockMs();
    try {
      return this.round();
    } finally {
      this.metrics.roundSeconds.observe((clock.clockMs() - started) / 1000);
    }
  }

  private round(): number {
    const registry = this.deps.registry;
    const now = registry.now();
    for (const [id, since] of this.inFlight) {
      if (now - since > this.opts.deadAfterMs * 3) {
        this.inFlight.delete(id);
        this.metrics.expired.inc();
      }
    }
    if (!registry.reportsComplete()) {
      this.scan.restart();
      this.unsourcedInPass = 0;
      return 0;
    }
    let queued = 0;
    const live = registry.liveNodes();
    const active = registry.liveActive();
    const want = this.want(active);
    // Copies should span as many zones as there are zones with a live node (up to R).
    const wantZones = Math.min(want, new Set(active.map((n) => n.zone)).size);
    if (this.inFlight.size >= this.opts.maxRepairsInFlight) return 0;
    const complete = this.scan.run((chunkId) => {
      let copies = 0;
      const zonesHeld = new Set<string>();
      for (const n of active) {
        if (n.chunks.has(chunkId)) {
          copies++;
          zonesHeld.add(n.zone);
        }
      }
      // Enough copies, but crowded into fewer zones than are up (an outage's repair put a copy
      // beside a survivor, and then another holder went away): one more copy, in a zone without one.
      // HDFS calls these mis-replicated blocks and treats them the same way.
      const misplaced = copies >= want && zonesHeld.size < wantZones;
      if ((copies >= want && !misplaced) || this.inFlight.has(chunkId)) return;
      const holders = live.filter((n) => n.chunks.has(chunkId));
      // A draining holder is a source, never a target, and does not count towards R.
      const source = holders.find((n) => registry.stateOf(n.id) === "active") ?? holders[0];
      const sizeBytes = this.deps.chunkSize(chunkId);
      // No live copy means nothing to copy from: it stays reported as under-replicated.
      if (!source || sizeBytes === undefined) {
        this.unsourcedInPass++;
        return;
      }
      const kept = holders.filter((n) => registry.stateOf(n.id) === "active");
      const need = misplaced ? 1 : this.opts.replication - kept.length;
      // Zones of the copies that stay (a draining holder's copy goes): the new copies go elsewhere.
      const heldZones = new Set(kept.map((n) => n.zone));
      const chosen = this.deps.placement.choose(
        sizeBytes,
        need,
        new Set(holders.map((h) => h.id)),
        heldZones,
      );
      // A misplaced chunk is helped only by a copy in a new zone (its zone-mates may all be full).
      const targets = misplaced ? chosen.filter((t) => !heldZones.has(t.zone)) : chosen;
      if (targets.length === 0) return;
      source.queue.push({
        type: "replicate",
        chunkId,
        sizeBytes,
        targets: targets.map((t) => ({ id: t.id, url: t.url })),
        ticket: "",
      });
      this.inFlight.set(chunkId, now);
      this.metrics.scheduled.inc();
      queued++;
      // Stop once the in-flight bound is reached, before taking the next chunk from the pass.
      return this.inFlight.size < this.opts.maxRepairsInFlight;
    });
    if (complete) {
      this.metrics.unsourced.set(this.unsourcedInPass);
      this.unsourcedInPass = 0;
    }
    return queued;
  }
}
