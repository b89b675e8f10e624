/**
 * Elections on one core stepped by hand (src/raft/core/elections.ts): when a follower campaigns and
 * whom it asks, when a leader sends heartbeats and gives up without a quorum, the vote rules (one
 * vote a term, §5.4.1, a removed server's rule), and recovery from a lost store (term probes, the
 * floor, catching up). The simulator checks the outcomes; these pin the rules themselves, at the tick.
 */
import { describe, expect, test } from "vitest";
import {
  DEFAULT_RAFT_OPTIONS,
  type Entry,
  MemoryStorage,
  type Message,
  RaftNode,
  type Random,
  seededRandom,
} from "../../src/raft/core/index.js";
import {
  coreNode,
  deliver,
  drain,
  electedLeader,
  leaderOf,
  type MessageOf,
  ofType,
  ticks,
} from "./core-harness.js";

const T = DEFAULT_RAFT_OPTIONS.electionTimeoutTicks;
/** No jitter: the randomized election timeout is exactly T. */
const noJitter: Random = { int: () => 0 };

function e(index: number, term: number): Entry {
  return { index, term, data: new Uint8Array([index]) };
}

function append(
  from: number,
  to: number,
  term: number,
  prevIndex: number,
  prevTerm: number,
  entries: Entry[],
  commit: number,
): Message {
  return { type: "append", from, to, term, prevIndex, prevTerm, entries, commit };
}

function voteReq(
  from: number,
  to: number,
  term: number,
  lastLogIndex: number,
  lastLogTerm: number,
  type: "vote" | "pre-vote" = "vote",
): Message {
  return { type, from, to, term, lastLogIndex, lastLogTerm, transfer: false };
}

function voteAnswer(msgs: Message[]): { term: number; reject: boolean } | undefined {
  const r = msgs.find((m) => m.type === "vote-resp" || m.type === "pre-vote-resp") as
    | MessageOf<"vote-resp">
    | undefined;
  return r && { term: r.term, reject: r.reject };
}

describe("a follower's election timer", () => {
  test("campaigns exactly at the randomized timeout, asking every other voter (not itself), with its log's end", () => {
    const c = coreNode(1, [1, 2, 3], { preVote: false, random: noJitter });
    deliver(c, append(2, 1, 1, 0, 0, [e(1, 1), e(2, 1)], 1));
    expect(ofType(ticks(c, T - 1), "vote")).toEqual([]);
    const votes = ofType(ticks(c, 1), "vote");
    expect(votes.map((v) => [v.to, v.term, v.lastLogIndex, v.lastLogTerm, v.transfer])).toEqual([
      [2, 2, 2, 1, false],
      [3, 2, 2, 1, false],
    ]);
  });

  test("with pre-vote it asks for the next term without taking it", () => {
    const c = coreNode(1, [1, 2, 3], { preVote: true, random: noJitter });
    const pre = ofType(ticks(c, T), "pre-vote");
    expect(pre.map((v) => [v.to, v.term])).toEqual([
      [2, 1],
      [3, 1],
    ]);
    expect(c.node.status().term).toBe(0);
  });

  test("a learner never campaigns, not even when told to (timeout-now)", () => {
    const c = coreNode(4, [1, 2, 3], { preVote: false }, [4]);
    expect(ticks(c, 3 * T).filter((m) => m.type === "vote" || m.type === "pre-vote")).toEqual([]);
    const out = deliver(c, { type: "timeout-now", from: 1, to: 4, term: 0 });
    expect([out, c.node.status().role]).toEqual([[], "follower"]);
  });

  test("timeout-now starts an election at once, marked as a transfer", () => {
    const c = coreNode(2, [1, 2, 3], { preVote: true });
    const votes = ofType(deliver(c, { type: "timeout-now", from: 1, to: 2, term: 0 }), "vote");
    expect(votes.map((v) => [v.to, v.term, v.transfer])).toEqual([
      [1, 1, true],
      [3, 1, true],
    ]);
  });
});

describe("a leader's clock", () => {
  test("heartbeats once every heartbeat interval", () => {
    const l = leaderOf([1, 2, 3], { checkQuorum: false, heartbeatIntervalTicks: 3 });
    const beats = ofType(ticks(l, 12), "heartbeat");
    expect(beats.map((b) => b.to)).toEqual([2, 3, 2, 3, 2, 3, 2, 3]);
    expect(ofType(ticks(l, 2), "heartbeat")).toEqual([]);
  });

  test("check-quorum: without a majority's answers it steps down exactly one election timeout after the last check", () => {
    const l = leaderOf([1, 2, 3]); // answered the no-op: active this round
    ticks(l, T); // the round that saw them ends; the next one starts with no one heard
    const term = l.node.status().term;
    ticks(l, T - 1);
    expect(l.node.status().role).toBe("leader");
    ticks(l, 1);
    expect([l.node.status().role, l.node.status().term]).toEqual(["follower", term]);
  });

  test("check-quorum: one follower's answer each round keeps it leader", () => {
    const l = leaderOf([1, 2, 3]);
    const term = l.node.status().term;
    for (let round = 0; round < 4; round++) {
      ticks(l, T - 1);
      deliver(l, { type: "heartbeat-resp", from: 2, to: 1, term, readCtx: null });
      ticks(l, 1);
    }
    expect(l.node.status().role).toBe("leader");
  });

  test("without check-quorum a leader never steps down for silence", () => {
    const l = leaderOf([1, 2, 3], { checkQuorum: false });
    ticks(l, 5 * T);
    expect(l.node.status().role).toBe("leader");
  });
});

describe("the vote rules", () => {
  test("one vote a term: the same candidate again is granted, another is refused with our term", () => {
    const c = coreNode(1, [1, 2, 3], { checkQuorum: false });
    expect(voteAnswer(deliver(c, voteReq(2, 1, 5, 0, 0)))).toEqual({ term: 5, reject: false });
    expect(c.node.status().vote).toBe(2);
    expect(voteAnswer(deliver(c, voteReq(2, 1, 5, 0, 0)))).toEqual({ term: 5, reject: false });
    expect(voteAnswer(deliver(c, voteReq(3, 1, 5, 0, 0)))).toEqual({ term: 5, reject: true });
    expect(c.node.status().vote).toBe(2);
  });

  test("no vote in a term whose leader is known", () => {
    const c = coreNode(1, [1, 2, 3], { checkQuorum: false });
    deliver(c, { type: "heartbeat", from: 2, to: 1, term: 5, commit: 0, readCtx: null });
    expect(voteAnswer(deliver(c, voteReq(3, 1, 5, 0, 0)))).toEqual({ term: 5, reject: true });
  });

  test("a pre-vote is granted only for a later term, even after a vote; it takes no vote and changes no term", () => {
    const c = coreNode(1, [1, 2, 3], { checkQuorum: false });
    deliver(c, voteReq(2, 1, 5, 0, 0));
    expect(voteAnswer(deliver(c, voteReq(3, 1, 5, 0, 0, "pre-vote")))).toEqual({ term: 5, reject: true });
    expect(voteAnswer(deliver(c, voteReq(3, 1, 6, 0, 0, "pre-vote")))).toEqual({ term: 6, reject: false });
    expect([c.node.status().term, c.node.status().vote]).toEqual([5, 2]);
  });

  test("a granted vote restarts the election timer; a pre-vote does not", () => {
    const c = coreNode(1, [1, 2, 3], { checkQuorum: false, preVote: false, random: noJitter });
    ticks(c, T - 1);
    deliver(c, voteReq(2, 1, 5, 0, 0));
    expect(ofType(ticks(c, T - 1), "vote")).toEqual([]);
    expect(ofType(ticks(c, 1), "vote")).toHaveLength(2);
    const d = coreNode(1, [1, 2, 3], { checkQuorum: false, preVote: false, random: noJitter });
    ticks(d, T - 1);
    deliver(d, voteReq(2, 1, 1, 0, 0, "pre-vote"));
    expect(ofType(ticks(d, 1), "vote")).toHaveLength(2);
  });

  test("§5.4.1: a voter refuses a candidate whose log is behind its own", () => {
    const c = coreNode(1, [1, 2, 3], { checkQuorum: false });
    deliver(c, append(2, 1, 2, 0, 0, [e(1, 1), e(2, 2)], 0));
    expect(voteAnswer(deliver(c, voteReq(3, 1, 3, 5, 1)))).toEqual({ term: 3, reject: true });
    expect(voteAnswer(deliver(c, voteReq(3, 1, 4, 2, 2)))).toEqual({ term: 4, reject: false });
  });

  test("a learner (not a voter of its own configuration) asks only that the candidate hold its commit", () => {
    const fresh = () => {
      const c = coreNode(4, [1, 2, 3], { checkQuorum: false }, [4]);
      // Committed through 2 (term 2); an uncommitted entry of term 3 after it.
      deliver(c, append(1, 4, 3, 0, 0, [e(1, 1), e(2, 2), e(3, 3)], 2));
      return c;
    };
    const answer = (lastIndex: number, lastTerm: number) =>
      voteAnswer(deliver(fresh(), voteReq(2, 4, 9, lastIndex, lastTerm)));
    expect(answer(2, 2)).toEqual({ term: 9, reject: false }); // holds the commit, shorter than the log
    expect(answer(1, 2)).toEqual({ term: 9, reject: true });
    expect(answer(1, 3)).toEqual({ term: 9, reject: false });
    expect(answer(9, 1)).toEqual({ term: 9, reject: true });
  });
});

describe("recovery from a lost store", () => {
  /** Node 2 of [1, 2, 3], recovering: it probed 1 and 3 at start. */
  function recovering() {
    const c = coreNode(2, [1, 2, 3], { recovering: true, checkQuorum: false, preVote: false });
    const probes = ofType(drain(c), "term-probe");
    return { c, probes };
  }

  function answer(probe: MessageOf<"term-probe">, term: number, lastLogIndex = 0, lastLogTerm = 0): Message {
    return {
      type: "term-probe-resp",
      from: probe.to,
      to: probe.from,
      term,
      nonce: probe.nonce,
      lastLogIndex,
      lastLogTerm,
    };
  }

  test("probes every silent voter at start and again every election timeout, on its own clock", () => {
    const { c, probes } = recovering();
    expect(probes.map((p) => p.to)).toEqual([1, 3]);
    deliver(c, answer(probes[0]!, 4));
    expect(ofType(ticks(c, T - 1), "term-probe")).toEqual([]);
    expect(ofType(ticks(c, 1), "term-probe").map((p) => p.to)).toEqual([3]);
    expect(ofType(ticks(c, T - 1), "term-probe")).toEqual([]);
    expect(ofType(ticks(c, 1), "term-probe").map((p) => p.to)).toEqual([3]);
  });

  test("the floor is the highest term told: it becomes the term, its vote is spent, and recovery waits to catch up", () => {
    const { c, probes } = recovering();
    deliver(c, answer(probes[0]!, 5, 3, 5));
    expect(c.node.status()).toMatchObject({ term: 0, recovering: true });
    deliver(c, answer(probes[1]!, 4, 2, 4));
    expect(c.node.status()).toMatchObject({ term: 5, vote: 2, recovering: true });
    // Its vote in term 5 is spent: it may have voted there before the loss.
    expect(voteAnswer(deliver(c, voteReq(3, 2, 5, 9, 5)))).toEqual({ term: 5, reject: true });
    // A leader of term 5 catches it up to a commit of term 5: recovery ends.
    deliver(c, append(1, 2, 5, 0, 0, [e(1, 5), e(2, 5), e(3, 5)], 2));
    expect(c.node.status()).toMatchObject({ term: 5, recovering: false, commitIndex: 2 });
  });

  test("a floor below its own term does not lower the term or reset what it knows", () => {
    const { c, probes } = recovering();
    // A leader of term 7 contacts it before the answers arrive (heartbeats are answered).
    deliver(c, { type: "heartbeat", from: 1, to: 2, term: 7, commit: 0, readCtx: null });
    deliver(c, answer(probes[0]!, 3));
    deliver(c, answer(probes[1]!, 2));
    expect(c.node.status()).toMatchObject({ term: 7, leaderId: 1, vote: 0, recovering: true });
  });

  test("a floor equal to its own term keeps the leader it knows", () => {
    const { c, probes } = recovering();
    deliver(c, { type: "heartbeat", from: 1, to: 2, term: 3, commit: 0, readCtx: null });
    deliver(c, answer(probes[0]!, 3));
    deliver(c, answer(probes[1]!, 1));
    expect(c.node.status()).toMatchObject({ term: 3, leaderId: 1, vote: 2, recovering: true });
  });

  test("restarted in the middle of a recovery, it keeps a vote it cast in the floor's term", () => {
    const storage = new MemoryStorage({ voters: [1, 2, 3], learners: [], joining: [] });
    storage.setHardState({ term: 5, vote: 3, commit: 0 });
    const c = {
      node: new RaftNode({
        ...DEFAULT_RAFT_OPTIONS,
        id: 2,
        storage,
        random: seededRandom(2),
        recovering: true,
      }),
      storage,
      applied: [],
      readStates: [],
    };
    const probes = ofType(drain(c), "term-probe");
    deliver(c, answer(probes[0]!, 5));
    deliver(c, answer(probes[1]!, 4));
    expect(c.node.status()).toMatchObject({ term: 5, vote: 3, recovering: true });
  });

  test("a brand-new cluster (every voter at term 0) ends recovery at once, with no vote spent", () => {
    const { c, probes } = recovering();
    deliver(c, answer(probes[0]!, 0));
    deliver(c, answer(probes[1]!, 0));
    expect(c.node.status()).toMatchObject({ term: 0, vote: 0, recovering: false });
  });

  test("once the floor is fixed it probes only the leader it knows, and nobody without one", () => {
    const { c, probes } = recovering();
    deliver(c, answer(probes[0]!, 5));
    deliver(c, answer(probes[1]!, 5));
    expect(ofType(ticks(c, T), "term-probe")).toEqual([]);
    deliver(c, { type: "heartbeat", from: 3, to: 2, term: 5, commit: 0, readCtx: null });
    expect(ofType(ticks(c, T), "term-probe").map((p) => p.to)).toEqual([3]);
  });

  test("a commit of an earlier term does not count as caught up", () => {
    const { c, probes } = recovering();
    deliver(c, answer(probes[0]!, 5));
    deliver(c, answer(probes[1]!, 5));
    deliver(c, append(1, 2, 5, 0, 0, [e(1, 4), e(2, 4)], 2));
    expect(c.node.status()).toMatchObject({ commitIndex: 2, recovering: true });
  });

  test("an answer to a probe when not recovering is ignored", () => {
    const c = coreNode(1, [1, 2, 3]);
    expect(
      deliver(c, {
        type: "term-probe-resp",
        from: 2,
        to: 1,
        term: 9,
        nonce: 1,
        lastLogIndex: 0,
        lastLogTerm: 0,
      }),
    ).toEqual([]);
    expect(c.node.status().term).toBe(0);
  });
});

describe("answering a term probe", () => {
  const probe = (from: number, to: number, lastLogIndex: number): Message => ({
    type: "term-probe",
    from,
    to,
    term: 0,
    nonce: 42,
    lastLogIndex,
  });

  test("a follower answers with its term and log end, outside the term rules", () => {
    const c = coreNode(1, [1, 2, 3], { checkQuorum: false });
    deliver(c, append(2, 1, 4, 0, 0, [e(1, 3), e(2, 4)], 1));
    const out = deliver(c, probe(3, 1, 0));
    expect(out).toEqual([
      { type: "term-probe-resp", from: 1, to: 3, term: 4, nonce: 42, lastLogIndex: 2, lastLogTerm: 4 },
    ]);
    expect(c.node.status().term).toBe(4);
  });

  test("a learner answers with what it knows committed", () => {
    const c = coreNode(4, [1, 2, 3], { checkQuorum: false }, [4]);
    deliver(c, append(1, 4, 4, 0, 0, [e(1, 3), e(2, 4)], 1));
    expect(ofType(deliver(c, probe(2, 4, 0)), "term-probe-resp")[0]).toMatchObject({
      lastLogIndex: 1,
      lastLogTerm: 3,
    });
  });

  test("a leader that counts more of the prober's log than it holds starts that follower over from the end", () => {
    const l = leaderOf([1, 2, 3]);
    const last = l.node.status().lastIndex;
    expect(l.node.status().progress.get(2)).toMatchObject({ match: last });
    deliver(l, probe(2, 1, last)); // holds what we count: nothing changes
    expect(l.node.status().progress.get(2)).toMatchObject({ match: last, state: "replicate" });
    deliver(l, probe(2, 1, last - 1));
    expect(l.node.status().progress.get(2)).toMatchObject({
      match: 0,
      next: last + 1,
      state: "probe",
      recentActive: true,
    });
  });

  test("an elected leader's own progress counts what it has persisted", () => {
    const l = electedLeader([1, 2, 3]);
    expect(l.node.status().progress.get(1)?.match).toBe(l.node.status().lastIndex);
  });
});
