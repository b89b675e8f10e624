/**
 * The core's message routing and its Ready on one core stepped by hand (src/raft/core/raft.ts,
 * node.ts): the term rules every message meets first, what each role does with what it is sent,
 * and what a Ready hands the driver (what is sent before the persist, what after).
 */
import { describe, expect, test } from "vitest";
import { DEFAULT_RAFT_OPTIONS, MemoryStorage } from "../../src/raft/core/index.js";
import {
  ack,
  type CoreUnderTest,
  coreNode,
  coreNodeOn,
  deliver,
  drain,
  electedLeader,
  leaderOf,
  ofType,
  ticks,
  ticksUntil,
} from "./core-harness.js";

const T = DEFAULT_RAFT_OPTIONS.electionTimeoutTicks;

/** Follower 2 of [1,2,3] at `term`, its leader 1 known. */
function followerAt(term: number, opts = {}): CoreUnderTest {
  const f = coreNode(2, [1, 2, 3], opts);
  deliver(f, { type: "heartbeat", from: 1, to: 2, term, commit: 0, readCtx: null });
  return f;
}

describe("the term rules", () => {
  test("a stale leader's append or heartbeat is answered with our term (so it steps down); other stale messages are dropped", () => {
    const f = followerAt(5);
    const staleAppend = deliver(f, {
      type: "append",
      from: 3,
      to: 2,
      term: 4,
      prevIndex: 0,
      prevTerm: 0,
      entries: [],
      commit: 0,
    });
    const refusal = {
      type: "append-resp",
      from: 2,
      to: 3,
      term: 5,
      index: 0,
      reject: true,
      rejectHint: 0,
      hintTerm: 0,
    };
    expect(staleAppend).toEqual([refusal]);
    expect(deliver(f, { type: "heartbeat", from: 3, to: 2, term: 4, commit: 0, readCtx: null })).toEqual([
      refusal,
    ]);
    expect(deliver(f, { type: "vote-resp", from: 3, to: 2, term: 4, reject: false })).toEqual([]);
    expect(
      deliver(f, { type: "vote", from: 3, to: 2, term: 4, lastLogIndex: 9, lastLogTerm: 4, transfer: false }),
    ).toEqual([]);
    expect(
      deliver(f, {
        type: "pre-vote",
        from: 3,
        to: 2,
        term: 4,
        lastLogIndex: 9,
        lastLogTerm: 4,
        transfer: false,
      }),
    ).toEqual([{ type: "pre-vote-resp", from: 2, to: 3, term: 5, reject: true }]);
    expect(f.node.status().term).toBe(5);
  });

  test("without pre-vote and check-quorum a stale append is dropped unanswered", () => {
    const f = followerAt(5, { preVote: false, checkQuorum: false });
    const out = deliver(f, { type: "heartbeat", from: 3, to: 2, term: 4, commit: 0, readCtx: null });
    expect(out).toEqual([]);
  });

  test("a later term from a leader makes us its follower; from a candidate, a follower with no leader", () => {
    const f = followerAt(1);
    deliver(f, {
      type: "append",
      from: 3,
      to: 2,
      term: 2,
      prevIndex: 0,
      prevTerm: 0,
      entries: [],
      commit: 0,
    });
    expect([f.node.status().term, f.node.status().leaderId, f.node.status().role]).toEqual([
      2,
      3,
      "follower",
    ]);
    deliver(f, {
      type: "snapshot",
      from: 1,
      to: 2,
      term: 3,
      meta: { index: 0, term: 0, conf: { voters: [1, 2, 3], learners: [], joining: [] } },
    });
    expect([f.node.status().term, f.node.status().leaderId]).toEqual([3, 1]);
    // Outside the leader's lease (an election timeout without news), a vote of a later term is heard.
    ticks(f, T);
    deliver(f, { type: "vote", from: 3, to: 2, term: 4, lastLogIndex: 0, lastLogTerm: 0, transfer: false });
    expect([f.node.status().term, f.node.status().vote]).toEqual([4, 3]);
    deliver(f, {
      type: "append-resp",
      from: 1,
      to: 2,
      term: 6,
      index: 0,
      reject: true,
      rejectHint: 0,
      hintTerm: 0,
    });
    expect([f.node.status().term, f.node.status().leaderId, f.node.status().vote]).toEqual([6, 0, 0]);
  });

  test("pre-votes never move a term: a later pre-vote, nor a granted answer carrying a later term; a refusal of a later term does", () => {
    const f = coreNode(2, [1, 2, 3]);
    deliver(f, {
      type: "pre-vote",
      from: 3,
      to: 2,
      term: 3,
      lastLogIndex: 0,
      lastLogTerm: 0,
      transfer: false,
    });
    expect(f.node.status().term).toBe(0);
    ticksUntil(f, "pre-vote");
    expect(f.node.status().role).toBe("pre-candidate");
    deliver(f, { type: "pre-vote-resp", from: 3, to: 2, term: 1, reject: false });
    // Granted by a majority: the real election, in term 1.
    expect(f.node.status().role).toBe("candidate");
    expect(f.node.status().term).toBe(1);
    const g = coreNode(2, [1, 2, 3]);
    ticksUntil(g, "pre-vote");
    deliver(g, { type: "pre-vote-resp", from: 3, to: 2, term: 7, reject: true });
    expect([g.node.status().term, g.node.status().role]).toEqual([7, "follower"]);
  });

  test("within a leader's lease a pre-vote of a later term is ignored too", () => {
    const f = followerAt(1);
    const preVote = {
      type: "pre-vote",
      from: 3,
      to: 2,
      term: 2,
      lastLogIndex: 9,
      lastLogTerm: 1,
      transfer: false,
    } as const;
    expect(deliver(f, preVote)).toEqual([]);
  });

  test("with pre-vote alone (no check-quorum) a stale leader is still told our term", () => {
    const f = followerAt(5, { checkQuorum: false });
    expect(deliver(f, { type: "heartbeat", from: 3, to: 2, term: 4, commit: 0, readCtx: null })).toEqual([
      { type: "append-resp", from: 2, to: 3, term: 5, index: 0, reject: true, rejectHint: 0, hintTerm: 0 },
    ]);
  });

  test("within a leader's lease a vote of a later term is ignored, unless it is a leadership transfer", () => {
    const f = followerAt(1);
    const vote = {
      type: "vote",
      from: 3,
      to: 2,
      term: 2,
      lastLogIndex: 0,
      lastLogTerm: 0,
      transfer: false,
    } as const;
    expect(deliver(f, vote)).toEqual([]);
    expect(f.node.status().term).toBe(1);
    expect(deliver(f, { ...vote, transfer: true })).toEqual([
      { type: "vote-resp", from: 2, to: 3, term: 2, reject: false },
    ]);
  });
});

describe("a candidate", () => {
  test("an append or heartbeat of its term makes it that leader's follower, and is answered", () => {
    const c = coreNode(2, [1, 2, 3], { preVote: false });
    ticksUntil(c, "vote");
    const term = c.node.status().term;
    const out = deliver(c, {
      type: "append",
      from: 1,
      to: 2,
      term,
      prevIndex: 0,
      prevTerm: 0,
      entries: [],
      commit: 0,
    });
    expect(ofType(out, "append-resp").map((m) => [m.to, m.reject])).toEqual([[1, false]]);
    expect([c.node.status().role, c.node.status().leaderId]).toEqual(["follower", 1]);
    const d = coreNode(2, [1, 2, 3], { preVote: false });
    ticksUntil(d, "vote");
    const hb = deliver(d, { type: "heartbeat", from: 3, to: 2, term, commit: 0, readCtx: "x" });
    expect(hb).toEqual([{ type: "heartbeat-resp", from: 2, to: 3, term, readCtx: "x" }]);
    expect([d.node.status().role, d.node.status().leaderId]).toEqual(["follower", 3]);
  });

  test("counts only answers of its own kind; a majority of refusals ends the candidacy, a majority of grants wins", () => {
    const c = coreNode(1, [1, 2, 3, 4, 5], { preVote: false });
    ticksUntil(c, "vote");
    const term = c.node.status().term;
    deliver(c, { type: "pre-vote-resp", from: 2, to: 1, term, reject: false });
    deliver(c, { type: "pre-vote-resp", from: 3, to: 1, term, reject: false });
    expect(c.node.status().role).toBe("candidate");
    for (const from of [2, 3]) deliver(c, { type: "vote-resp", from, to: 1, term, reject: true });
    expect(c.node.status().role).toBe("candidate");
    deliver(c, { type: "vote-resp", from: 4, to: 1, term, reject: true });
    expect([c.node.status().role, c.node.status().term, c.node.status().leaderId]).toEqual([
      "follower",
      term,
      0,
    ]);

    const w = coreNode(1, [1, 2, 3], { preVote: false });
    ticksUntil(w, "vote");
    const out = deliver(w, { type: "vote-resp", from: 3, to: 1, term: w.node.status().term, reject: false });
    expect(w.node.status().role).toBe("leader");
    // Its first appends carry its no-op to every follower at once.
    expect(ofType(out, "append").map((m) => [m.to, m.entries.length])).toEqual([
      [2, 1],
      [3, 1],
    ]);
  });

  test("a pre-candidate ignores vote answers", () => {
    const c = coreNode(1, [1, 2, 3]);
    ticksUntil(c, "pre-vote");
    // (A vote answer of its own term: one of a later term would raise its term first.)
    deliver(c, { type: "vote-resp", from: 2, to: 1, term: 0, reject: false });
    deliver(c, { type: "vote-resp", from: 3, to: 1, term: 0, reject: false });
    expect([c.node.status().role, c.node.status().term]).toEqual(["pre-candidate", 0]);
  });
});

describe("a follower", () => {
  test("takes the commit from a heartbeat, echoes its read context, and waits a full election timeout after it", () => {
    const f = coreNode(2, [1, 2, 3], { preVote: false });
    deliver(f, {
      type: "append",
      from: 1,
      to: 2,
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      entries: [{ index: 1, term: 1, data: new Uint8Array([1]) }],
      commit: 0,
    });
    const hb = deliver(f, { type: "heartbeat", from: 1, to: 2, term: 1, commit: 1, readCtx: "q" });
    expect(hb).toEqual([{ type: "heartbeat-resp", from: 2, to: 1, term: 1, readCtx: "q" }]);
    expect(f.applied.map((e) => e.index)).toEqual([1]);
    ticks(f, T - 1);
    deliver(f, { type: "heartbeat", from: 1, to: 2, term: 1, commit: 1, readCtx: null });
    expect(ofType(ticks(f, T - 1), "vote")).toEqual([]);
    expect(f.node.status().role).toBe("follower");
  });

  test("a refused read-index answer makes no read state", () => {
    const f = followerAt(1);
    deliver(f, { type: "read-index-resp", from: 1, to: 2, term: 1, readCtx: "r", index: 3, reject: true });
    expect(f.readStates).toEqual([]);
  });
});

describe("a leader", () => {
  test("ignores answers from servers that are not members", () => {
    const l = leaderOf([1, 2, 3]);
    expect(l.node.propose(new Uint8Array([1])).ok).toBe(true);
    drain(l);
    expect(ack(l, 9, 2)).toEqual([]);
    expect(l.node.status().commitIndex).toBe(1);
  });

  test("a heartbeat answer frees one slot of a full window, so a lost append turns into a rejection", () => {
    const l = leaderOf([1, 2, 3], { maxInflightAppends: 1, maxEntriesPerAppend: 1 });
    const term = l.node.status().term;
    for (let i = 0; i < 2; i++) {
      expect(l.node.propose(new Uint8Array([i])).ok).toBe(true);
      drain(l);
    }
    const out = deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term, readCtx: null });
    expect(ofType(out, "append").map((m) => [m.to, m.prevIndex])).toEqual([[2, 2]]);
  });

  test("a heartbeat answer frees no slot of a window that is not full", () => {
    const l = leaderOf([1, 2, 3], { maxInflightAppends: 2, maxEntriesPerAppend: 1 });
    const term = l.node.status().term;
    const to2 = () => ofType(drain(l), "append").filter((m) => m.to === 2 && m.entries.length > 0).length;
    expect(l.node.propose(new Uint8Array([1])).ok).toBe(true);
    expect(to2()).toBe(1);
    deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term, readCtx: null });
    expect(l.node.propose(new Uint8Array([2])).ok).toBe(true);
    expect(to2()).toBe(1);
    // Two in flight: the window is full.
    expect(l.node.propose(new Uint8Array([3])).ok).toBe(true);
    expect(to2()).toBe(0);
  });

  test("a heartbeat answer from a follower that has everything but the commit gets an empty append carrying it", () => {
    const l = leaderOf([1, 2, 3]);
    const term = l.node.status().term;
    expect(l.node.propose(new Uint8Array([1])).ok).toBe(true);
    drain(l);
    ack(l, 2, 2);
    ack(l, 3, 2);
    // 3's answer came after the commit: its last append told it commit 1.
    const out = ofType(deliver(l, { type: "heartbeat-resp", from: 3, to: 1, term, readCtx: null }), "append");
    expect(out.map((m) => [m.to, m.entries.length, m.commit])).toEqual([[3, 0, 2]]);
    // Told: nothing more on the next answer.
    expect(deliver(l, { type: "heartbeat-resp", from: 3, to: 1, term, readCtx: null })).toEqual([]);
  });

  test("a probing follower's heartbeat answer lets the unanswered append go again", () => {
    const l = electedLeader([1, 2, 3]);
    const term = l.node.status().term;
    const out = deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term, readCtx: null });
    expect(ofType(out, "append").map((m) => [m.to, m.prevIndex, m.entries.length])).toEqual([[2, 0, 1]]);
  });
});

describe("a core's start and clocks", () => {
  test("a fresh node has nothing to do, and tells its id", () => {
    const f = coreNode(2, [1, 2, 3]);
    expect(f.node.id).toBe(2);
    expect(f.node.hasReady()).toBe(false);
  });

  test("node id 0 is refused; so is a stored commit beyond the log's end (a damaged log)", () => {
    expect(() => coreNode(0, [1, 2, 3])).toThrow(/node id must not be 0/);
    const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [], joining: [] });
    storage.setHardState({ term: 1, vote: 0, commit: 3 });
    expect(() => coreNodeOn(2, storage)).toThrow(/stored commit 3 beyond last index 0/);
  });

  test("the election timeout is the base plus the random draw: never shorter than the base", () => {
    const draw = 3;
    const f = coreNode(2, [1, 2, 3], { preVote: false, random: { int: () => draw } });
    expect(ofType(ticks(f, T + draw - 1), "vote")).toEqual([]);
    expect(ofType(ticks(f, 1), "vote").length).toBe(2);
  });

  test("the leader's lease lasts exactly one election timeout after its last message", () => {
    const f = coreNode(2, [1, 2, 3], { random: { int: () => T - 1 } });
    deliver(f, { type: "heartbeat", from: 1, to: 2, term: 1, commit: 0, readCtx: null });
    const vote = {
      type: "vote",
      from: 3,
      to: 2,
      term: 2,
      lastLogIndex: 0,
      lastLogTerm: 0,
      transfer: false,
    } as const;
    ticks(f, T - 1);
    expect(deliver(f, vote)).toEqual([]);
    ticks(f, 1);
    expect(deliver(f, vote)).toEqual([{ type: "vote-resp", from: 2, to: 3, term: 2, reject: false }]);
  });

  test("a new leader counts no follower as heard from until it answers: silent for a timeout, it steps down", () => {
    const l = coreNode(1, [1, 2, 3], { preVote: false });
    const votes = ofType(ticksUntil(l, "vote"), "vote");
    deliver(l, { type: "vote-resp", from: 2, to: 1, term: votes[0]!.term, reject: false });
    expect(l.node.status().role).toBe("leader");
    ticks(l, T);
    expect(l.node.status().role).toBe("follower");
  });

  test("committed entries are handed out in batches of about 4 × maxBytesPerAppend", () => {
    const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [], joining: [] });
    storage.append(
      Array.from({ length: 10 }, (_, i) => ({ index: i + 1, term: 1, data: new Uint8Array(100) })),
    );
    storage.setHardState({ term: 1, vote: 0, commit: 10 });
    const f = coreNodeOn(2, storage, { maxBytesPerAppend: 100 });
    // 124 bytes each: three fit in 400, the fourth would not.
    expect(f.node.ready().committedEntries.map((e) => e.index)).toEqual([1, 2, 3]);
  });
});

describe("what the core accepts", () => {
  test("a message for another server, or a shell's snapshot chunk, is a bug in the caller", () => {
    const f = coreNode(2, [1, 2, 3]);
    expect(() =>
      f.node.step({ type: "heartbeat", from: 1, to: 3, term: 1, commit: 0, readCtx: null }),
    ).toThrow(/message for 3 delivered to 2/);
    expect(() =>
      f.node.step({ type: "snapshot-resp", from: 1, to: 2, term: 1, stream: 1, next: 0, reject: false }),
    ).toThrow(/snapshot-resp stepped into the core/);
    const meta = { index: 1, term: 1, conf: { voters: [1, 2, 3], learners: [], joining: [] } };
    const chunk = { stream: 1, seq: 0, chunk: new Uint8Array(), done: true, crc: 0 };
    expect(() => f.node.step({ type: "snapshot-chunk", from: 1, to: 2, term: 1, meta, ...chunk })).toThrow(
      /snapshot-chunk stepped into the core/,
    );
  });

  test("while recovering a lost store, before every voter told its term, a snapshot is not taken", () => {
    const f = coreNode(2, [1, 2, 3], { recovering: true });
    drain(f);
    const meta = { index: 5, term: 1, conf: { voters: [1, 2, 3], learners: [], joining: [] } };
    expect(deliver(f, { type: "snapshot", from: 1, to: 2, term: 1, meta })).toEqual([]);
    expect(f.node.status().commitIndex).toBe(0);
  });

  test("a candidate that is sent a snapshot of its term follows that leader and takes it", () => {
    const c = coreNode(2, [1, 2, 3], { preVote: false });
    ticksUntil(c, "vote");
    const term = c.node.status().term;
    const meta = { index: 4, term, conf: { voters: [1, 2, 3], learners: [], joining: [] } };
    const out = deliver(c, { type: "snapshot", from: 3, to: 2, term, meta });
    expect(ofType(out, "append-resp").map((m) => [m.to, m.index])).toEqual([[3, 4]]);
    expect([c.node.status().role, c.node.status().leaderId, c.node.status().commitIndex]).toEqual([
      "follower",
      3,
      4,
    ]);
  });

  test("restarted on a log of one committed config entry, it takes effect", () => {
    const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [], joining: [] });
    storage.append([{ index: 1, term: 1, data: new Uint8Array(), conf: { type: "addLearner", nodeId: 4 } }]);
    storage.setHardState({ term: 1, vote: 0, commit: 1 });
    expect(coreNodeOn(2, storage).node.status().conf.learners).toEqual([4]);
  });
});

describe("the Ready", () => {
  test("its entries are the core's at the time it was taken, whatever is proposed before it is advanced", () => {
    const l = leaderOf([1, 2, 3]);
    expect(l.node.propose(new Uint8Array([1])).ok).toBe(true);
    const rd = l.node.ready();
    expect(l.node.propose(new Uint8Array([2])).ok).toBe(true);
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
  });

  test("a leader's appends and heartbeats leave before the persist; a vote and an append's answer after it", () => {
    const l = leaderOf([1, 2, 3]);
    expect(l.node.propose(new Uint8Array([1])).ok).toBe(true);
    const rd = l.node.ready();
    expect(rd.entries.map((e) => e.index)).toEqual([2]);
    expect(rd.earlyMessages.map((m) => [m.type, m.to])).toEqual([
      ["append", 2],
      ["append", 3],
    ]);
    expect(rd.messages).toEqual([]);
    expect([rd.hardState, rd.softState]).toEqual([null, null]);
    expect(l.node.hasReady()).toBe(false);
    expect(() => l.node.ready()).toThrow(/ready\(\) called again before advance\(\)/);
    l.storage.append(rd.entries);
    l.node.advance(rd);
    expect(() => l.node.advance(rd)).toThrow(/advance\(\) without an outstanding Ready/);
    for (let i = 0; i < 3 * T && !l.node.hasReady(); i++) l.node.tick();
    const beat = l.node.ready();
    expect(beat.earlyMessages.map((m) => m.type)).toEqual(["heartbeat", "heartbeat"]);
    l.node.advance(beat);

    const f = coreNode(2, [1, 2, 3]);
    f.node.step({
      type: "append",
      from: 1,
      to: 2,
      term: 1,
      prevIndex: 0,
      prevTerm: 0,
      entries: [{ index: 1, term: 1, data: new Uint8Array([1]) }],
      commit: 0,
    });
    const frd = f.node.ready();
    expect(frd.earlyMessages).toEqual([]);
    expect(frd.messages.map((m) => m.type)).toEqual(["append-resp"]);
    expect(frd.hardState).toEqual({ term: 1, vote: 0, commit: 0 });
    expect(frd.softState).toEqual({ leaderId: 1, role: "follower" });
  });

  test("a change of role alone is reported as a new soft state", () => {
    const f = coreNode(2, [1, 2, 3]);
    for (let i = 0; i < 3 * T && !f.node.hasReady(); i++) f.node.tick();
    expect(f.node.ready().softState).toEqual({ leaderId: 0, role: "pre-candidate" });
  });

  test("a leader elected in this Ready sends nothing before its new term is persisted", () => {
    const c = coreNode(1, [1], { preVote: false });
    for (let i = 0; i < 3 * T && c.node.status().role !== "leader"; i++) c.node.tick();
    const rd = c.node.ready();
    expect(rd.hardState?.term).toBe(1);
    expect(rd.earlyMessages).toEqual([]);
  });

  test("an adopted snapshot counts as applied once the driver has it", () => {
    const f = coreNode(2, [1, 2, 3]);
    f.node.step({
      type: "snapshot",
      from: 1,
      to: 2,
      term: 1,
      meta: { index: 7, term: 1, conf: { voters: [1, 2, 3], learners: [], joining: [] } },
    });
    const rd = f.node.ready();
    f.storage.applySnapshot(rd.snapshot!);
    f.node.advance(rd);
    expect(f.node.status().appliedIndex).toBe(7);
    expect(f.node.hasReady()).toBe(false);
  });
});
