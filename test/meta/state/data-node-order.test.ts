/**
 * The order of the data-node listing (issue 13, mutation testing of data-nodes.ts): the leader's
 * placement, `raftfs status` and the snapshot all read the registry through `list()`, which promises
 * the nodes by id in UTF-16 code-unit order whatever order they registered in. Two replicas that
 * registered the same nodes in different orders must list (and hash, and snapshot) them the same.
 *
 * Up to 200 nodes, past the 64 that V8 sorts by binary insertion alone, so the merges run too. A
 * comparator that answers "less" or "not less" (never "greater") cannot be told apart here: V8's
 * TimSort, like CPython's it follows, asks only whether one element is less than another.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { DEFAULT_OPTS, Harness } from "./helpers.js";

const register = (h: Harness, id: string): void => {
  h.ok({ type: "registerDataNode", id, url: `http://127.0.0.1:1/${id}`, zone: "z", capacityBytes: 1 });
};

/** Distinct ids of mixed lengths and cases, so string order differs from numeric and from insertion order. */
const ids = fc.uniqueArray(
  fc.string({ unit: fc.constantFrom("a", "B", "z", "0", "9", "-", "é"), minLength: 1, maxLength: 6 }),
  {
    minLength: 65,
    maxLength: 200,
  },
);

describe("the data-node listing", () => {
  it("lists nodes registered in any order by id, as the snapshot and a restored replica do", () => {
    fc.assert(
      fc.property(ids, (registered) => {
        const h = new Harness();
        for (const id of registered) register(h, id);
        // Code-unit order, as `<` compares: the default sort of strings.
        const expected = [...registered].sort();
        expect(h.fs.dataNodes().map((n) => n.id)).toEqual(expected);
        expect(h.fs.snapshot().dataNodes.map((n) => n.id)).toEqual(expected);
        const restored = FsState.restore(h.fs.snapshot(), DEFAULT_OPTS);
        expect(restored.dataNodes().map((n) => n.id)).toEqual(expected);
      }),
      { numRuns: 10 },
    );
  });

  it("two replicas that registered the same nodes in opposite orders list them the same", () => {
    const names = Array.from({ length: 100 }, (_, i) => `n${(i * 37) % 100}`);
    const forward = new Harness();
    const backward = new Harness();
    for (const id of names) register(forward, id);
    for (const id of [...names].reverse()) register(backward, id);
    const listed = forward.fs.dataNodes().map((n) => n.id);
    expect(listed.slice(0, 4)).toEqual(["n0", "n1", "n10", "n11"]);
    expect(backward.fs.dataNodes().map((n) => n.id)).toEqual(listed);
  });
});
