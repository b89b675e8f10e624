/**
 * Named scenarios from the Raft paper and from bugs that shipped in real systems, scripted on the
 * simulator. The ghost invariants run after every step of each of them.
 */
import { describe, expect, test } from "vitest";
import { Sim } from "./cluster.js";

function isolate(sim: Sim, id: number): void {
  for (const other of sim.nodes.keys()) {
    if (other !== id)
      sim.partition([
        [id, other],
        [other, id],
      ]);
  }
}

function rounds(sim: Sim, n: number): void {
  for (let i = 0; i < n; i++) sim.round();
}

describe("Raft paper, Figure 8: entries of earlier terms commit only through a current-term entry", () => {
  test("an old-term entry on a majority is not committed, and can be safely overwritten", () => {
    const sim = new Sim({
      nodeCount: 5,
      voterCount: 5,
      seed: 8,
      preVote: false,
      checkQuorum: false,
      maxEntriesPerAppend: 1,
    });
    sim.elect(1);
    sim.settle();
    const s1 = sim.node(1);
    const base = s1.raft!.status().lastIndex;

    // (a) S1 replicates an entry of its term to S2 only.
    sim.partition([
      [1, 3],
      [1, 4],
      [1, 5],
    ]);
    sim.put(1, "x", "from-term-a");
    sim.settle();
    const i = base + 1;
    expect(sim.node(2).raft!.status().lastIndex).toBe(i);
    // (b) S1 crashes; S5 wins with S3 and S4 and appends at i in a newer term, alone.
    sim.crash(1);
    sim.heal();
    sim.elect(5);
    isolate(sim, 5);
    sim.put(5, "x", "from-term-b");
    sim.settle();
    const termB = sim.node(5).raft!.status().term;
    expect(sim.node(5).raft!.status().termAt(i)).toBe(termB);
    // (c) S5 crashes; S1 returns and leads a later term. It gets index i onto S3 and S4, so S1, S3 and
    //     S4 (a majority) hold it and S1 knows it, but its own no-op at i+1 reaches no one.
    sim.crash(5);
    sim.heal();
    sim.restart(1);
    sim.partition([[1, 5]]);
    sim.elect(1);
    sim.partition([[1, 2]]);
    const termC = sim.node(1).raft!.status().term;
    expect(termC).toBeGreaterThan(termB);
    // Deliver appends that stop at index i, and probes that the receiver will refuse.
    for (let k = 0; k < 200; k++) {
      const at = sim.network.findIndex((f) => {
        if (f.msg.type !== "append") return true;
        const receiver = sim.node(f.msg.to).raft;
        const refused = receiver?.status().termAt(f.msg.prevIndex) !== f.msg.prevTerm;
        return refused || f.msg.entries.every((e) => e.index <= i);
      });
      if (at < 0) break;
      sim.deliverAt(at);
    }
    const leaderRaft = sim.node(1).raft!.status();
    for (const id of [3, 4]) {
      expect(sim.node(id).raft!.status().termAt(i)).toBe(leaderRaft.termAt(i));
      expect(leaderRaft.progress.get(id)!.match).toBeGreaterThanOrEqual(i);
    }
    expect(leaderRaft.commitIndex).toBeLessThan(i);
    // (d) S1 crashes again; S5 can win (its last term is newer) and overwrite index i everywhere.
    sim.network = [];
    sim.crash(1);
    sim.heal();
    sim.restart(5);
    sim.elect(5);
    sim.settle();
    rounds(sim, 5);
    for (const id of [2, 3, 4, 5]) expect(sim.node(id).raft!.status().termAt(i)).toBe(termB);
    // Nobody ever applied the overwritten entry: it was never committed.
    expect(sim.node(5).kv.get("x")).toBe("from-term-b");
  });
});

describe("pre-vote and check-quorum", () => {
  test("a partitioned node coming back does not depose the leader (pre-vote keeps its term)", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 2 });
    const leader = sim.stabilize(100)!;
    const term = leader.raft!.status().term;
    const f = [...sim.nodes.keys()].find((id) => id !== leader.id)!;
    isolate(sim, f);
    for (let t = 0; t < 100; t++) sim.tick(f);
    sim.network = [];
    expect(sim.node(f).raft!.status().term).toBe(term);
    sim.heal();
    rounds(sim, 30);
    expect(sim.leaderId()).toBe(leader.id);
    expect(leader.raft!.status().term).toBe(term);
  });

  test("without pre-vote the same node does disrupt the leader (the contrast)", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 2, preVote: false, checkQuorum: false });
    const leader = sim.stabilize(100)!;
    const term = leader.raft!.status().term;
    const f = [...sim.nodes.keys()].find((id) => id !== leader.id)!;
    isolate(sim, f);
    for (let t = 0; t < 100; t++) sim.tick(f);
    sim.network = [];
    expect(sim.node(f).raft!.status().term).toBeGreaterThan(term);
    sim.heal();
    rounds(sim, 30);
    expect(sim.leaders()[0]!.raft!.status().term).toBeGreaterThan(term);
  });

  test("a stale leader in a minority steps down and serves no reads", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 3 });
    const old = sim.stabilize(100)!;
    isolate(sim, old.id);
    sim.get(old.id, "x");
    rounds(sim, 40);
    expect(old.raft!.status().role).not.toBe("leader");
    const fresh = sim.leaders();
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.id).not.toBe(old.id);
    // The read started on the isolated leader never returned a value.
    const read = sim.history.find((op) => op.input.kind === "get")!;
    expect(read.ret).toBe(Number.POSITIVE_INFINITY);
  });
});

describe("crashes around persistence", () => {
  test("a crash between persisting and sending loses only the messages", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 4 });
    const leader = sim.stabilize(100)!;
    const f = [...sim.nodes.keys()].find((id) => id !== leader.id)!;
    sim.node(f).crashAfterPersist = true;
    sim.put(leader.id, "x", "1");
    sim.settle();
    expect(sim.node(f).raft).toBeNull();
    // The entry reached f's disk even though the ack never left.
    const durable = sim.node(f).disk;
    const idx = leader.raft!.status().lastIndex;
    expect(durable.term(idx)).toBe(leader.raft!.status().term);
    sim.restart(f);
    rounds(sim, 10);
    expect(sim.node(f).kv.get("x")).toBe("1");
  });

  test("a vote persisted before a crash is remembered after restart", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 5, preVote: false, checkQuorum: false });
    sim.node(2).crashAfterPersist = true;
    sim.tick(1);
    for (let t = 0; t < 40 && sim.node(1).raft!.status().role === "follower"; t++) sim.tick(1);
    const term = sim.node(1).raft!.status().term;
    const toTwo = sim.network.findIndex((f) => f.msg.type === "vote" && f.msg.to === 2);
    sim.deliverAt(toTwo);
    expect(sim.node(2).raft).toBeNull();
    expect(sim.node(2).disk.initialState().hardState).toMatchObject({ term, vote: 1 });
    sim.restart(2);
    expect(sim.node(2).raft!.status().vote).toBe(1);
  });
});

describe("sending before persisting (Raft thesis §10.2.1)", () => {
  test("a leader's appends leave before its own write, but never in a term not yet durable", () => {
    // A single voter elects itself and appends its no-op in one step: nothing may leave early then.
    const solo = new Sim({ nodeCount: 2, voterCount: 1, seed: 16 });
    solo.node(1).slowDisk = true;
    for (let t = 0; t < 40 && solo.node(1).raft!.status().role !== "leader"; t++) solo.tick(1);
    expect(solo.node(1).raft!.status().role).toBe("leader");
    expect(solo.node(1).outstanding?.earlyMessages ?? []).toHaveLength(0);

    // In a settled term, a proposal's appends leave while the leader's disk is still busy.
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 17 });
    const l = sim.stabilize(100)!;
    sim.network = [];
    sim.setSlowDisk(l.id, true);
    sim.put(l.id, "x", "1");
    expect(l.outstanding).not.toBeNull();
    expect(sim.network.filter((f) => f.msg.type === "append" && f.msg.entries.length > 0)).toHaveLength(2);
    sim.settle();
    // Followers acknowledged, but the leader's own copy is not durable: with 3 voters, 2 acks commit.
    expect(l.raft!.status().commitIndex).toBe(l.raft!.status().lastIndex);
    expect(l.disk.lastIndex()).toBeLessThan(l.raft!.status().lastIndex);
  });
});

describe("snapshots", () => {
  test("a snapshot replaces a follower's conflicting tail", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 6 });
    const l1 = sim.stabilize(100)!;
    isolate(sim, l1.id);
    for (let k = 0; k < 5; k++) sim.put(l1.id, "x", `stale-${k}`);
    const staleTerm = l1.raft!.status().term;
    const others = [...sim.nodes.keys()].filter((id) => id !== l1.id);
    let l2 = null;
    for (let r = 0; r < 100 && !l2; r++) {
      sim.round();
      l2 = sim.leaders().find((n) => n.id !== l1.id) ?? null;
    }
    expect(l2).not.toBeNull();
    for (let k = 0; k < 10; k++) sim.put(l2!.id, "x", `fresh-${k}`);
    rounds(sim, 5);
    for (const id of others) sim.snapshot(id, 0);
    expect(l2!.disk.firstIndex()).toBeGreaterThan(l1.raft!.status().commitIndex + 1);
    sim.heal();
    rounds(sim, 40);
    expect(l1.kv.get("x")).toBe("fresh-9");
    const log = l1.raft!.status();
    for (let i = log.firstIndex; i <= log.lastIndex; i++) expect(log.termAt(i)).not.toBe(staleTerm);
    expect(l1.disk.snapshot().meta.index).toBeGreaterThan(0);
  });

  test("a snapshot travels in chunks", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 7, snapshotChunkBytes: 16 });
    const l = sim.stabilize(100)!;
    const f = [...sim.nodes.keys()].find((id) => id !== l.id)!;
    sim.crash(f);
    for (let k = 0; k < 20; k++) sim.put(l.id, `k${k}`, "v".repeat(20));
    rounds(sim, 5);
    sim.snapshot(l.id, 0);
    sim.restart(f);
    let chunks = 0;
    for (let r = 0; r < 200 && sim.node(f).applied < l.applied; r++) {
      sim.tick();
      for (let k = 0; k < 1000 && sim.network.length > 0; k++) {
        if (sim.network[0]!.msg.type === "snapshot-chunk") chunks++;
        sim.deliverAt(0);
      }
    }
    expect(sim.node(f).kv.get("k19")).toBe("v".repeat(20));
    expect(chunks).toBeGreaterThan(10);
  });
});

describe("membership", () => {
  test("removing the current leader: it steps down and the rest carry on", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 9 });
    const old = sim.stabilize(100)!;
    sim.put(old.id, "x", "before");
    rounds(sim, 3);
    sim.removeNode(old.id, old.id);
    rounds(sim, 40);
    expect(old.raft!.status().role).toBe("follower");
    const fresh = sim.leaders();
    expect(fresh).toHaveLength(1);
    expect(fresh[0]!.raft!.status().conf.voters).not.toContain(old.id);
    sim.put(fresh[0]!.id, "x", "after");
    rounds(sim, 5);
    for (const id of fresh[0]!.raft!.status().conf.voters) expect(sim.node(id).kv.get("x")).toBe("after");
  });

  test("a new server joins as a learner and is promoted once caught up", () => {
    const sim = new Sim({ nodeCount: 4, voterCount: 3, seed: 10 });
    const l = sim.stabilize(100)!;
    for (let k = 0; k < 30; k++) sim.put(l.id, "x", `${k}`);
    rounds(sim, 3);
    sim.addNode(l.id, 4);
    rounds(sim, 20);
    expect(l.raft!.status().conf.voters).toContain(4);
    // It went through the learner stage: an addLearner entry, then a promotion, in the log.
    const log = l.raft!.status();
    const changes = log
      .entries(log.firstIndex, log.lastIndex + 1)
      .flatMap((e) => (e.conf ? [e.conf.type] : []));
    expect(changes).toEqual(["addLearner", "promoteLearner"]);
    expect(sim.node(4).kv.get("x")).toBe("29");
  });

  test("a second config change waits for the first to commit", () => {
    const sim = new Sim({ nodeCount: 5, voterCount: 3, seed: 11 });
    const l = sim.stabilize(100)!;
    const first = l.raft!.proposeConfChange({ type: "addLearner", nodeId: 4 });
    const second = l.raft!.proposeConfChange({ type: "addLearner", nodeId: 5 });
    expect(first.ok).toBe(true);
    expect(second).toMatchObject({ ok: false, reason: "conf-change-pending" });
  });
});

describe("client-facing rules", () => {
  test("a proposal on a follower is refused with the leader's id", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 12 });
    const l = sim.stabilize(100)!;
    const f = [...sim.nodes.keys()].find((id) => id !== l.id)!;
    expect(sim.node(f).raft!.propose(new Uint8Array([1]))).toEqual({
      ok: false,
      reason: "not-leader",
      leaderId: l.id,
    });
  });

  test("leadership transfer hands over and refuses proposals meanwhile", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 13 });
    const l = sim.stabilize(100)!;
    const target = [...sim.nodes.keys()].find((id) => id !== l.id)!;
    sim.partition([[l.id, target]]);
    sim.transfer(l.id, target);
    expect(l.raft!.propose(new Uint8Array([1]))).toMatchObject({ ok: false, reason: "transferring" });
    sim.heal();
    rounds(sim, 10);
    expect(sim.leaderId()).toBe(target);
  });

  test("ReadIndex on a new leader waits for its first commit", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 14, preVote: false, checkQuorum: false });
    for (let t = 0; t < 40 && sim.node(1).raft!.status().role !== "candidate"; t++) sim.tick(1);
    // Deliver the votes and their answers only: node 1 leads, its no-op is not yet replicated.
    for (let k = 0; k < 20; k++) {
      const at = sim.network.findIndex((f) => f.msg.type === "vote" || f.msg.type === "vote-resp");
      if (at < 0) break;
      sim.deliverAt(at);
    }
    expect(sim.node(1).raft!.status().role).toBe("leader");
    // The no-op is appended but not yet committed: the read must not be answered yet.
    expect(sim.node(1).raft!.status().termAt(sim.node(1).raft!.status().commitIndex)).not.toBe(
      sim.node(1).raft!.status().term,
    );
    sim.get(1, "x");
    const read = sim.history.at(-1)!;
    expect(read.ret).toBe(Number.POSITIVE_INFINITY);
    sim.settle();
    rounds(sim, 3);
    expect(read.ret).not.toBe(Number.POSITIVE_INFINITY);
  });

  test("lease reads answer without a heartbeat round", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 15, readOnly: "lease" });
    const l = sim.stabilize(100)!;
    sim.put(l.id, "x", "1");
    rounds(sim, 3);
    sim.network = [];
    sim.get(l.id, "x");
    const read = sim.history.at(-1)!;
    expect(read.output).toEqual({ value: "1" });
    expect(sim.network.filter((m) => m.msg.type === "heartbeat")).toHaveLength(0);
  });
});

describe("recovery from a lost store", () => {
  test("a replica that does not yet know its floor keeps a deposed leader in contact but never confirms its read", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 21 });
    sim.elect(1);
    sim.settle();
    sim.put(1, "x", "old");
    sim.settle();
    rounds(sim, 2);
    // Node 1 is cut off (and never ticked again, so check-quorum does not depose it yet); nodes 2 and
    // 3 elect one of them in a later term, which commits x=new on both.
    isolate(sim, 1);
    let next: number | undefined;
    for (let i = 0; i < 200 && next === undefined; i++) {
      sim.tick(2);
      sim.tick(3);
      sim.settle();
      next = sim.leaders().find((n) => n.id !== 1)?.id;
    }
    expect(next).toBeDefined();
    const lead = next!;
    const other = lead === 2 ? 3 : 2;
    sim.put(lead, "x", "new");
    for (let i = 0; i < 3; i++) {
      sim.tick(lead);
      sim.settle();
    }
    const put = sim.history.at(-1)!;
    expect(put.ret).not.toBe(Number.POSITIVE_INFINITY);
    expect(sim.node(1).raft!.status().role).toBe("leader");
    // The other voter loses its disk: it forgets the term it voted in. The new leader cannot answer
    // its term probe, so its floor stays unknown; the deposed leader reaches it again.
    sim.heal();
    sim.partition([
      [1, lead],
      [lead, 1],
      [lead, other],
      [other, lead],
    ]);
    sim.wipe(other);
    sim.settle();
    expect(sim.node(other).recovering).toBe(true);
    // The deposed leader asks for a linearizable read: the recovering voter's heartbeat answer must
    // not confirm it (it would return x=old after x=new was acknowledged).
    const read = sim.get(1, "x");
    expect(read).not.toBeNull();
    sim.settle();
    expect(read!.ret).toBe(Number.POSITIVE_INFINITY);
    // Its answer still counts as contact for check-quorum.
    expect(sim.node(1).raft!.status().progress.get(other)!.recentActive).toBe(true);
  });
});
