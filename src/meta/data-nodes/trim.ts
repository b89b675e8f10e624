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

/**
 * Trim deletes this leader ordered and their nodes have not acknowledged yet (a heartbeat's `deleted`),
 * chunk by chunk. A holder leaves the chunk's inventory as soon as its delete is ordered, so that reads
 * and placement stop counting a copy about to go; these orders are what puts it back if the order was
 * lost on the way (a heartbeat answer that never arrived) — see RepairDuty.
 */
export class TrimOrders {
  private readonly orders = new Map<string, { atMs: number; nodeIds: Set<number> }>();

  get size(): number {
    return this.orders.size;
  }

  has(chunkId: string): boolean {
    return this.orders.has(chunkId);
  }

  ordered(chunkId: string, nodeIds: readonly number[], atMs: number): void {
    if (nodeIds.length === 0) return;
    this.orders.set(chunkId, { atMs, nodeIds: new Set(nodeIds) });
  }

  /** Whether a delete of `chunkId` ordered to node `nodeId` is still unacknowledged. */
  pending(chunkId: string, nodeId: number): boolean {
    return this.orders.get(chunkId)?.nodeIds.has(nodeId) ?? false;
  }

  /** Node `nodeId` carried out (or no longer needs) its deletes of `chunkIds`. */
  settle(nodeId: number, chunkIds: Iterable<string>): void {
    for (const id of chunkIds) {
      const o = this.orders.get(id);
      if (!o?.nodeIds.delete(nodeId)) continue;
      if (o.nodeIds.size === 0) this.orders.delete(id);
    }
  }

  /** Chunks with orders to node `nodeId` still unacknowledged. */
  *pendingOn(nodeId: number): Generator<string> {
    for (const [id, o] of this.orders) if (o.nodeIds.has(nodeId)) yield id;
  }

  /** Removes and returns the orders older than `ageMs`, with the nodes that never acknowledged them. */
  expire(nowMs: number, ageMs: number): [string, number[]][] {
    const out: [string, number[]][] = [];
    for (const [id, o] of this.orders) {
      if (nowMs - o.atMs <= ageMs) continue;
      this.orders.delete(id);
      out.push([id, [...o.nodeIds]]);
    }
    return out;
  }
}
