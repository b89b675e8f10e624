/**
 * The leader's view of one follower (src/raft/core/progress.ts). The simulator proves that replication
 * stays safe and live whatever these do; these pin the flow control itself — where the next append
 * starts, when the leader waits, and which answers are stale — which the simulator cannot see.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { Progress } from "../../src/raft/core/progress.js";

describe("Progress", () => {
  test("a new follower is probed from the given index, not paused", () => {
    const p = new Progress(5, false, 2);
    expect([p.state, p.next, p.match, p.probeSent, p.isPaused()]).toEqual(["probe", 5, 0, false, false]);
    // Nothing in flight and not yet heard from (check-quorum counts only followers that answered).
    expect([p.inflights, p.recentActive, p.commitSent, p.pendingSnapshot]).toEqual([[], false, 0, 0]);
  });

  test("probe: one append outstanding pauses it until an answer", () => {
    const p = new Progress(5, false, 2);
    p.sentEntries(7);
    expect(p.probeSent).toBe(true);
    expect(p.isPaused()).toBe(true);
    expect(p.next).toBe(5); // probing does not advance optimistically
    expect(p.maybeUpdate(7)).toBe(true);
    expect([p.match, p.next, p.probeSent, p.isPaused()]).toEqual([7, 8, false, false]);
  });

  test("an older or equal acknowledgement changes nothing and says so", () => {
    const p = new Progress(1, false, 2);
    p.maybeUpdate(6);
    p.sentEntries(9);
    expect(p.maybeUpdate(6)).toBe(false);
    expect(p.maybeUpdate(3)).toBe(false);
    expect([p.match, p.next, p.probeSent]).toEqual([6, 7, true]);
  });

  test("replicate: streams optimistically within the window, pauses when it is full, frees by acks", () => {
    const p = new Progress(1, false, 2);
    p.maybeUpdate(4);
    p.becomeReplicate();
    expect([p.state, p.next]).toEqual(["replicate", 5]);
    p.sentEntries(6);
    expect([p.next, p.isPaused()]).toEqual([7, false]);
    p.sentEntries(9);
    expect([p.next, p.isPaused(), p.inflights]).toEqual([10, true, [6, 9]]);
    expect(() => p.sentEntries(11)).toThrow(/window/);
    p.freeInflightsUpTo(5);
    expect(p.inflights).toEqual([6, 9]);
    p.freeInflightsUpTo(6);
    expect([p.inflights, p.isPaused()]).toEqual([[9], false]);
    p.freeInflightsUpTo(100);
    expect(p.inflights).toEqual([]);
  });

  test("replicate: a rejection at or below match is stale; above it, next falls back to the hint", () => {
    const p = new Progress(1, false, 4);
    p.maybeUpdate(10);
    p.becomeReplicate();
    p.sentEntries(20);
    expect(p.maybeDecrTo(10, 3)).toBe(false);
    expect(p.next).toBe(21);
    expect(p.maybeDecrTo(15, 12)).toBe(true);
    expect(p.next).toBe(13);
    expect(p.maybeDecrTo(15, 2)).toBe(true);
    expect(p.next).toBe(11); // never below match + 1
    expect(p.maybeDecrTo(18, 30)).toBe(true);
    expect(p.next).toBe(18); // never above the rejected index
  });

  test("probe: only the answer to the append just sent counts; it unpauses and moves next back", () => {
    const p = new Progress(9, false, 2);
    p.maybeUpdate(2);
    p.next = 9;
    p.sentEntries(12);
    expect(p.maybeDecrTo(7, 3)).toBe(false); // answers an older probe
    expect([p.next, p.probeSent]).toEqual([9, true]);
    expect(p.maybeDecrTo(8, 5)).toBe(true);
    expect([p.next, p.probeSent]).toEqual([6, false]);
    expect(p.maybeDecrTo(5, 0)).toBe(true);
    expect(p.next).toBe(3); // not below match + 1
  });

  test("probe from an empty follower never goes below index 1", () => {
    const p = new Progress(2, false, 2);
    expect(p.maybeDecrTo(1, 0)).toBe(true);
    expect(p.next).toBe(1);
  });

  test("snapshot: paused while sending; probing after it starts past the snapshot", () => {
    const p = new Progress(1, false, 2);
    p.maybeUpdate(3);
    p.becomeReplicate();
    p.sentEntries(8);
    p.becomeSnapshot(50);
    expect([p.state, p.pendingSnapshot, p.inflights, p.isPaused()]).toEqual(["snapshot", 50, [], true]);
    p.becomeProbe();
    expect([p.state, p.next, p.pendingSnapshot]).toEqual(["probe", 51, 0]);
  });

  test("probe after replicate restarts at match + 1 and clears the window", () => {
    const p = new Progress(1, false, 3);
    p.maybeUpdate(4);
    p.becomeReplicate();
    p.sentEntries(7);
    p.becomeProbe();
    expect([p.state, p.next, p.inflights, p.probeSent]).toEqual(["probe", 5, [], false]);
    p.maybeUpdate(60);
    p.becomeSnapshot(40);
    p.becomeProbe();
    expect(p.next).toBe(61); // match beyond the snapshot wins
  });

  test("match only grows and next stays past it, whatever the order of answers (property)", () => {
    fc.assert(
      fc.property(
        fc.array(fc.record({ ack: fc.boolean(), i: fc.integer({ min: 1, max: 40 }), hint: fc.nat(40) }), {
          maxLength: 60,
        }),
        (answers) => {
          const p = new Progress(1, false, 4);
          let match = 0;
          for (const a of answers) {
            if (a.ack) p.maybeUpdate(a.i);
            else p.maybeDecrTo(a.i, a.hint);
            expect(p.match).toBeGreaterThanOrEqual(match);
            match = p.match;
            expect(p.next).toBeGreaterThan(p.match);
          }
        },
      ),
    );
  });
});
