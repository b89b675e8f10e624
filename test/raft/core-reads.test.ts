/**
 * ReadIndex (src/raft/core/reads.ts, read-only.ts): who answers a linearizable read, at which index,
 * after what confirmation, and the bounds on waiting reads. The simulator checks that reads stay
 * linearizable; these pin the rules a client's latency and a leader's memory depend on.
 */
import { describe, expect, test } from "vitest";
import { ReadOnlyQueue } from "../../src/raft/core/read-only.js";
import { coreNode, deliver, drain, electedLeader, leaderOf, ofType } from "./core-harness.js";

describe("ReadOnlyQueue", () => {
  test("a read is confirmed by a majority of voters' answers, with every read queued before it", () => {
    const q = new ReadOnlyQueue();
    expect([q.size, q.lastCtx()]).toEqual([0, null]);
    expect(q.add("a", 5, 1, 1)).toBe(true);
    expect(q.add("b", 6, 2, 1)).toBe(true);
    expect(q.add("a", 9, 3, 1)).toBe(false); // already waiting
    expect(q.add("c", 7, 1, 1)).toBe(true);
    expect([q.size, q.lastCtx()]).toEqual([3, "c"]);
    const voters = [1, 2, 3, 4, 5];
    expect(q.ack("zz", 2, voters)).toEqual([]); // unknown
    expect(q.ack("b", 2, voters)).toEqual([]); // self + 2: not yet three of five
    expect(q.ack("b", 9, voters)).toEqual([]); // not a voter
    expect(q.ack("b", 2, voters)).toEqual([]); // the same voter twice
    expect(q.ack("b", 4, voters)).toEqual([
      { readCtx: "a", index: 5, from: 1 },
      { readCtx: "b", index: 6, from: 2 },
    ]);
    expect([q.size, q.lastCtx()]).toEqual([1, "c"]);
    expect(q.ack("b", 5, voters)).toEqual([]); // answered already
    expect(q.add("a", 8, 1, 1)).toBe(true); // its context is free again
    q.clear();
    expect([q.size, q.lastCtx(), q.ack("c", 2, [1, 2])]).toEqual([0, null, []]);
  });

  test("the leader's own answer counts: in a cluster of two, one follower's answer confirms", () => {
    const q = new ReadOnlyQueue();
    q.add("x", 3, 7, 1);
    expect(q.ack("x", 2, [1, 2])).toEqual([{ readCtx: "x", index: 3, from: 7 }]);
  });
});

describe("ReadIndex on the core", () => {
  test("a follower forwards to the leader it knows; without one it refuses", () => {
    const f = coreNode(2, [1, 2, 3]);
    expect(f.node.readIndex("r1")).toBe(false);
    expect(drain(f)).toEqual([]);
    deliver(f, { type: "heartbeat", from: 1, to: 2, term: 4, commit: 0, readCtx: null });
    expect(f.node.readIndex("r1")).toBe(true);
    expect(ofType(drain(f), "read-index")).toEqual([
      { type: "read-index", from: 2, to: 1, term: 4, readCtx: "r1" },
    ]);
    // The leader's answer becomes a read state; a refusal does not.
    deliver(f, { type: "read-index-resp", from: 1, to: 2, term: 4, readCtx: "r0", index: 3, reject: true });
    deliver(f, { type: "read-index-resp", from: 1, to: 2, term: 4, readCtx: "r1", index: 3, reject: false });
    expect(f.readStates).toEqual([{ index: 3, readCtx: "r1" }]);
  });

  test("safe reads: a heartbeat round carries the context; a majority's echo answers at the commit index", () => {
    const l = leaderOf([1, 2, 3]);
    const commit = l.node.status().commitIndex;
    expect(commit).toBe(1);
    expect(l.node.readIndex("r1")).toBe(true);
    const beats = ofType(drain(l), "heartbeat");
    expect(beats.map((b) => [b.to, b.readCtx, b.commit])).toEqual([
      [2, "r1", 1],
      [3, "r1", 1],
    ]);
    expect(l.readStates).toEqual([]);
    deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term: beats[0]!.term, readCtx: "other" });
    expect(l.readStates).toEqual([]);
    deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term: beats[0]!.term, readCtx: "r1" });
    expect(l.readStates).toEqual([{ index: 1, readCtx: "r1" }]);
    // The same context again while it waits: accepted, no second round.
    expect(l.node.readIndex("r2")).toBe(true);
    drain(l);
    expect(l.node.readIndex("r2")).toBe(true);
    expect(ofType(drain(l), "heartbeat")).toEqual([]);
  });

  test("a follower's read is answered to that follower, not as a read state of the leader", () => {
    const l = leaderOf([1, 2, 3]);
    const term = l.node.status().term;
    const beats = ofType(deliver(l, { type: "read-index", from: 3, to: 1, term, readCtx: "f" }), "heartbeat");
    expect(beats).toHaveLength(2);
    const out = deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term, readCtx: "f" });
    expect(ofType(out, "read-index-resp")).toEqual([
      { type: "read-index-resp", from: 1, to: 3, term, readCtx: "f", index: 1, reject: false },
    ]);
    expect(l.readStates).toEqual([]);
  });

  test("waiting reads are bounded: past maxPendingReads the leader refuses", () => {
    const l = leaderOf([1, 2, 3], { maxPendingReads: 2 });
    expect([l.node.readIndex("a"), l.node.readIndex("b"), l.node.readIndex("c")]).toEqual([
      true,
      true,
      false,
    ]);
  });

  test("a single voter answers at once, at its commit index", () => {
    const solo = electedLeader([1]);
    expect(solo.node.status().commitIndex).toBe(1);
    expect(solo.node.readIndex("s")).toBe(true);
    expect(drain(solo)).toEqual([]);
    expect(solo.readStates).toEqual([{ index: 1, readCtx: "s" }]);
  });

  test("a leader that removed itself (one voter left, another) still confirms reads with that voter", () => {
    const l = leaderOf([1, 2]);
    const term = l.node.status().term;
    const proposed = l.node.proposeConfChange({ type: "removeNode", nodeId: 1 });
    expect(proposed.ok).toBe(true);
    drain(l);
    const index = l.node.status().lastIndex;
    deliver(l, {
      type: "append-resp",
      from: 2,
      to: 1,
      term,
      index,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
    });
    expect([l.node.status().role, l.node.status().conf.voters]).toEqual(["leader", [2]]);
    expect(l.node.readIndex("x")).toBe(true);
    expect(ofType(drain(l), "heartbeat").map((b) => [b.to, b.readCtx])).toEqual([[2, "x"]]);
    expect(l.readStates).toEqual([]);
  });

  test("lease reads answer without a round, but only with check-quorum (the lease needs it)", () => {
    const lease = leaderOf([1, 2, 3], { readOnly: "lease", checkQuorum: true });
    expect(lease.node.readIndex("l")).toBe(true);
    expect(ofType(drain(lease), "heartbeat")).toEqual([]);
    expect(lease.readStates).toEqual([{ index: 1, readCtx: "l" }]);
    const noLease = leaderOf([1, 2, 3], { readOnly: "lease", checkQuorum: false });
    expect(noLease.node.readIndex("l")).toBe(true);
    expect(ofType(drain(noLease), "heartbeat")).toHaveLength(2);
    expect(noLease.readStates).toEqual([]);
  });

  test("a new leader holds reads until its no-op commits (bounded), then confirms them", () => {
    const l = electedLeader([1, 2, 3], { maxPendingReads: 2 });
    const term = l.node.status().term;
    expect(l.node.readIndex("a")).toBe(true);
    expect(l.node.readIndex("b")).toBe(true);
    expect(l.node.readIndex("c")).toBe(false);
    expect(ofType(drain(l), "heartbeat")).toEqual([]);
    const ack = {
      type: "append-resp",
      from: 2,
      to: 1,
      term,
      index: 1,
      reject: false,
      rejectHint: 0,
      hintTerm: 0,
    } as const;
    const beats = ofType(deliver(l, ack), "heartbeat");
    // Both go out as heartbeat rounds once the commit index is known (the last context rides along).
    expect(beats.map((b) => b.readCtx)).toEqual(["a", "a", "b", "b"]);
    deliver(l, { type: "heartbeat-resp", from: 3, to: 1, term, readCtx: "b" });
    expect(l.readStates).toEqual([
      { index: 1, readCtx: "a" },
      { index: 1, readCtx: "b" },
    ]);
  });
});
