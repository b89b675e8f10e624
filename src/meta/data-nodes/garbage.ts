/**
 * Deletes chunks that no retained version references, once past a grace period, and stops on any
 * doubt: a node that has not reported, or one that is not alive (JuiceFS #6479 deleted live data from a
 * partial listing). The log decides first (collectGarbage turns chunks into tombstones), deletion
 * follows the decision; a chunk stored again after its deletion is revived.
 */

import { type ScanBudget, SlicedScan } from "../sliced-scan.js";
import type { GarbageMetrics } from "./duty-metrics.js";
import { NO_GARBAGE_METRICS } from "./duty-metrics.js";
import { inventories, type NodeRegistry, type TrackedNode } from "./registry.js";

export interface GarbageOptions {
  garbageGraceMs: number;
  /** Tombstones older than this are forgotten (see MAX_UPLOAD_AGE_MS). */
  tombstoneRetentionMs: number;
}

export interface GarbageDeps {
  registry: NodeRegistry;
  /** Chunks referenced by retained versions, at the applied index. */
  referenced(): ReadonlyMap<string, number>;
  /** Unreferenced chunks the state machine marked as garbage, with when. */
  garbage(): readonly { chunkId: string; sinceMs: number }[];
  /**
   * Proposes `collectGarbage` (before any holder is told to delete) and resolves with the chunks the
   * state machine condemned: only those may be deleted. Rejects if the proposal failed.
   */
  collectGarbage(chunkIds: string[], beforeMs: number): Promise<string[]>;
  /**
   * Collected chunks (tombstones) → when, read live (not copied: there may be millions), in about the
   * order they were condemned: deleted where they are, revived where they come back.
   */
  tombstones(): ReadonlyMap<string, number>;
  /** Proposes `forgetTombstones`. */
  forgetTombstones(beforeMs: number): Promise<void>;
  /** Proposes `reviveChunks`. */
  reviveChunks(chunkIds: string[]): Promise<void>;
  budget: ScanBudget;
  metrics?: GarbageMetrics;
}

/** A collection round this long (ms) or longer is followed by a pause (see collect). */
const SLOW_ROUND_MS = 5;

export class GarbageCollector {
  /** The tombstone duties' pass (see tombstoneDuties). */
  private readonly tombstoneScan: SlicedScan<string>;
  /** The orphan scan over every node's inventory, and the orphans its pass has seen (see scanOrphans). */
  private readonly orphanScan: SlicedScan<string>;
  private orphansSeen = new Set<string>();
  /** Unreferenced chunks seen on a node that the state machine never listed (uploads in flight). */
  private readonly orphanSinceMs = new Map<string, number>();
  /** The last round's length and end (the scan budget's clock, ms), for spacing slow rounds. */
  private lastRoundMs = 0;
  private lastRoundEndedAt = 0;
  /** A collectGarbage, forgetTombstones or reviveChunks proposal is in flight: the next round waits. */
  private busy = false;
  /** Per tombstone, the nodes told to delete it, and the nodes seen without it afterwards. */
  private readonly deleteSent = new Map<string, Set<number>>();
  private readonly confirmedAbsent = new Map<string, Set<number>>();
  private readonly metrics: GarbageMetrics;

  constructor(
    private readonly opts: GarbageOptions,
    private readonly deps: GarbageDeps,
  ) {
    this.tombstoneScan = new SlicedScan(() => deps.tombstones().keys(), deps.budget);
    this.orphanScan = new SlicedScan(() => inventories([...deps.registry.nodes.values()]), deps.budget);
    this.metrics = deps.metrics ?? NO_GARBAGE_METRICS;
  }

  /** A node's inventory was replaced or dropped: a pass must not mix the old one with the new. */
  inventoryReplaced(): void {
    this.orphanScan.restart();
    this.orphansSeen = new Set();
  }

  /** A node acknowledged deletions: those it was told to make count as confirmed absences. */
  deleted(node: TrackedNode, chunkIds: readonly string[]): void {
    for (const id of chunkIds)
      if (this.deleteSent.get(id)?.has(node.id)) setOf(this.confirmedAbsent, id).add(node.id);
  }

  /**
   * One round. The scans are sliced, but a round still reads the whole garbage list: a slow round is
   * followed by a pause 20 times its length, so collection never takes more than ~5 % of the leader's
   * time (a small cluster's round takes well under the threshold and runs every time). Returns how
   * many chunks were proposed for collection.
   */
  collect(): number {
    if (this.busy) return 0;
    const clock = this.deps.budget;
    const started = clock.clockMs();
    if (this.lastRoundMs >= SLOW_ROUND_MS && started < this.lastRoundEndedAt + 20 * this.lastRoundMs)
      return 0;
    try {
      return this.round();
    } finally {
      this.lastRoundEndedAt = clock.clockMs();
      this.lastRoundMs = this.lastRoundEndedAt - started;
      this.metrics.roundSeconds.observe(this.lastRoundMs / 1000);
    }
  }

  private round(): number {
    const registry = this.deps.registry;
    const tombstones = this.deps.tombstones();
    this.tombstoneDuties();
    if (this.busy) return 0;
    // In batches: only once the oldest is a tenth of the retention overdue, then everything due goes
    // in one entry (each forget scans every tombstone; a steady stream of collections must not make
    // that happen every round).
    const forgetBefore = registry.now() - this.opts.tombstoneRetentionMs;
    const overdue = forgetBefore - this.opts.tombstoneRetentionMs / 10;
    // The first in map order is (about) the oldest: condemned first. Were it not, forgetting would only
    // come later, never too early (the state machine forgets by time, whatever the order).
    const oldest = tombstones.values().next();
    if (!oldest.done && oldest.value < overdue) {
      this.propose(async () => {
        await this.deps.forgetTombstones(forgetBefore);
        const left = this.deps.tombstones();
        this.forgetDuties(
          [...this.deleteSent.keys(), ...this.confirmedAbsent.keys()].filter((id) => !left.has(id)),
        );
      });
      return 0;
    }
    const complete = registry.allReported() && [...registry.nodes.values()].every((n) => registry.isAlive(n));
    if (!complete) {
      this.inventoryReplaced();
      this.metrics.roundsInDoubt.inc();
      return 0;
    }
    const now = registry.now();
    const cutoff = now - this.opts.garbageGraceMs;
    const referenced = this.deps.referenced();
    const listed = new Map(this.deps.garbage().map((g) => [g.chunkId, g.sinceMs]));
    const doomed = new Set<string>();
    for (const [chunkId, sinceMs] of listed)
      if (sinceMs <= cutoff && !referenced.has(chunkId)) doomed.add(chunkId);
    this.scanOrphans((id) => referenced.has(id) || listed.has(id) || tombstones.has(id), now, cutoff, doomed);
    this.metrics.pending.set(listed.size + this.orphanSinceMs.size);
    if (doomed.size === 0) return 0;
    // The log decides first: a commit that races this one either lands before it (the chunk is
    // referenced, so not condemned) or after it (refused: CHUNK_GONE). Deletion follows the decision.
    this.propose(async () => {
      const condemned = await this.deps.collectGarbage([...doomed], cutoff);
      for (const id of doomed) this.orphanSinceMs.delete(id);
      this.metrics.condemned.inc(condemned.length);
      for (const id of condemned) this.sendDeletes(id);
    });
    return doomed.size;
  }

  /**
   * Runs one GC proposal at a time; a failure (not the leader any more, or no quorum) is counted and
   * the next round tries again.
   */
  private propose(work: () => Promise<void>): void {
    this.busy = true;
    work()
      .catch(() => this.metrics.proposalFailures.inc())
      .finally(() => {
        this.busy = false;
      });
  }

  /**
   * Chunks stored but never referenced nor listed: uploads whose commit never came. Each is timed from
   * when this leader first saw it, and doomed past the grace period. The scan over every node's
   * inventory runs for at most the budget's slice per round and resumes at the next (a whole pass
   * over three million copies took ~2 s here); only a complete pass forgets the first-seen times of
   * chunks no longer found, so a pass cut short never makes a chunk look older than it is.
   */
  private scanOrphans(
    known: (chunkId: string) => boolean,
    now: number,
    cutoff: number,
    doomed: Set<string>,
  ): void {
    const complete = this.orphanScan.run((chunkId) => {
      if (known(chunkId)) return;
      this.orphansSeen.add(chunkId);
      const since = this.orphanSinceMs.get(chunkId) ?? now;
      this.orphanSinceMs.set(chunkId, since);
      if (since <= cutoff) doomed.add(chunkId);
    });
    if (!complete) return;
    for (const chunkId of this.orphanSinceMs.keys())
      if (!this.orphansSeen.has(chunkId)) this.orphanSinceMs.delete(chunkId);
    this.orphansSeen = new Set();
  }

  /**
   * Carries out collected chunks' deletion and notices their return. A node holding a tombstoned chunk
   * is told (once per leader) to delete it, and acknowledges the deletion in a heartbeat; a node never
   * told and seen without it has it not either (once this leader has led long enough for a previous
   * leader's orders to have been carried out). If such a node later reports the chunk again, it was
   * stored anew after the deletion, and no delete of ours can reach it any more: the tombstone is
   * revived, and commits naming the chunk are accepted again.
   */
  private tombstoneDuties(): void {
    const registry = this.deps.registry;
    const revive: string[] = [];
    const settled = registry.settled();
    // Sliced like the orphan scan: a week of collections can leave millions of tombstones.
    this.tombstoneScan.run((id) => {
      for (const n of registry.nodes.values()) {
        if (!n.reported) continue;
        if (n.chunks.has(id)) {
          if (this.confirmedAbsent.get(id)?.has(n.id)) revive.push(id);
          else this.sendDeletes(id, n);
        } else if (!this.deleteSent.get(id)?.has(n.id) && settled) {
          setOf(this.confirmedAbsent, id).add(n.id);
        }
      }
    });
    if (revive.length === 0) return;
    const revived = [...new Set(revive)];
    this.propose(async () => {
      await this.deps.reviveChunks(revived);
      this.metrics.revived.inc(revived.length);
      this.forgetDuties(revived);
    });
  }

  /** Drops the delete bookkeeping of chunks that are no longer tombstones. */
  private forgetDuties(ids: Iterable<string>): void {
    for (const id of ids) {
      this.deleteSent.delete(id);
      this.confirmedAbsent.delete(id);
    }
  }

  /** Queues the deletion of a condemned chunk on its holders (all, or `only`) not yet told. */
  private sendDeletes(chunkId: string, only?: TrackedNode): void {
    const sent = setOf(this.deleteSent, chunkId);
    for (const n of only ? [only] : this.deps.registry.nodes.values()) {
      if (sent.has(n.id) || !n.chunks.has(chunkId)) continue;
      n.queue.push({ type: "delete", chunkIds: [chunkId] });
      sent.add(n.id);
      this.metrics.deletesSent.inc();
    }
  }
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}
