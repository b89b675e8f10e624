/**
 * Log replication on one core stepped by hand (src/raft/core/replication.ts): what a leader sends
 * each follower and when (the probe / replicate / snapshot states, the bounded in-flight window,
 * fast back-off on a rejection), the commit rule, back-pressure on uncommitted bytes, and what a
 * follower answers. The simulator checks safety and liveness; these pin the messages peers act on.
 */
import { describe, expect, test } from "vitest";
import { DEFAULT_RAFT_OPTIONS, type Entry, type Message } from "../../src/raft/core/index.js";
import { entrySizeBytes } from "../../src/raft/core/storage.js";
import {
  ack,
  type CoreUnderTest,
  coreNodeOn,
  deliver,
  drain,
  elect,
  electedLeader,
  leaderOf,
  ofType,
  storageWithLog,
  ticks,
  ticksUntil,
} from "./core-harness.js";

function e(index: number, term: number): Entry {
  return { index, term, data: new Uint8Array([index]) };
}

function reject(
  c: CoreUnderTest,
  from: number,
  index: number,
  rejectHint: number,
  hintTerm: number,
): Message[] {
  const term = c.node.status().term;
  return deliver(c, { type: "append-resp", from, to: 1, term, index, reject: true, rejectHint, hintTerm });
}

/** The appends to `to` as [prevIndex, indexes carried]. */
function appendsTo(msgs: Message[], to: number): [number, number[]][] {
  return ofType(msgs, "append")
    .filter((m) => m.to === to)
    .map((m) => [m.prevIndex, m.entries.map((x) => x.index)]);
}

/** Proposes one entry of `bytes` bytes and hands out the Ready; returns the messages. */
function propose(c: CoreUnderTest, bytes = 1): Message[] {
  const r = c.node.propose(new Uint8Array(bytes));
  expect(r.ok).toBe(true);
  return drain(c);
}

describe("what a leader sends a follower", () => {
  test("a probing follower gets one append until it answers; its answer starts streaming, which fills the window", () => {
    const l = electedLeader([1, 2, 3], { maxInflightAppends: 2, maxEntriesPerAppend: 1 });
    // The election's append (the no-op at 1) is unanswered: proposals wait for it.
    for (let i = 0; i < 3; i++) expect(appendsTo(propose(l), 2)).toEqual([]);
    expect(appendsTo(ack(l, 2, 1), 2)).toEqual([
      [1, [2]],
      [2, [3]],
    ]);
  });

  test("at most maxInflightAppends appends in flight; each answer frees its slots and the leader fills them at once", () => {
    const l = leaderOf([1, 2, 3], { maxInflightAppends: 2, maxEntriesPerAppend: 1 });
    const sent = [propose(l), propose(l), propose(l), propose(l)].map((msgs) => appendsTo(msgs, 2));
    expect(sent).toEqual([[[1, [2]]], [[2, [3]]], [], []]);
    expect(appendsTo(ack(l, 2, 2), 2)).toEqual([[3, [4]]]);
    expect(appendsTo(ack(l, 2, 4), 2)).toEqual([[4, [5]]]);
    expect(l.node.status().commitIndex).toBe(4);
  });

  test("entries an answer already sent are not sent again, nor an empty append, when the proposals' Ready goes out", () => {
    const l = leaderOf([1, 2, 3]);
    propose(l);
    expect(l.node.propose(new Uint8Array(1)).ok).toBe(true); // index 3, its Ready not yet handed out
    const out = ack(l, 2, 2);
    expect(appendsTo(out, 2)).toEqual([[2, [3]]]);
    expect(appendsTo(out, 3)).toEqual([[2, [3]]]);
  });

  test("a rejection stops the streaming: the leader probes once from the follower's hint and waits for its answer", () => {
    const l = leaderOf([1, 2, 3], { maxInflightAppends: 4 });
    const term = l.node.status().term;
    propose(l);
    propose(l);
    // Follower 2 missed the append of entry 2 and refuses the next one (prevIndex 2); its log ends at 1.
    expect(appendsTo(reject(l, 2, 2, 1, term), 2)).toEqual([[1, [2, 3]]]);
    expect(appendsTo(propose(l), 2)).toEqual([]);
    expect(appendsTo(ack(l, 2, 3), 2)).toEqual([[3, [4]]]);
  });

  test("while probing, an answer at the follower's known match (a late duplicate) resumes streaming; an older one changes nothing", () => {
    const l = leaderOf([1, 2, 3], { maxInflightAppends: 4 });
    const term = l.node.status().term;
    propose(l);
    propose(l);
    expect(appendsTo(reject(l, 2, 2, 1, term), 2)).toEqual([[1, [2, 3]]]);
    // An answer older than what 2 is known to hold proves nothing: still one probe at a time.
    expect(appendsTo(ack(l, 2, 0), 2)).toEqual([]);
    expect(appendsTo(propose(l), 2)).toEqual([]);
    // An answer at its match shows where it stands: the leader streams again from there.
    expect(appendsTo(ack(l, 2, 1), 2)).toEqual([[1, [2, 3, 4]]]);
    expect(appendsTo(propose(l), 2)).toEqual([[4, [5]]]);
  });

  test("fast back-off: the follower's hint term lets the leader skip its own entries of later terms", () => {
    // The leader's log: terms 1,1,1,3,3,3; elected in term 4 (its no-op at 7).
    const l = elect(
      coreNodeOn(1, storageWithLog([1, 2, 3], [1, 1, 1, 3, 3, 3]), { preVote: false }),
      [1, 2, 3],
    );
    expect(l.node.status().term).toBe(4);
    // Follower 2 holds terms 1,1,1,2,2,2,2,2: its entry at 6 is of term 2, so nothing of term 3 matches.
    const out = ofType(reject(l, 2, 6, 6, 2), "append").filter((m) => m.to === 2);
    expect(out.map((m) => [m.prevIndex, m.prevTerm, m.entries.map((x) => x.index)])).toEqual([
      [3, 1, [4, 5, 6, 7]],
    ]);
  });

  test("an empty probe waits for its answer too (a follower that lost its store is probed from the log's end)", () => {
    const l = leaderOf([1, 2, 3]);
    const term = l.node.status().term;
    propose(l);
    ack(l, 2, 2);
    ack(l, 3, 2);
    deliver(l, { type: "term-probe", from: 3, to: 1, term: 0, nonce: 7, lastLogIndex: 0 });
    const probe = deliver(l, { type: "heartbeat-resp", from: 3, to: 1, term, readCtx: null });
    expect(appendsTo(probe, 3)).toEqual([[2, []]]);
    expect(appendsTo(propose(l), 3)).toEqual([]);
    expect(appendsTo(propose(l), 2)).toEqual([[3, [4]]]);
  });

  test("a follower behind the log's start is sent the snapshot and nothing else until it holds it", () => {
    const l = leaderOf([1, 2, 3]);
    const term = l.node.status().term;
    expect(l.node.propose([1, 2, 3, 4].map((i) => new Uint8Array([i]))).ok).toBe(true);
    drain(l);
    ack(l, 2, 5);
    expect(l.node.status().commitIndex).toBe(5);
    l.storage.createSnapshot(5, { voters: [1, 2, 3], learners: [], joining: [] });
    l.storage.compact(5);
    const meta = l.storage.snapshot().meta;
    // Follower 3 lost what came after the no-op; what it lacks is compacted.
    const out = reject(l, 3, 5, 1, term);
    expect(out.filter((m) => m.to === 3)).toEqual([{ type: "snapshot", from: 1, to: 3, term, meta }]);
    expect(appendsTo(propose(l), 3)).toEqual([]);
    // An old append's answer below the snapshot does not end the wait.
    expect(ack(l, 3, 3).filter((m) => m.to === 3)).toEqual([]);
    // Each heartbeat answer asks the shell again (a stream may have broken).
    const beat = ofType(ticksUntil(l, "heartbeat"), "heartbeat").find((m) => m.to === 3)!;
    expect(deliver(l, { type: "heartbeat-resp", from: 3, to: 1, term, readCtx: beat.readCtx })).toEqual([
      { type: "snapshot", from: 1, to: 3, term, meta },
    ]);
    // Installed: the answer at the snapshot's index resumes replication after it.
    expect(appendsTo(ack(l, 3, 5), 3)).toEqual([[5, [6]]]);
  });

  test("a follower whose log is empty is sent the snapshot once the leader's log no longer starts at 1", () => {
    const l = elect(coreNodeOn(1, storageWithLog([1, 2, 3], [1, 1, 1]), { preVote: false }), [1, 2, 3]);
    const term = l.node.status().term;
    ack(l, 2, 4); // the new term's no-op
    expect(l.node.status().commitIndex).toBe(4);
    l.storage.createSnapshot(4, { voters: [1, 2, 3], learners: [], joining: [] });
    l.storage.compact(4);
    // Follower 3 lost its store: it holds nothing, so its hint is 0 (and the term there 0).
    const meta = l.storage.snapshot().meta;
    expect(reject(l, 3, 3, 0, 0).filter((m) => m.to === 3)).toEqual([
      { type: "snapshot", from: 1, to: 3, term, meta },
    ]);
  });

  test("no snapshot is started for a follower not heard from since the last check-quorum round, until it answers", () => {
    const l = leaderOf([1, 2, 3], { maxEntriesPerAppend: 1 });
    const term = l.node.status().term;
    // A check-quorum round passes with both followers active; from then on follower 3 is silent.
    ticks(l, DEFAULT_RAFT_OPTIONS.electionTimeoutTicks);
    expect(l.node.status().role).toBe("leader");
    expect(l.node.status().progress.get(3)?.recentActive).toBe(false);
    // Entry 2 goes to 3 (one per append), which never answers; 2 takes them all and they commit.
    expect(l.node.propose([2, 3, 4, 5].map((i) => new Uint8Array([i]))).ok).toBe(true);
    expect(appendsTo(drain(l), 3)).toEqual([[1, [2]]]);
    ack(l, 2, 5);
    expect(l.node.status().commitIndex).toBe(5);
    l.storage.createSnapshot(5, { voters: [1, 2, 3], learners: [], joining: [] });
    l.storage.compact(5);
    // What 3 lacks next is compacted, but a dead peer would pin a large transfer: nothing goes to it.
    expect(propose(l).filter((m) => m.to === 3)).toEqual([]);
    // Its answer marks it alive: now the snapshot is asked for.
    const meta = l.storage.snapshot().meta;
    expect(deliver(l, { type: "heartbeat-resp", from: 3, to: 1, term, readCtx: null })).toEqual([
      { type: "snapshot", from: 1, to: 3, term, meta },
    ]);
  });

  test("leadership transfer: timeout-now goes to the transferee once it holds the whole log, not before", () => {
    const l = leaderOf([1, 2, 3], { maxEntriesPerAppend: 1, maxInflightAppends: 4 });
    propose(l);
    propose(l);
    expect(l.node.transferLeadership(2)).toBe(true);
    expect(ofType(ack(l, 2, 2), "timeout-now")).toEqual([]);
    expect(ofType(ack(l, 2, 3), "timeout-now")).toEqual([{ type: "timeout-now", from: 1, to: 2, term: 1 }]);
  });
});

describe("the commit rule", () => {
  test("a majority's match commits; one follower of five does not", () => {
    const l = leaderOf([1, 2, 3, 4, 5]);
    propose(l);
    ack(l, 2, 2);
    expect(l.node.status().commitIndex).toBe(1);
    ack(l, 3, 2);
    expect(l.node.status().commitIndex).toBe(2);
  });

  test("Figure 8: an earlier term's entry on a majority is not committed until an entry of the leader's term is", () => {
    const l = elect(coreNodeOn(1, storageWithLog([1, 2, 3], [1, 1]), { preVote: false }), [1, 2, 3]);
    expect(l.node.status().term).toBe(2);
    ack(l, 2, 2);
    expect(l.node.status().commitIndex).toBe(0);
    expect(l.applied).toEqual([]);
    ack(l, 2, 3);
    expect(l.node.status().commitIndex).toBe(3);
    expect(l.applied.map((x) => [x.index, x.term])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
    ]);
  });

  test("a commit that a smaller quorum allows is sent to every follower at once", () => {
    const l = leaderOf([1, 2, 3, 4]);
    expect(l.node.proposeConfChange({ type: "removeNode", nodeId: 4 }).ok).toBe(true);
    drain(l);
    propose(l); // index 3
    ack(l, 2, 3);
    expect(l.node.status().commitIndex).toBe(1);
    // 3 holds the removal only: the removal commits, and with voters 1,2,3 so does entry 3 (on 1 and 2).
    const out = ack(l, 3, 2);
    expect(l.node.status().commitIndex).toBe(3);
    const toTwo = ofType(out, "append").filter((m) => m.to === 2);
    expect(toTwo.map((m) => m.commit)).toEqual([3]);
  });

  test("a leader whose removal commits on the followers before its own disk has it hands over without failing", () => {
    const l = leaderOf([1, 2, 3]);
    const term = l.node.status().term;
    expect(l.node.proposeConfChange({ type: "removeNode", nodeId: 1 }).ok).toBe(true);
    const rd = l.node.ready();
    for (const from of [2, 3]) {
      l.node.step({
        type: "append-resp",
        from,
        to: 1,
        term,
        index: 2,
        reject: false,
        rejectHint: 0,
        hintTerm: 0,
      });
    }
    expect(l.node.status().commitIndex).toBe(2);
    l.storage.append(rd.entries);
    l.node.advance(rd);
    expect(ofType(drain(l), "timeout-now")).toEqual([{ type: "timeout-now", from: 1, to: 2, term }]);
  });

  test("a read held for the first commit is answered once; later commits start no read round", () => {
    const l = electedLeader([1, 2, 3]);
    const term = l.node.status().term;
    expect(l.node.readIndex("r")).toBe(true);
    expect(ofType(drain(l), "heartbeat")).toEqual([]);
    const round = ofType(ack(l, 2, 1), "heartbeat");
    expect(round.map((m) => [m.to, m.readCtx])).toEqual([
      [2, "r"],
      [3, "r"],
    ]);
    deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term, readCtx: "r" });
    expect(l.readStates).toEqual([{ index: 1, readCtx: "r" }]);
    propose(l);
    expect(ofType(ack(l, 2, 2), "heartbeat")).toEqual([]);
    expect(l.node.status().commitIndex).toBe(2);
  });
});

describe("back-pressure", () => {
  test("proposals past maxUncommittedBytes are refused until commits free exactly the committed entries' bytes", () => {
    const size = entrySizeBytes(e(0, 0)) + 99; // an entry of 100 bytes
    const l = leaderOf([1, 2, 3], { maxUncommittedBytes: 2 * size });
    propose(l, 100); // 2
    propose(l, 100); // 3
    expect(l.node.propose(new Uint8Array(100))).toEqual({ ok: false, reason: "overloaded" });
    ack(l, 2, 2); // commits 2 only
    expect(l.node.status().commitIndex).toBe(2);
    propose(l, 100); // 4: 3 and 4 uncommitted
    expect(l.node.propose(new Uint8Array(100))).toEqual({ ok: false, reason: "overloaded" });
    ack(l, 2, 4);
    propose(l, 100);
    propose(l, 100);
  });
});

describe("what a follower answers", () => {
  test("a mismatch is refused with the hint of the last index that may match and its term", () => {
    const f = coreNodeOn(2, storageWithLog([1, 2, 3], [1, 1, 2, 2, 2]));
    const answers = (prevIndex: number) =>
      ofType(
        deliver(f, {
          type: "append",
          from: 1,
          to: 2,
          term: 3,
          prevIndex,
          prevTerm: 3,
          entries: [e(prevIndex + 1, 3)],
          commit: 0,
        }),
        "append-resp",
      );
    expect(answers(4)).toEqual([
      { type: "append-resp", from: 2, to: 1, term: 3, index: 4, reject: true, rejectHint: 4, hintTerm: 2 },
    ]);
    expect(answers(9)).toEqual([
      { type: "append-resp", from: 2, to: 1, term: 3, index: 9, reject: true, rejectHint: 5, hintTerm: 2 },
    ]);
  });

  test("an append below what it has committed is answered with its commit index", () => {
    const f = coreNodeOn(2, storageWithLog([1, 2, 3], [1, 1, 1, 1, 1], 5));
    const out = deliver(f, {
      type: "append",
      from: 1,
      to: 2,
      term: 1,
      prevIndex: 2,
      prevTerm: 1,
      entries: [e(3, 1)],
      commit: 5,
    });
    expect(ofType(out, "append-resp")).toEqual([
      { type: "append-resp", from: 2, to: 1, term: 1, index: 5, reject: false, rejectHint: 0, hintTerm: 0 },
    ]);
  });
});
