/**
 * The data-node registry: which nodes exist, where and in which zone. Liveness and chunk locations are
 * soft state kept by the leader outside the log (DESIGN.md, "Data path"); only membership is replicated.
 */
import { assert } from "../../common/assert.js";
import { fail } from "./outcome.js";
import type { DataNodeRecord } from "./types.js";

export class DataNodeRegistry {
  private readonly nodes = new Map<string, DataNodeRecord>();

  constructor(private readonly maxNodes: number) {}

  list(): DataNodeRecord[] {
    // By id in code-unit order. Ids are the map's keys, so two are never equal: no third answer.
    return [...this.nodes.values()].map((n) => ({ ...n })).sort((a, b) => (a.id < b.id ? -1 : 1));
  }

  /** Insert or update; `registeredAtMs` is kept across updates. */
  upsert(
    node: { id: string; url: string; zone: string; capacityBytes: number },
    nowMs: number,
  ): { isNew: boolean } {
    const prev = this.nodes.get(node.id);
    if (prev === undefined && this.nodes.size >= this.maxNodes) {
      fail("LIMIT_EXCEEDED", `the data-node registry is full (${this.maxNodes} nodes)`, {
        limit: this.maxNodes,
      });
    }
    this.nodes.set(node.id, {
      id: node.id,
      url: node.url,
      zone: node.zone,
      capacityBytes: node.capacityBytes,
      registeredAtMs: prev?.registeredAtMs ?? nowMs,
      updatedAtMs: nowMs,
    });
    return { isNew: prev === undefined };
  }

  remove(id: string): void {
    if (!this.nodes.delete(id)) fail("NOT_FOUND", `no data node ${JSON.stringify(id)}`, { id });
  }

  toSnapshot(): DataNodeRecord[] {
    return this.list();
  }

  static fromSnapshot(nodes: readonly DataNodeRecord[], maxNodes: number): DataNodeRegistry {
    const reg = new DataNodeRegistry(maxNodes);
    for (const n of nodes) {
      assert(!reg.nodes.has(n.id), "snapshot: data-node ids unique");
      reg.nodes.set(n.id, { ...n });
    }
    return reg;
  }
}
