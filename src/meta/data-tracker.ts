/**
 * The leader's soft state about data nodes (HDFS/GFS style): who is alive, how full, which chunks
 * each holds. Rebuilt from the nodes' reports after every leader change, never replicated. From it the
 * leader places new chunks, finds under-replicated chunks and hands out repair and deletion work.
 */
import type {
  DataHeartbeatRequest,
  DataHeartbeatResponse,
  DataNodeCommand,
  DataRegisterRequest,
  NodeAddress,
} from "../common/protocol/index.js";
import { signTicket } from "../common/tickets.js";
import { type ScanBudget, SlicedScan } from "./sliced-scan.js";

export interface TrackedNode {
  id: number;
  url: string;
  zone: string;
  pid: number;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  chunks: Set<string>;
  lastSeenMs: number;
  /** Has sent its full inventory to this leader. */
  reported: boolean;
  queue: DataNodeCommand[];
}

export interface DataTrackerOptions {
  replication: number;
  deadAfterMs: number;
  secret: string;
  ticketTtlMs: number;
  /** How many repair copies may be outstanding at once (bounded repair rate). */
  maxRepairsInFlight: number;
  garbageGraceMs: number;
  /** Tombstones older than this are forgotten (see MAX_UPLOAD_AGE_MS). */
  tombstoneRetentionMs: number;
  /** Nodes the config names: GC waits until each has reported. */
  expectedNodeIds: number[];
}

export interface DataTrackerDeps {
  now(): number;
  /** Chunks referenced by retained versions, at the applied index. */
  referenced(): ReadonlyMap<string, number>;
  /** Size of a referenced chunk (tickets bind the exact size). */
  chunkSize(chunkId: string): number | undefined;
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
  /**
   * Decommission (replicated): a draining node takes no new chunks and its copies do not count
   * towards R (it still serves reads and repair copies); a removed node is forgotten. Default: active.
   */
  nodeState?(nodeId: number): "active" | "draining" | "removed";
  /**
   * How long each round's scans may run, and the monotonic clock that measures them and spaces slow
   * GC rounds. Default: SCAN_SLICE_MS on performance.now; tests pass a clock they step themselves.
   */
  scanBudget?: ScanBudget;
}

/** How long (ms) each of a round's scans may run before it stops and resumes at the next round. */
const SCAN_SLICE_MS = 10;
/** A collection round this long (ms) or longer is followed by a pause (see collectGarbage). */
const SLOW_GC_ROUND_MS = 5;

export class DataTracker {
  readonly nodes = new Map<number, TrackedNode>();
  private readonly leaderSinceMs: number;
  private readonly repairsInFlight = new Map<string, number>();
  /** The repair scan over every referenced chunk (see scheduleRepairs). */
  private readonly repairScan: SlicedScan<string>;
  /** The tombstone duties' pass (see tombstoneDuties). */
  private readonly tombstoneScan: SlicedScan<string>;
  /** The orphan scan over every node's inventory, and the orphans its pass has seen (see scanOrphans). */
  private readonly orphanScan: SlicedScan<string>;
  private readonly budget: ScanBudget;
  private orphansSeen = new Set<string>();
  /** The last collection round's length and end (the scan budget's clock, ms), for spacing slow rounds. */
  private lastGcMs = 0;
  private lastGcEndedAt = 0;
  /** Unreferenced chunks seen on a node that the state machine never listed (uploads in flight). */
  private readonly orphanSinceMs = new Map<string, number>();
  /**
   * Where chunks were recently placed: a client reads right after it writes, before the nodes'
   * next heartbeats report the new chunk. Entries expire once the reports must have arrived.
   */
  private readonly placed = new Map<string, { nodeIds: number[]; atMs: number }>();
  corruptFound = 0;
  /** A collectGarbage or reviveChunks proposal is in flight: the next round waits for it. */
  private gcBusy = false;
  /** Per tombstone, the nodes told to delete it, and the nodes seen without it afterwards. */
  private readonly deleteSent = new Map<string, Set<number>>();
  private readonly confirmedAbsent = new Map<string, Set<number>>();

  constructor(
    private readonly opts: DataTrackerOptions,
    private readonly deps: DataTrackerDeps,
  ) {
    this.leaderSinceMs = deps.now();
    this.budget = deps.scanBudget ?? {
      clockMs: () => performance.now(),
      sliceMs: SCAN_SLICE_MS,
      itemsPerClockRead: 256,
    };
    this.repairScan = new SlicedScan(() => this.deps.referenced().keys(), this.budget);
    this.tombstoneScan = new SlicedScan(() => this.deps.tombstones().keys(), this.budget);
    this.orphanScan = new SlicedScan(() => inventories([...this.nodes.values()]), this.budget);
  }

  private stateOf(id: number): "active" | "draining" | "removed" {
    return this.deps.nodeState?.(id) ?? "active";
  }

  /** Live nodes whose copies count towards R: not draining. */
  private liveActive(): TrackedNode[] {
    return this.liveNodes().filter((n) => this.stateOf(n.id) === "active");
  }

  /** Drops a removed node from every view (its reports are refused from now on). */
  forget(id: number): void {
    this.nodes.delete(id);
    this.restartOrphanScan();
  }

  /** Chunks on a draining node that lack R copies on active nodes: the decommission's remaining work. */
  drainRemaining(id: number): number {
    const n = this.nodes.get(id);
    if (!n) return 0;
    const active = this.liveActive();
    let remaining = 0;
    for (const chunkId of n.chunks) {
      if (!this.deps.referenced().has(chunkId)) continue;
      let copies = 0;
      for (const a of active) if (a.id !== id && a.chunks.has(chunkId)) copies++;
      if (copies < Math.min(this.opts.replication, Math.max(active.length, 1))) remaining++;
    }
    return remaining;
  }

  register(r: DataRegisterRequest): void {
    const prev = this.nodes.get(r.id);
    this.restartOrphanScan(); // a pass must see this node's new inventory, not the one it replaces
    this.nodes.set(r.id, {
      id: r.id,
      url: r.url,
      zone: r.zone,
      pid: r.pid,
      capacityBytes: r.capacityBytes,
      freeBytes: r.freeBytes,
      usedBytes: r.usedBytes,
      chunks: new Set(r.chunks),
      lastSeenMs: this.deps.now(),
      reported: true,
      queue: prev?.queue ?? [],
    });
  }

  heartbeat(h: DataHeartbeatRequest): DataHeartbeatResponse {
    const n = this.nodes.get(h.id);
    if (!n?.reported) return { reregister: true, commands: [] };
    n.pid = h.pid;
    n.freeBytes = h.freeBytes;
    n.usedBytes = h.usedBytes;
    n.lastSeenMs = this.deps.now();
    for (const id of h.added) n.chunks.add(id);
    for (const id of h.removed) n.chunks.delete(id);
    for (const id of h.corrupt) n.chunks.delete(id);
    this.corruptFound += h.corrupt.length;
    for (const id of h.added) this.repairsInFlight.delete(id);
    for (const id of h.deleted ?? [])
      if (this.deleteSent.get(id)?.has(n.id)) setOf(this.confirmedAbsent, id).add(n.id);
    const commands = n.queue.splice(0, n.queue.length);
    return { reregister: false, commands };
  }

  isAlive(n: TrackedNode): boolean {
    return n.reported && this.deps.now() - n.lastSeenMs <= this.opts.deadAfterMs;
  }

  liveNodes(): TrackedNode[] {
    return [...this.nodes.values()].filter((n) => this.isAlive(n));
  }

  /** A new leader knows nothing until the nodes report: it does not judge replica counts before. */
  reportsComplete(): boolean {
    const waitedOut = this.deps.now() - this.leaderSinceMs > this.opts.deadAfterMs;
    return waitedOut || this.expectedNodeIds().every((id) => this.nodes.get(id)?.reported);
  }

  private expectedNodeIds(): number[] {
    return this.opts.expectedNodeIds.filter((id) => this.stateOf(id) !== "removed");
  }

  /**
   * R distinct live nodes with room: one per zone first (most free space first), then by free space.
   * Returns fewer than R only when fewer qualify.
   */
  choose(sizeBytes: number, count: number, exclude: ReadonlySet<number>): TrackedNode[] {
    const candidates = this.liveActive()
      .filter((n) => !exclude.has(n.id) && n.freeBytes >= sizeBytes)
      .sort((a, b) => b.freeBytes - a.freeBytes || a.id - b.id);
    const picked: TrackedNode[] = [];
    const zones = new Set<string>();
    for (const n of candidates) {
      if (picked.length < count && !zones.has(n.zone)) {
        picked.push(n);
        zones.add(n.zone);
      }
    }
    for (const n of candidates) {
      if (picked.length < count && !picked.includes(n)) picked.push(n);
    }
    return picked;
  }

  ticket(chunkId: string, sizeBytes: number, nodes: readonly { id: number }[]): string {
    return signTicket(this.opts.secret, {
      chunkId,
      sizeBytes,
      nodeIds: nodes.map((n) => n.id),
      expiresAtMs: this.deps.now() + this.opts.ticketTtlMs,
    });
  }

  recordPlacement(chunkId: string, nodes: readonly { id: number }[]): void {
    const now = this.deps.now();
    this.placed.set(chunkId, { nodeIds: nodes.map((n) => n.id), atMs: now });
    // Bounded: forget placements old enough that heartbeats have reported them.
    if (this.placed.size > 100_000) {
      for (const [id, p] of this.placed) if (now - p.atMs > this.opts.deadAfterMs) this.placed.delete(id);
    }
  }

  locations(chunkId: string): NodeAddress[] {
    const recent = this.placed.get(chunkId);
    const fresh = recent !== undefined && this.deps.now() - recent.atMs <= this.opts.deadAfterMs;
    if (recent && !fresh) this.placed.delete(chunkId);
    return this.liveNodes()
      .filter((n) => n.chunks.has(chunkId) || (fresh && recent.nodeIds.includes(n.id)))
      .map((n) => ({ id: n.id, url: n.url }));
  }

  /** Referenced chunks with fewer than R live active holders (0 until every node has reported). */
  underReplicated(): string[] {
    if (!this.reportsComplete()) return [];
    const live = this.liveActive();
    const out: string[] = [];
    for (const chunkId of this.deps.referenced().keys()) {
      let holders = 0;
      for (const n of live) if (n.chunks.has(chunkId)) holders++;
      if (holders < Math.min(this.opts.replication, Math.max(live.length, 1))) out.push(chunkId);
    }
    return out;
  }

  /**
   * Queues copies for under-replicated chunks, within the in-flight bound. The scan over every
   * referenced chunk runs for at most SCAN_SLICE_MS per round and resumes at the next: a whole
   * pass over a million chunks took ~2 s here, long enough to delay the leader's heartbeats past an
   * election timeout.
   */
  scheduleRepairs(): number {
    const now = this.deps.now();
    for (const [id, since] of this.repairsInFlight) {
      if (now - since > this.opts.deadAfterMs * 3) this.repairsInFlight.delete(id);
    }
    if (!this.reportsComplete()) {
      this.repairScan.restart();
      return 0;
    }
    let queued = 0;
    const live = this.liveNodes();
    const active = this.liveActive();
    const want = Math.min(this.opts.replication, Math.max(active.length, 1));
    if (this.repairsInFlight.size >= this.opts.maxRepairsInFlight) return 0;
    this.repairScan.run((chunkId) => {
      let copies = 0;
      for (const n of active) if (n.chunks.has(chunkId)) copies++;
      if (copies >= want || this.repairsInFlight.has(chunkId)) return;
      const holders = live.filter((n) => n.chunks.has(chunkId));
      // A draining holder is a source, never a target, and does not count towards R.
      const source = holders.find((n) => this.stateOf(n.id) === "active") ?? holders[0];
      const sizeBytes = this.deps.chunkSize(chunkId);
      // No live copy means nothing to copy from: it stays reported as under-replicated.
      if (!source || sizeBytes === undefined) return;
      const need = this.opts.replication - holders.filter((n) => this.stateOf(n.id) === "active").length;
      const targets = this.choose(0, need, new Set(holders.map((h) => h.id)));
      if (targets.length === 0) return;
      source.queue.push({
        type: "replicate",
        chunkId,
        sizeBytes,
        targets: targets.map((t) => ({ id: t.id, url: t.url })),
        ticket: "",
      });
      this.repairsInFlight.set(chunkId, now);
      queued++;
      // Stop once the in-flight bound is reached, before taking the next chunk from the pass.
      return this.repairsInFlight.size < this.opts.maxRepairsInFlight;
    });
    return queued;
  }

  /**
   * Deletes chunks no retained version references, once past the grace period. Stops on any doubt:
   * a node that has not reported, or one that is not alive (JuiceFS #6479 deleted live data from a
   * partial listing).
   */
  collectGarbage(): number {
    if (this.gcBusy) return 0;
    // The scans are sliced, but a round still reads the whole garbage list: a slow round is followed
    // by a pause 20 times its length, so collection never takes more than ~5 % of the leader's time
    // (a small cluster's round takes well under the threshold and runs every time).
    const started = this.budget.clockMs();
    if (this.lastGcMs >= SLOW_GC_ROUND_MS && started < this.lastGcEndedAt + 20 * this.lastGcMs) return 0;
    try {
      return this.collectGarbageRound();
    } finally {
      this.lastGcEndedAt = this.budget.clockMs();
      this.lastGcMs = this.lastGcEndedAt - started;
    }
  }

  private collectGarbageRound(): number {
    const tombstones = this.deps.tombstones();
    this.tombstoneDuties();
    if (this.gcBusy) return 0;
    // In batches: only once the oldest is a tenth of the retention overdue, then everything due goes
    // in one entry (each forget scans every tombstone; a steady stream of collections must not make
    // that happen every round).
    const forgetBefore = this.deps.now() - this.opts.tombstoneRetentionMs;
    const overdue = forgetBefore - this.opts.tombstoneRetentionMs / 10;
    // The first in map order is (about) the oldest: condemned first. Were it not, forgetting would only
    // come later, never too early (the state machine forgets by time, whatever the order).
    const oldest = tombstones.values().next();
    if (!oldest.done && oldest.value < overdue) {
      this.gcBusy = true;
      this.deps
        .forgetTombstones(forgetBefore)
        .then(() => {
          const left = this.deps.tombstones();
          this.forgetDuties(
            [...this.deleteSent.keys(), ...this.confirmedAbsent.keys()].filter((id) => !left.has(id)),
          );
        })
        .catch(() => undefined)
        .finally(() => {
          this.gcBusy = false;
        });
      return 0;
    }
    const complete =
      this.expectedNodeIds().every((id) => this.nodes.get(id)?.reported) &&
      [...this.nodes.values()].every((n) => this.isAlive(n));
    if (!complete) {
      this.restartOrphanScan();
      return 0;
    }
    const now = this.deps.now();
    const cutoff = now - this.opts.garbageGraceMs;
    const referenced = this.deps.referenced();
    const listed = new Map(this.deps.garbage().map((g) => [g.chunkId, g.sinceMs]));
    const doomed = new Set<string>();
    for (const [chunkId, sinceMs] of listed)
      if (sinceMs <= cutoff && !referenced.has(chunkId)) doomed.add(chunkId);
    this.scanOrphans((id) => referenced.has(id) || listed.has(id) || tombstones.has(id), now, cutoff, doomed);
    if (doomed.size === 0) return 0;
    // The log decides first: a commit that races this one either lands before it (the chunk is
    // referenced, so not condemned) or after it (refused: CHUNK_GONE). Deletion follows the decision.
    this.gcBusy = true;
    this.deps
      .collectGarbage([...doomed], cutoff)
      .then((condemned) => {
        for (const id of doomed) this.orphanSinceMs.delete(id);
        for (const id of condemned) this.sendDeletes(id);
      })
      .catch(() => undefined) // not the leader any more, or no quorum: the next round tries again
      .finally(() => {
        this.gcBusy = false;
      });
    return doomed.size;
  }

  /**
   * Chunks stored but never referenced nor listed: uploads whose commit never came. Each is timed from
   * when this leader first saw it, and doomed past the grace period. The scan over every node's
   * inventory runs for at most SCAN_SLICE_MS per round and resumes at the next (a whole pass
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

  private restartOrphanScan(): void {
    this.orphanScan.restart();
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
    const revive: string[] = [];
    const settled = this.deps.now() - this.leaderSinceMs > this.opts.deadAfterMs;
    // Sliced like the orphan scan: a week of collections can leave millions of tombstones.
    this.tombstoneScan.run((id) => {
      for (const n of this.nodes.values()) {
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
    this.gcBusy = true;
    this.deps
      .reviveChunks(revived)
      .then(() => this.forgetDuties(revived))
      .catch(() => undefined)
      .finally(() => {
        this.gcBusy = false;
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
    for (const n of only ? [only] : this.nodes.values()) {
      if (sent.has(n.id) || !n.chunks.has(chunkId)) continue;
      n.queue.push({ type: "delete", chunkIds: [chunkId] });
      sent.add(n.id);
    }
  }

  /** Signs the tickets of queued replicate commands just before they are handed out. */
  signQueued(n: TrackedNode): void {
    for (const c of n.queue) {
      if (c.type === "replicate" && c.ticket === "")
        c.ticket = this.ticket(c.chunkId, c.sizeBytes, c.targets);
    }
  }
}

/** Every chunk of every node, node after node (each Set iterated live). */
function* inventories(nodes: TrackedNode[]): Generator<string> {
  for (const n of nodes) yield* n.chunks;
}

function setOf<K, V>(map: Map<K, Set<V>>, key: K): Set<V> {
  let set = map.get(key);
  if (!set) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}
