/**
 * Fault schedules for the simulator: fast-check generates a list of actions (network decisions,
 * partitions, crashes, lost disks, slow disks, client calls, snapshots, transfers, membership changes); `runSchedule`
 * plays it with invariant checks after every step (see run.ts for the checks after healing).
 */
import fc from "fast-check";
import type { NodeId } from "../../src/raft/core/index.js";
import type { Sim } from "./cluster.js";

export type Action =
  | { t: "tick"; node: number | null; times: number }
  | { t: "round" }
  | { t: "deliver"; i: number }
  | { t: "deliverMany"; count: number }
  | { t: "drop"; i: number }
  | { t: "dup"; i: number }
  | { t: "partition"; links: [number, number][] }
  | { t: "isolate"; node: number }
  | { t: "heal" }
  | { t: "crash"; node: number }
  | { t: "crashAfterPersist"; node: number }
  | { t: "restart"; node: number }
  | { t: "wipe"; node: number }
  | { t: "slowDisk"; node: number; on: boolean }
  | { t: "flush"; node: number }
  | { t: "put"; node: number | null; key: string; value: number }
  | { t: "get"; node: number | null; key: string }
  | { t: "snapshot"; node: number; keep: number }
  | { t: "transfer"; to: number }
  | { t: "add"; node: number }
  | { t: "remove"; node: number };

export const KEYS = ["x", "y", "z"];

export function actionArb(nodeCount: number, membership: boolean): fc.Arbitrary<Action> {
  const node = fc.integer({ min: 1, max: nodeCount });
  const idx = fc.nat({ max: 1000 });
  const weighted: fc.WeightedArbitrary<Action>[] = [
    {
      weight: 30,
      arbitrary: fc.record({
        t: fc.constant("tick" as const),
        node: fc.option(node, { freq: 3, nil: null }),
        times: fc.integer({ min: 1, max: 4 }),
      }),
    },
    { weight: 8, arbitrary: fc.constant({ t: "round" as const }) },
    { weight: 12, arbitrary: fc.record({ t: fc.constant("deliver" as const), i: idx }) },
    {
      weight: 20,
      arbitrary: fc.record({
        t: fc.constant("deliverMany" as const),
        count: fc.integer({ min: 1, max: 30 }),
      }),
    },
    { weight: 4, arbitrary: fc.record({ t: fc.constant("drop" as const), i: idx }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("dup" as const), i: idx }) },
    {
      weight: 2,
      arbitrary: fc.record({
        t: fc.constant("partition" as const),
        links: fc.array(fc.tuple(node, node), { minLength: 1, maxLength: 6 }),
      }),
    },
    { weight: 3, arbitrary: fc.record({ t: fc.constant("isolate" as const), node }) },
    { weight: 3, arbitrary: fc.constant({ t: "heal" as const }) },
    { weight: 3, arbitrary: fc.record({ t: fc.constant("crash" as const), node }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("crashAfterPersist" as const), node }) },
    { weight: 6, arbitrary: fc.record({ t: fc.constant("restart" as const), node }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("wipe" as const), node }) },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("slowDisk" as const), node, on: fc.boolean() }) },
    { weight: 4, arbitrary: fc.record({ t: fc.constant("flush" as const), node }) },
    {
      weight: 20,
      arbitrary: fc.record({
        t: fc.constant("put" as const),
        node: fc.option(node, { freq: 2, nil: null }),
        key: fc.constantFrom(...KEYS),
        value: fc.nat(99),
      }),
    },
    {
      weight: 10,
      arbitrary: fc.record({
        t: fc.constant("get" as const),
        node: fc.option(node, { freq: 2, nil: null }),
        key: fc.constantFrom(...KEYS),
      }),
    },
    { weight: 2, arbitrary: fc.record({ t: fc.constant("snapshot" as const), node, keep: fc.nat(4) }) },
    { weight: 1, arbitrary: fc.record({ t: fc.constant("transfer" as const), to: node }) },
  ];
  if (membership) {
    weighted.push(
      { weight: 1, arbitrary: fc.record({ t: fc.constant("add" as const), node }) },
      { weight: 1, arbitrary: fc.record({ t: fc.constant("remove" as const), node }) },
    );
  }
  return fc.oneof(...weighted);
}

export function scheduleArb(
  nodeCount: number,
  membership: boolean,
  maxLength: number,
): fc.Arbitrary<Action[]> {
  return fc.array(actionArb(nodeCount, membership), {
    minLength: Math.min(20, maxLength),
    maxLength,
    size: "max",
  });
}

/** Sends a leader-only request to whichever node currently leads (or node 1 when none does). */
function leaderOr(sim: Sim, fallback: NodeId): NodeId {
  return sim.leaderId() || fallback;
}

export function playAction(sim: Sim, a: Action): void {
  switch (a.t) {
    case "tick":
      for (let k = 0; k < a.times; k++) sim.tick(a.node ?? undefined);
      return;
    case "round":
      sim.round();
      return;
    case "deliver":
      sim.deliverAt(a.i);
      return;
    case "deliverMany":
      sim.deliverMany(a.count);
      return;
    case "drop":
      sim.dropAt(a.i);
      return;
    case "dup":
      sim.duplicateAt(a.i);
      return;
    case "partition":
      // Each partition replaces the last: faults come and go rather than pile up.
      sim.heal();
      sim.partition(a.links);
      return;
    case "isolate": {
      sim.heal();
      const links: [number, number][] = [];
      for (const other of sim.nodes.keys())
        if (other !== a.node) links.push([a.node, other], [other, a.node]);
      sim.partition(links);
      return;
    }
    case "heal":
      sim.heal();
      return;
    case "crash":
      sim.crash(a.node);
      return;
    case "crashAfterPersist":
      sim.node(a.node).crashAfterPersist = true;
      return;
    case "restart":
      sim.restart(a.node);
      return;
    case "wipe":
      sim.wipe(a.node);
      return;
    case "slowDisk":
      sim.setSlowDisk(a.node, a.on);
      return;
    case "flush":
      sim.flush(a.node);
      return;
    case "put":
      // A null node is a client that found the leader; otherwise the client asks whomever it knows.
      sim.put(a.node ?? leaderOr(sim, 1), a.key, String(a.value));
      return;
    case "get":
      sim.get(a.node ?? leaderOr(sim, 1), a.key);
      return;
    case "snapshot":
      sim.snapshot(a.node, a.keep);
      return;
    case "transfer":
      sim.transfer(leaderOr(sim, 1), a.to);
      return;
    case "add":
      sim.addNode(leaderOr(sim, 1), a.node);
      return;
    case "remove":
      sim.removeNode(leaderOr(sim, 1), a.node);
      return;
  }
}
