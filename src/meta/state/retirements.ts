/**
 * Data nodes on their way out (decommission): `draining` nodes take no new chunks and their chunks
 * are copied elsewhere by the leader's repair machinery; `removed` nodes are out of the cluster for
 * good (the leader forgets them and refuses their reports). Nodes not listed here are active.
 * Replicated through the log so that every leader, after any failover, honours the same decision.
 */
import { assert } from "../../common/assert.js";
import { fail } from "./outcome.js";
import type { DataNodeState, RetirementRecord } from "./types.js";

export class Retirements {
  private readonly byId = new Map<number, RetirementRecord>();

  constructor(private readonly maxNodes: number) {}

  stateOf(nodeId: number): DataNodeState | "active" {
    return this.byId.get(nodeId)?.state ?? "active";
  }

  /** Marks an active node draining; draining again is a no-op, a removed node cannot come back here. */
  drain(nodeId: number, nowMs: number): RetirementRecord {
    const prev = this.byId.get(nodeId);
    if (prev?.state === "removed") fail("CONDITION_FAILED", `data node ${nodeId} was removed`, { nodeId });
    if (prev) return { ...prev };
    if (this.byId.size >= this.maxNodes) {
      fail("LIMIT_EXCEEDED", `too many retired data nodes (${this.maxNodes})`, { limit: this.maxNodes });
    }
    const rec: RetirementRecord = { nodeId, state: "draining", sinceMs: nowMs };
    this.byId.set(nodeId, rec);
    return { ...rec };
  }

  /** Removes a draining node for good (the caller checked that its chunks live elsewhere). */
  remove(nodeId: number, nowMs: number): RetirementRecord {
    const prev = this.byId.get(nodeId);
    if (prev?.state === "removed") return { ...prev };
    if (prev?.state !== "draining") {
      fail("CONDITION_FAILED", `data node ${nodeId} must be decommissioned (draining) first`, { nodeId });
    }
    const rec: RetirementRecord = { nodeId, state: "removed", sinceMs: nowMs };
    this.byId.set(nodeId, rec);
    return { ...rec };
  }

  /** Sorted by node id. */
  list(): RetirementRecord[] {
    return [...this.byId.values()].map((r) => ({ ...r })).sort((a, b) => a.nodeId - b.nodeId);
  }

  static fromSnapshot(records: readonly RetirementRecord[], maxNodes: number): Retirements {
    const r = new Retirements(maxNodes);
    for (const rec of records) {
      assert(!r.byId.has(rec.nodeId), "snapshot: retired data-node ids unique");
      r.byId.set(rec.nodeId, { ...rec });
    }
    return r;
  }
}
