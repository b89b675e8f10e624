/**
 * The counting under every election and commit: a majority's index, and when a vote is decided.
 * fast-check compares both with a direct count over arbitrary voter sets.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { majority, quorumIndex, voteOutcome } from "../../src/raft/core/quorum.js";

const votersArb = fc.uniqueArray(fc.integer({ min: 1, max: 9 }), { minLength: 1, maxLength: 7 });

describe("quorumIndex", () => {
  test("no voters: nothing is committed", () => {
    expect(quorumIndex([], () => 7)).toBe(0);
  });

  test("is the highest index at least a majority has reached", () => {
    fc.assert(
      fc.property(votersArb, fc.array(fc.nat(50), { minLength: 7, maxLength: 7 }), (voters, idx) => {
        const indexOf = (id: number) => idx[id % 7]!;
        const q = quorumIndex(voters, indexOf);
        const atLeast = (i: number) => voters.filter((v) => indexOf(v) >= i).length;
        expect(atLeast(q)).toBeGreaterThanOrEqual(majority(voters.length));
        expect(atLeast(q + 1)).toBeLessThan(majority(voters.length));
      }),
    );
  });
});

describe("voteOutcome", () => {
  test("won with a majority granted, lost once a majority can no longer grant, else pending", () => {
    fc.assert(
      fc.property(
        votersArb,
        fc.array(fc.constantFrom(true, false, undefined), { minLength: 9, maxLength: 9 }),
        (voters, answers) => {
          const votes = new Map<number, boolean>();
          for (const id of voters) {
            const a = answers[id - 1];
            if (a !== undefined) votes.set(id, a);
          }
          // Votes from outside the configuration never count.
          votes.set(100, true);
          votes.set(101, false);
          const granted = voters.filter((id) => votes.get(id) === true).length;
          const open = voters.filter((id) => !votes.has(id)).length;
          const need = majority(voters.length);
          const want = granted >= need ? "won" : granted + open < need ? "lost" : "pending";
          expect(voteOutcome(voters, votes)).toBe(want);
        },
      ),
    );
  });

  test("one rejection of three is not yet a loss; two are", () => {
    expect(voteOutcome([1, 2, 3], new Map([[2, false]]))).toBe("pending");
    expect(
      voteOutcome(
        [1, 2, 3],
        new Map([
          [2, false],
          [3, false],
        ]),
      ),
    ).toBe("lost");
    expect(
      voteOutcome(
        [1, 2, 3],
        new Map([
          [1, true],
          [3, true],
        ]),
      ),
    ).toBe("won");
  });
});
