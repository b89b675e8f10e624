/** Decommission in the state machine: active → draining → removed, replicated and in snapshots. */
import { describe, expect, test } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { DEFAULT_OPTS, Harness } from "./helpers.js";

describe("data-node decommission state", () => {
  test("a node is active until drained, and removed only after draining", () => {
    const h = new Harness();
    expect(h.fs.dataNodeState(2)).toBe("active");
    expect(h.err({ type: "retireDataNode", nodeId: 2 }).code).toBe("CONDITION_FAILED");
    expect(h.ok({ type: "drainDataNode", nodeId: 2 })).toMatchObject({ nodeId: 2, state: "draining" });
    expect(h.fs.dataNodeState(2)).toBe("draining");
    // Draining twice keeps the first record (its time).
    h.advance(500);
    expect(h.ok({ type: "drainDataNode", nodeId: 2 })).toMatchObject({ sinceMs: 1_000 });
    expect(h.ok({ type: "retireDataNode", nodeId: 2 })).toMatchObject({ state: "removed" });
    expect(h.fs.dataNodeState(2)).toBe("removed");
    // A removed node cannot be drained back into the cluster.
    expect(h.err({ type: "drainDataNode", nodeId: 2 }).code).toBe("CONDITION_FAILED");
    expect(h.fs.dataNodeState(1)).toBe("active");
  });

  test("bad node ids are refused and change nothing", () => {
    const h = new Harness();
    for (const nodeId of [0, -1, 1.5, "2", null]) {
      expect(h.err({ type: "drainDataNode", nodeId }).code).toBe("BAD_REQUEST");
    }
    expect(h.fs.retiredDataNodes()).toEqual([]);
  });

  test("the states survive a snapshot and count in the state hash", () => {
    const h = new Harness();
    const before = h.fs.stateHash();
    h.apply({ type: "drainDataNode", nodeId: 3 });
    h.apply({ type: "drainDataNode", nodeId: 1 });
    h.apply({ type: "retireDataNode", nodeId: 1 });
    expect(h.fs.stateHash()).not.toBe(before);
    const restored = FsState.restore(structuredClone(h.fs.snapshot()), DEFAULT_OPTS);
    expect(restored.stateHash()).toBe(h.fs.stateHash());
    expect(restored.retiredDataNodes().map((r) => [r.nodeId, r.state])).toEqual([
      [1, "removed"],
      [3, "draining"],
    ]);
  });

  test("a snapshot written before decommission existed restores with every node active", () => {
    const h = new Harness();
    const { retiredDataNodes: _, ...old } = h.fs.snapshot();
    const restored = FsState.restore(old as ReturnType<FsState["snapshot"]>, DEFAULT_OPTS);
    expect(restored.dataNodeState(1)).toBe("active");
  });
});
