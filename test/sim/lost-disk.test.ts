/**
 * A voter that loses its disk comes back at term 0 with no vote. Before recovery (src/raft/core/
 * recovery.ts) it could vote a second time in a term it had already voted in, and elect a second
 * leader of that term; now it votes only once it knows a term at least as high as any it may have
 * voted in, and holds the log a leader of that term committed.
 */
import { describe, expect, test } from "vitest";
import { Sim } from "./cluster.js";

/**
 * 1 leads term 1 with 3's vote (2 cannot hear 1), commits x=1 on {1, 3}; then 1 is cut off from
 * everyone and 3 loses its disk. 2, still at term 0, campaigns for term 1 and can reach only 3.
 */
function voteThenLoseDisk(opts: { recoverLostDisks: boolean; checkInvariants: boolean }): Sim {
  const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 12, ...opts });
  sim.partition([
    [1, 2],
    [2, 1],
  ]);
  sim.elect(1);
  sim.settle();
  expect(sim.node(1).raft!.status().term).toBe(1);
  expect(sim.node(3).disk.initialState().hardState).toMatchObject({ term: 1, vote: 1 });
  expect(sim.put(1, "x", "1")).toBe(true);
  sim.settle();
  // 3 learns that x=1 committed from 1's next heartbeat (a commit alone sends no message).
  sim.tick(1);
  sim.settle();
  expect(sim.node(3).kv.get("x")).toBe("1");
  expect(sim.node(2).raft!.status().term).toBe(0);

  sim.partition([
    [1, 3],
    [3, 1],
  ]);
  sim.wipe(3);
  return sim;
}

describe("a voter that lost its disk never votes twice in one term", () => {
  test("without recovery (the old behaviour): the wiped voter votes again in term 1, and term 1 has two leaders", () => {
    const sim = voteThenLoseDisk({ recoverLostDisks: false, checkInvariants: false });
    sim.elect(2, 100);
    const leadersOfTerm1 = [1, 2].filter((id) => {
      const r = sim.node(id).raft!.status();
      return r.role === "leader" && r.term === 1;
    });
    expect(leadersOfTerm1).toEqual([1, 2]);
  });

  test("without recovery, the ghost checker catches the second vote", () => {
    const sim = voteThenLoseDisk({ recoverLostDisks: false, checkInvariants: true });
    expect(() => sim.elect(2, 100)).toThrow(/vote-once: node 3 voted for 1 and then for 2 in term 1/);
  });

  test("with recovery: the wiped voter refuses every vote until it has heard every voter's term and caught up", () => {
    const sim = voteThenLoseDisk({ recoverLostDisks: true, checkInvariants: true });
    const n3 = sim.node(3);
    expect(n3.raft!.status().recovering).toBe(true);
    // 2 cannot win: 3, the only voter it reaches, is still waiting for 1's term.
    expect(() => sim.elect(2, 100)).toThrow(/did not become leader/);
    expect(n3.raft!.status().recovering).toBe(true);
    expect(n3.recovering).toBe(true);
    expect(sim.leaders().filter((l) => l.raft!.status().term === 1 && l.id !== 1)).toEqual([]);

    // Healed: 3 learns term 1 from 1, spends its term-1 vote, catches up from a leader, votes again.
    const leader = sim.stabilize(200);
    expect(leader).not.toBeNull();
    for (let r = 0; r < 20; r++) sim.round();
    expect(n3.raft!.status().recovering).toBe(false);
    expect(n3.recovering).toBe(false);
    expect(n3.disk.initialState().hardState.term).toBeGreaterThanOrEqual(1);
    // The write committed on {1, 3} before the loss survived it, everywhere.
    for (const id of [1, 2, 3]) expect(sim.node(id).kv.get("x")).toBe("1");
  });

  test("a recovery cut short by a crash starts over: the mark on disk outlives the process", () => {
    const sim = voteThenLoseDisk({ recoverLostDisks: true, checkInvariants: true });
    sim.crash(3);
    sim.restart(3);
    expect(sim.node(3).raft!.status().recovering).toBe(true);
    expect(() => sim.elect(2, 50)).toThrow(/did not become leader/);
  });

  test("a brand-new cluster whose stores all start empty (all recovering) still elects a leader", () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const sim = new Sim({ nodeCount: 3, voterCount: 3, seed, freshStoresRecover: true });
      expect([...sim.nodes.values()].every((n) => n.raft!.status().recovering)).toBe(true);
      const leader = sim.stabilize(100);
      expect(leader).not.toBeNull();
      for (const n of sim.nodes.values()) expect(n.raft!.status().recovering).toBe(false);
    }
  });
});
