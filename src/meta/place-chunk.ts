/**
 * The leader's placement of one chunk: R live nodes with room (or fewer, down to `leastCopies`), none
 * of the excluded ones, recorded
 * as the chunk's expected holders (so repair and GC know a write is under way) and signed into a
 * write ticket. One definition for the placement route the library asks and for the chunks the
 * leader stores itself on a dashboard page's behalf.
 */
import { spreadByChunk } from "../common/chunk-spread.js";
import { DfsError } from "../common/errors.js";
import type { PlacementResponse } from "../common/protocol/index.js";
import type { LeaderDataPath } from "./replica-api.js";

/**
 * The fewest copies a new chunk is written to when fewer than R nodes can take it: the configured
 * `minReplication`, else half of R rounded up — 2 of 3, 3 of 5, 1 of 2 (Ceph's default `min_size`;
 * HDFS goes on with the pipeline's survivors the same way). Never more than R: a file asking for R = 1 is placed on one node.
 */
export function leastCopies(replication: number, minReplication?: number): number {
  return Math.min(replication, minReplication ?? replication - Math.floor(replication / 2));
}

export function placeChunk(
  tracker: Pick<LeaderDataPath, "choose" | "recordPlacement" | "ticket">,
  req: {
    chunkId: string;
    sizeBytes: number;
    replication: number;
    /** The config's `minReplication` (undefined: half of `replication`, rounded up). */
    minReplication?: number | undefined;
    exclude: ReadonlySet<number>;
  },
): PlacementResponse {
  // With a node down (or full), writes go on with the copies that can be made now, as long as they
  // are at least `least`: one data node's loss must not stop every write of a cluster of R nodes.
  // The chunk is recorded as placed on these nodes, so once its commit is due the repair duty finds
  // it short of R and copies it when a node is back.
  const nodes = tracker.choose(req.sizeBytes, req.replication, req.exclude);
  const least = leastCopies(req.replication, req.minReplication);
  if (nodes.length < least) {
    throw new DfsError(
      "UNAVAILABLE",
      `only ${nodes.length} live data nodes with room; a chunk needs at least ${least} of its ${req.replication} copies`,
      { available: nodes.length },
    );
  }
  tracker.recordPlacement(req.chunkId, nodes);
  return {
    chunkId: req.chunkId,
    nodes: spreadByChunk(req.chunkId, nodes).map((n) => ({ id: n.id, url: n.url })),
    ticket: tracker.ticket(req.chunkId, req.sizeBytes, nodes),
  };
}
