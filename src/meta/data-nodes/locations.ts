/**
 * Where a chunk can be read: the live nodes whose reports list it, and, for a while after a placement,
 * the nodes it was placed on — a client reads right after it writes, before the nodes' next heartbeats
 * report the new chunk. Placements expire once those reports must have arrived.
 */
import type { NodeAddress } from "../../common/protocol/index.js";
import type { NodeRegistry } from "./registry.js";

/** Recent placements kept before old ones are swept (a sweep drops those heartbeats have reported). */
const MAX_PLACEMENTS_KEPT = 100_000;

export interface ChunkLocationsOptions {
  /** Placements older than this have been reported by the nodes' heartbeats. */
  deadAfterMs: number;
}

export class ChunkLocations {
  private readonly placed = new Map<string, { nodeIds: number[]; atMs: number }>();

  constructor(
    private readonly opts: ChunkLocationsOptions,
    private readonly registry: NodeRegistry,
  ) {}

  recordPlacement(chunkId: string, nodes: readonly { id: number }[]): void {
    const now = this.registry.now();
    this.placed.set(chunkId, { nodeIds: nodes.map((n) => n.id), atMs: now });
    if (this.placed.size > MAX_PLACEMENTS_KEPT) {
      for (const [id, p] of this.placed) if (now - p.atMs > this.opts.deadAfterMs) this.placed.delete(id);
    }
  }

  /** These nodes were ordered to delete their copies: a recent placement on them no longer counts. */
  forgetHolders(chunkId: string, nodeIds: readonly number[]): void {
    const p = this.placed.get(chunkId);
    if (p) p.nodeIds = p.nodeIds.filter((id) => !nodeIds.includes(id));
  }

  locations(chunkId: string): NodeAddress[] {
    const recent = this.placed.get(chunkId);
    const fresh = recent !== undefined && this.registry.now() - recent.atMs <= this.opts.deadAfterMs;
    if (recent && !fresh) this.placed.delete(chunkId);
    return this.registry
      .liveNodes()
      .filter((n) => n.chunks.has(chunkId) || (fresh && recent.nodeIds.includes(n.id)))
      .map((n) => ({ id: n.id, url: n.url }));
  }
}
