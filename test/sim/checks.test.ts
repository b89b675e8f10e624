/**
 * The checks after a simulator run can fail: each is shown firing on a deliberately broken server
 * (SimOptions.faults), and staying quiet on the real one.
 */
import { describe, expect, test } from "vitest";
import { Sim } from "./cluster.js";
import { healAndCheck } from "./run.js";
import type { SimFaults } from "./sim-node.js";

/**
 * A leader answers a put, then crashes before anyone else hears of it; the other two elect a leader
 * and commit their own write at that index. A correct server never answered the first put.
 */
function lostWriteRun(faults: SimFaults): Sim {
  const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 21, electionTimeoutTicks: 5, faults });
  const old = sim.stabilize(100)!;
  expect(sim.put(old.id, "x", "doomed")).toBe(true);
  sim.network = sim.network.filter((f) => f.msg.from !== old.id);
  sim.crash(old.id);
  let next = null;
  for (let r = 0; r < 200 && !next; r++) {
    sim.round();
    next = sim.leaders().find((n) => n.raft!.status().commitIndex > 0 && n.id !== old.id) ?? null;
  }
  expect(next).not.toBeNull();
  expect(sim.put(next!.id, "x", "kept")).toBe(true);
  for (let r = 0; r < 10; r++) sim.round();
  return sim;
}

describe("the simulator's checks after healing", () => {
  test("durability: a put acknowledged before it committed, then lost, is reported", () => {
    const sim = lostWriteRun({ ackOnAppend: true });
    expect(sim.acknowledged.map((a) => a.value)).toContain("doomed");
    expect(() => healAndCheck(sim)).toThrow(/durability: acknowledged write x=doomed .* was lost/);
  });

  test("the same run on a correct server: the lost put was never acknowledged, and every check passes", () => {
    const sim = lostWriteRun({});
    expect(sim.acknowledged.map((a) => a.value)).not.toContain("doomed");
    expect(sim.acknowledged.map((a) => a.value)).toContain("kept");
    expect(() => healAndCheck(sim)).not.toThrow();
  });

  test("liveness: final reads that are never answered fail the run instead of counting as unknown", () => {
    const sim = new Sim({ nodeCount: 3, voterCount: 3, seed: 22, faults: { ignoreReads: true } });
    expect(() => healAndCheck(sim)).toThrow(/liveness: the final read of x was not answered/);
  });
});
