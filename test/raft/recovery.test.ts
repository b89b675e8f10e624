/**
 * What a replica recovering from a lost store learns from term probes (src/raft/core/recovery.ts):
 * which answers count, the floor, and the most up-to-date log a candidate must match for its vote.
 * The simulator checks the protocol around it; these pin the bookkeeping itself.
 */
import { describe, expect, test } from "vitest";
import { Recovery } from "../../src/raft/core/recovery.js";

const NONCE = 77;
function answer(from: number, term: number, lastLogIndex: number, lastLogTerm: number, nonce = NONCE) {
  return { type: "term-probe-resp" as const, from, to: 1, term, nonce, lastLogIndex, lastLogTerm };
}

describe("Recovery", () => {
  test("the floor is the highest term any voter told; it waits for every voter but itself", () => {
    const r = new Recovery(NONCE);
    expect(r.missing([1, 2, 3], 1)).toEqual([2, 3]);
    r.hear(answer(2, 4, 0, 0));
    expect(r.missing([1, 2, 3], 1)).toEqual([3]);
    r.hear(answer(3, 6, 0, 0));
    r.hear(answer(2, 5, 0, 0));
    expect(r.missing([1, 2, 3], 1)).toEqual([]);
    expect(r.fixFloor()).toBe(6);
    expect(() => r.fixFloor()).toThrow(/fixed once/);
  });

  test("an answer to another incarnation's probe does not count", () => {
    const r = new Recovery(NONCE);
    r.hear(answer(2, 9, 50, 9, NONCE + 1));
    expect(r.missing([1, 2], 1)).toEqual([2]);
    r.hear(answer(2, 1, 0, 0));
    expect(r.fixFloor()).toBe(1);
  });

  test("answers after the floor is fixed change nothing", () => {
    const r = new Recovery(NONCE);
    r.hear(answer(2, 3, 10, 3));
    r.fixFloor();
    r.hear(answer(2, 8, 40, 8));
    expect(r.floor).toBe(3);
    expect(r.mayVoteFor(10, 3)).toBe(true);
    expect(r.mayVoteFor(39, 3)).toBe(true);
  });

  test("no vote before the floor; then only for a log at least as up-to-date as the best reported", () => {
    const r = new Recovery(NONCE);
    r.hear(answer(2, 5, 10, 4));
    r.hear(answer(3, 5, 12, 3)); // longer but older: not better
    r.hear(answer(4, 5, 8, 4)); // same term, shorter: not better
    expect(r.mayVoteFor(100, 9)).toBe(false);
    r.fixFloor();
    expect(r.mayVoteFor(10, 4)).toBe(true);
    expect(r.mayVoteFor(9, 4)).toBe(false);
    expect(r.mayVoteFor(12, 3)).toBe(false);
    expect(r.mayVoteFor(1, 5)).toBe(true);
  });

  test("a later answer with a longer log of the same term becomes the best", () => {
    const r = new Recovery(NONCE);
    r.hear(answer(2, 5, 10, 4));
    r.hear(answer(3, 5, 11, 4));
    r.hear(answer(4, 5, 30, 2));
    r.fixFloor();
    expect(r.mayVoteFor(10, 4)).toBe(false);
    expect(r.mayVoteFor(11, 4)).toBe(true);
  });
});
