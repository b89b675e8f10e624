/**
 * Where new copies go, and the tickets that let them in: R distinct live nodes spread over zones, most
 * free space first; a data node accepts a chunk write only with a ticket signed by the leader for that
 * chunk, size and set of nodes.
 */
import { signTicket } from "../../common/tickets.js";
import type { NodeRegistry, TrackedNode } from "./registry.js";

export interface PlacementOptions {
  secret: string;
  ticketTtlMs: number;
}

export class Placement {
  constructor(
    private readonly opts: PlacementOptions,
    private readonly registry: NodeRegistry,
  ) {}

  /**
   * R distinct live active nodes with room: one per zone first (most free space first), then by free
   * space. Returns fewer than R only when fewer qualify. `heldZones`: zones that already hold a copy
   * (a repair adds to surviving copies), so a new copy goes to a zone without one while one has room.
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
    const candidates = this.registry
      .liveActive()
      .filter((n) => !exclude.has(n.id) && n.freeBytes >= sizeBytes)
      .sort((a, b) => b.freeBytes - a.freeBytes || a.id - b.id);
    const fresh: TrackedNode[] = [];
    const stale: TrackedNode[] = [];
    for (const n of candidates) (this.registry.isFresh(n) ? fresh : stale).push(n);
    const picked = spreadOverZones(fresh, count, heldZones);
    if (picked.length < count) {
      const zones = new Set([...heldZones, ...picked.map((n) => n.zone)]);
      picked.push(...spreadOverZones(stale, count - picked.length, zones));
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

/** Up to `count` of `candidates` (in their order): one per zone not in `heldZones` first, then the rest. */
function spreadOverZones(
  candidates: readonly TrackedNode[],
  count: number,
  heldZones: ReadonlySet<string>,
): TrackedNode[] {
  const picked: TrackedNode[] = [];
  const zones = new Set<string>(heldZones);
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
