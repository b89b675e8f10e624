/**
 * Which copies of an over-replicated chunk go: a chunk with more than R copies on live active nodes
 * (a node came back from an outage that was repaired meanwhile, or a repair copy landed twice) keeps R
 * of them, one per zone first, so trimming never removes the last copy in a zone while the others
 * share one.
 *
 * The choice depends on the holders alone (lowest node ids kept within a zone), not on free space or
 * timing: a new leader that re-derives it from the nodes' reports picks the same copies, so orders
 * from two leaders in a row cannot together delete more than the excess. Trimming stays leader-local
 * for that reason. Making the decision durable would take a command the state machine does not have
 * today — `trimReplicas { chunkId, keepNodeIds, atMs }` recorded before any delete is sent, applied as
 * a per-chunk "keep set" that a following leader must honour until every node outside it has reported
 * the chunk gone (and cleared by any new reference to the chunk) — which src/meta/state would own.
 */

export interface Holder {
  id: number;
  zone: string;
}

/** The holders whose copies to delete so that `want` remain, spread over as many zones as they span. */
export function excessCopies<H extends Holder>(holders: readonly H[], want: number): H[] {
  if (holders.length <= want) return [];
  const sorted = [...holders].sort((a, b) => a.id - b.id);
  const kept = new Set<H>();
  const zones = new Set<string>();
  for (const h of sorted) {
    if (kept.size < want && !zones.has(h.zone)) {
      kept.add(h);
      zones.add(h.zone);
    }
  }
  for (const h of sorted) if (kept.size < want) kept.add(h);
  return sorted.filter((h) => !kept.has(h));
}
