/**
 * Which of a chunk's nodes goes first: a pipeline's head (it receives from the client and forwards,
 * twice a tail's traffic) and the holder a reader asks first. Listed as they come, the same node
 * would head every pipeline and serve every read (placement orders by free space, then id; holders
 * come in id order). Rotating the list by the chunk's id spreads that work over all nodes, and stays
 * the same for one chunk, so many readers of one chunk meet its bytes in one node's page cache.
 */

/** `nodes` rotated to start at a position taken from the chunk id (a SHA-256 in hex: uniform). */
export function spreadByChunk<T>(chunkId: string, nodes: readonly T[]): T[] {
  if (nodes.length < 2) return [...nodes];
  const start = Number.parseInt(chunkId.slice(0, 8), 16) % nodes.length;
  return Number.isNaN(start) ? [...nodes] : [...nodes.slice(start), ...nodes.slice(0, start)];
}
