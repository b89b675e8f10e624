/**
 * Where new copies go, and the tickets that let them in: R distinct live nodes spread over zones, each
 * the emptier of two drawn at random; a data node accepts a chunk write only with a ticket signed by
 * the leader for that chunk, size and set of nodes.
 */
import { signTicket } from "../../common/tickets.js";
import type { NodeRegistry, TrackedNode } from "./registry.js";

export interface PlacementOptions {
  secret: string;
  ticketTtlMs: number;
}

/** Where placement's draws come from (tests pass a seeded one). */
export type Random = () => number;

export class Placement {
  constructor(
    private readonly opts: PlacementOptions,
    private readonly registry: NodeRegistry,
    private readonly random: Random = Math.random,
  ) {}

  /**
   * R distinct live active nodes with room: one per zone first, then any; each the emptier (by the
   * share of its disk that is free) of two nodes drawn at random. Returns fewer than R only when fewer
   * qualify.
   *
   * Why two random draws and not the emptiest: with the emptiest first, every chunk written within a
   * heartbeat went to the same R nodes (the free space they report changes once a heartbeat), so a
   * cluster wrote at the speed of R nodes whatever its size, and a node just added took every new
   * chunk until it filled up to the others, all of the recent data on one node. Two draws spread the
   * writes over every node with room, and still send fewer to fuller nodes: the "power of two choices"
   * keeps the fill within a small margin of even (HDFS and Ceph also place at random, weighted).
   *
   * `heldZones`: zones that already hold a copy (a repair adds to surviving copies), so a new copy
   * goes to a zone without one while one has room.
   * Stale nodes (registry.ts) come in only when the fresh ones are too few: a copy sent to a node that
   * stopped reporting waits out a connect or answer timeout, and zone spread is worth less than that
   * (repair restores it when the node reports again).
   */
  choose(
    sizeBytes: number,
    count: number,
    exclude: ReadonlySet<number>,
    heldZones: ReadonlySet<string> = new Set(),
  ): TrackedNode[] {
    const fresh: TrackedNode[] = [];
    const stale: TrackedNode[] = [];
    for (const n of this.registry.liveActive()) {
      if (exclude.has(n.id) || n.freeBytes < sizeBytes) continue;
      (this.registry.isFresh(n) ? fresh : stale).push(n);
    }
    const picked = spreadOverZones(fresh, count, heldZones, this.random);
    if (picked.length < count) {
      const zones = new Set([...heldZones, ...picked.map((n) => n.zone)]);
      picked.push(...spreadOverZones(stale, count - picked.length, zones, this.random));
    }
    return picked;
  }

  ticket(chunkId: string, sizeBytes: number, nodes: readonly { id: number }[]): string {
    return signTicket(this.opts.secret, {
      chunkId,
      sizeBytes,
      nodeIds: nodes.map((n) => n.id),
      expiresAtMs: this.registry.now() + this.opts.ticketTtlMs,
    });
  }

  /**
   * Signs the tickets of queued replicate commands just before they are handed out (signed when
   * queued, a ticket could expire while the node is slow to come back for it).
   */
  signQueued(n: TrackedNode): void {
    for (const c of n.queue) {
      if (c.type === "replicate" && c.ticket === "")
        c.ticket = this.ticket(c.chunkId, c.sizeBytes, c.targets);
    }
  }
}

/**
 * Up to `count` of `candidates` (taken out of it): one per zone not in `heldZones` first, then any,
 * each the emptier of two drawn at random.
 */
function spreadOverZones(
  candidates: TrackedNode[],
  count: number,
  heldZones: ReadonlySet<string>,
  random: Random,
): TrackedNode[] {
  const picked: TrackedNode[] = [];
  const zones = new Set<string>(heldZones);
  const pickFrom = (eligible: TrackedNode[]): boolean => {
    if (eligible.length === 0) return false;
    const a = eligible[Math.floor(random() * eligible.length)]!;
    const b = eligible[Math.floor(random() * eligible.length)]!;
    const n = freeShare(b) > freeShare(a) ? b : a;
    picked.push(n);
    zones.add(n.zone);
    candidates.splice(candidates.indexOf(n), 1);
    return true;
  };
  while (picked.length < count && pickFrom(candidates.filter((n) => !zones.has(n.zone)))) {}
  while (picked.length < count && pickFrom(candidates)) {}
  return picked;
}

/** The share of a node's disk that is free (its free bytes when it reports no capacity). */
function freeShare(n: TrackedNode): number {
  return n.capacityBytes > 0 ? n.freeBytes / n.capacityBytes : n.freeBytes;
}
