/**
 * applyConfChange (src/raft/core/conf.ts): the configuration after one change, the function the core
 * and anyone replaying the log share. Checked against a model of sets: a server is a voter, a
 * learner or neither; `joining` is a subset of the learners; a change that does not apply leaves the
 * configuration as it was; the input is never changed (the core keeps earlier configurations).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { applyConfChange } from "../../src/raft/core/conf.js";
import type { ConfChange, ConfState } from "../../src/raft/core/index.js";

const conf = (voters: number[], learners: number[] = [], joining: number[] = []): ConfState => ({
  voters,
  learners,
  joining,
});

describe("applyConfChange", () => {
  test("addLearner appends a new server to the learners, and to joining when it is to be promoted", () => {
    expect(applyConfChange(conf([1, 2], [3]), { type: "addLearner", nodeId: 4 })).toEqual(
      conf([1, 2], [3, 4]),
    );
    expect(
      applyConfChange(conf([1], [2], [2]), { type: "addLearner", nodeId: 3, promoteWhenCaughtUp: true }),
    ).toEqual(conf([1], [2, 3], [2, 3]));
    expect(
      applyConfChange(conf([1], [2], [2]), { type: "addLearner", nodeId: 3, promoteWhenCaughtUp: false }),
    ).toEqual(conf([1], [2, 3], [2]));
  });

  test("addLearner of a voter or of a learner changes nothing", () => {
    const c = conf([1, 2], [3], [3]);
    expect(applyConfChange(c, { type: "addLearner", nodeId: 2, promoteWhenCaughtUp: true })).toEqual(c);
    expect(applyConfChange(c, { type: "addLearner", nodeId: 3 })).toEqual(c);
  });

  test("promoteLearner moves a learner to the voters and out of joining; a non-learner stays as it was", () => {
    expect(applyConfChange(conf([1], [2, 3], [2, 3]), { type: "promoteLearner", nodeId: 2 })).toEqual(
      conf([1, 2], [3], [3]),
    );
    const c = conf([1, 2], [3], [3]);
    expect(applyConfChange(c, { type: "promoteLearner", nodeId: 2 })).toEqual(c);
    expect(applyConfChange(c, { type: "promoteLearner", nodeId: 9 })).toEqual(c);
  });

  test("removeNode takes a server out of every list", () => {
    expect(applyConfChange(conf([1, 2, 3], [4], [4]), { type: "removeNode", nodeId: 2 })).toEqual(
      conf([1, 3], [4], [4]),
    );
    expect(applyConfChange(conf([1, 2], [3, 4], [3]), { type: "removeNode", nodeId: 3 })).toEqual(
      conf([1, 2], [4], []),
    );
  });

  test("any sequence of changes matches a model of sets, and never changes its input (property)", () => {
    const change: fc.Arbitrary<ConfChange> = fc.record({
      type: fc.constantFrom("addLearner" as const, "promoteLearner" as const, "removeNode" as const),
      nodeId: fc.integer({ min: 1, max: 6 }),
      promoteWhenCaughtUp: fc.boolean(),
    });
    fc.assert(
      fc.property(fc.array(change, { maxLength: 30 }), (changes) => {
        let c = conf([1]);
        const voters = new Set([1]);
        const learners = new Set<number>();
        const joining = new Set<number>();
        for (const cc of changes) {
          const before = structuredClone(c);
          const id = cc.nodeId;
          if (cc.type === "addLearner" && !voters.has(id) && !learners.has(id)) {
            learners.add(id);
            if (cc.promoteWhenCaughtUp) joining.add(id);
          } else if (cc.type === "promoteLearner" && learners.has(id)) {
            learners.delete(id);
            joining.delete(id);
            voters.add(id);
          } else if (cc.type === "removeNode") {
            voters.delete(id);
            learners.delete(id);
            joining.delete(id);
          }
          const next = applyConfChange(c, cc);
          expect(c).toEqual(before);
          expect(new Set(next.voters)).toEqual(voters);
          expect(new Set(next.learners)).toEqual(learners);
          expect(new Set(next.joining)).toEqual(joining);
          // No server listed twice.
          expect(next.voters.length + next.learners.length).toBe(voters.size + learners.size);
          expect(next.joining.length).toBe(joining.size);
          c = next;
        }
      }),
      { numRuns: 300 },
    );
  });
});
