/**
 * The leader's placement of one chunk: R live nodes with room, none of the excluded ones, recorded
 * as the chunk's expected holders (so repair and GC know a write is under way) and signed into a
 * write ticket. One definition for the placement route the library asks and for the chunks the
 * leader stores itself on a dashboard page's behalf.
 */
import { DfsError } from "../common/errors.js";
import type { PlacementResponse } from "../common/protocol/index.js";
import type { LeaderDataPath } from "./replica-api.js";

export function placeChunk(
  tracker: Pick<LeaderDataPath, "choose" | "recordPlacement" | "ticket">,
  req: { chunkId: string; sizeBytes: number; replication: number; exclude: ReadonlySet<number> },
): PlacementResponse {
  const nodes = tracker.choose(req.sizeBytes, req.replication, req.exclude);
  if (nodes.length < req.replication) {
    throw new DfsError(
      "UNAVAILABLE",
      `only ${nodes.length} live data nodes with room for ${req.replication} replicas`,
      { available: nodes.length },
    );
  }
  tracker.recordPlacement(req.chunkId, nodes);
  return {
    chunkId: req.chunkId,
    nodes: nodes.map((n) => ({ id: n.id, url: n.url })),
    ticket: tracker.ticket(req.chunkId, req.sizeBytes, nodes),
  };
}
