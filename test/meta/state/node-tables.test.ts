/**
 * The data-node registry and the decommission records as the leader and an operator see them (issue
 * 13, mutation testing of data-nodes.ts and retirements.ts): the exact answers and refusals, the
 * bounds (an update of a known node still fits a full table), the orders of the listings, copies that
 * do not alias the state, and restore refusing a snapshot that names a node twice.
 */
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { DEFAULT_OPTS, Harness } from "./helpers.js";

const node = (id: string, capacityBytes = 100) => ({
  type: "registerDataNode",
  id,
  url: `http://127.0.0.1:1/${id}`,
  zone: "z",
  capacityBytes,
});

describe("the data-node registry", () => {
  it("registers once, keeps the first registration time across updates, and lists by id", () => {
    const h = new Harness({ maxDataNodes: 2 });
    expect(h.ok(node("n2"))).toEqual({ isNew: true });
    h.advance(10);
    expect(h.ok(node("n10"))).toEqual({ isNew: true });
    h.advance(10);
    expect(h.ok(node("n2", 500))).toEqual({ isNew: false });
    const list = h.fs.dataNodes();
    expect(list).toEqual([
      {
        id: "n10",
        url: "http://127.0.0.1:1/n10",
        zone: "z",
        capacityBytes: 100,
        registeredAtMs: 1010,
        updatedAtMs: 1010,
      },
      {
        id: "n2",
        url: "http://127.0.0.1:1/n2",
        zone: "z",
        capacityBytes: 500,
        registeredAtMs: 1000,
        updatedAtMs: 1020,
      },
    ]);
    (list[0] as { capacityBytes: number }).capacityBytes = 0;
    expect(h.fs.dataNodes()[0]?.capacityBytes).toBe(100);
  });

  it("a full registry refuses a new node with the bound, and still takes updates of known ones", () => {
    const h = new Harness({ maxDataNodes: 2 });
    h.ok(node("a"));
    h.ok(node("b"));
    expect(h.err(node("c"))).toEqual({
      code: "LIMIT_EXCEEDED",
      message: "the data-node registry is full (2 nodes)",
      limit: 2,
    });
    expect(h.ok(node("a", 7))).toEqual({ isNew: false });
    expect(h.fs.dataNodes().map((n) => n.id)).toEqual(["a", "b"]);
  });

  it("removing an unknown node is NOT_FOUND, naming it", () => {
    const h = new Harness();
    h.ok(node("a"));
    expect(h.ok({ type: "removeDataNode", id: "a" })).toEqual({ removed: true });
    expect(h.err({ type: "removeDataNode", id: "a" })).toEqual({
      code: "NOT_FOUND",
      message: 'no data node "a"',
      id: "a",
    });
    expect(h.fs.dataNodes()).toEqual([]);
  });

  it("restore keeps the registry and refuses a snapshot naming a node twice", () => {
    const h = new Harness();
    h.ok(node("a"));
    h.ok(node("b"));
    const snap = h.fs.snapshot();
    expect(FsState.restore(snap, DEFAULT_OPTS).dataNodes()).toEqual(h.fs.dataNodes());
    const twice = { ...snap, dataNodes: [...snap.dataNodes, { ...(snap.dataNodes[0] as object) }] };
    expect(() => FsState.restore(twice as typeof snap, DEFAULT_OPTS)).toThrow(
      "assertion failed: snapshot: data-node ids unique",
    );
  });
});

describe("the decommission records", () => {
  it("answer with the record; refusals name the node and why", () => {
    const h = new Harness();
    expect(h.err({ type: "retireDataNode", nodeId: 4 })).toEqual({
      code: "CONDITION_FAILED",
      message: "data node 4 must be decommissioned (draining) first",
      nodeId: 4,
    });
    expect(h.ok({ type: "drainDataNode", nodeId: 4 })).toEqual({
      nodeId: 4,
      state: "draining",
      sinceMs: 1000,
    });
    h.advance(5);
    expect(h.ok({ type: "retireDataNode", nodeId: 4 })).toEqual({
      nodeId: 4,
      state: "removed",
      sinceMs: 1005,
    });
    h.advance(5);
    expect(h.ok({ type: "retireDataNode", nodeId: 4 })).toEqual({
      nodeId: 4,
      state: "removed",
      sinceMs: 1005,
    });
    expect(h.err({ type: "drainDataNode", nodeId: 4 })).toEqual({
      code: "CONDITION_FAILED",
      message: "data node 4 was removed",
      nodeId: 4,
    });
  });

  it("are bounded (draining a known node again still fits), listed by node id as numbers, and copied", () => {
    const h = new Harness({ maxDataNodes: 2 });
    h.ok({ type: "drainDataNode", nodeId: 10 });
    h.ok({ type: "drainDataNode", nodeId: 9 });
    expect(h.err({ type: "drainDataNode", nodeId: 3 })).toEqual({
      code: "LIMIT_EXCEEDED",
      message: "too many retired data nodes (2)",
      limit: 2,
    });
    expect(h.ok({ type: "drainDataNode", nodeId: 9 })).toMatchObject({ nodeId: 9, state: "draining" });
    const list = h.fs.retiredDataNodes();
    expect(list.map((r) => r.nodeId)).toEqual([9, 10]);
    (list[0] as { state: string }).state = "removed";
    expect(h.fs.dataNodeState(9)).toBe("draining");
  });

  it("restore refuses a snapshot naming a retired node twice", () => {
    const h = new Harness();
    h.ok({ type: "drainDataNode", nodeId: 1 });
    const snap = h.fs.snapshot();
    const twice = {
      ...snap,
      retiredDataNodes: [...(snap.retiredDataNodes ?? []), { nodeId: 1, state: "removed", sinceMs: 0 }],
    };
    expect(() => FsState.restore(twice as typeof snap, DEFAULT_OPTS)).toThrow(
      "assertion failed: snapshot: retired data-node ids unique",
    );
  });
});
