/**
 * A data node that stops reporting (a pulled cable, a hung process): before the leader may judge it
 * dead, new copies avoid it; once it is dead, a repair copy ordered to it is ordered again at once, to
 * a live node and from a source that is not waiting on it (src/meta/data-nodes/placement.ts, repair.ts;
 * the data node's side in test/data/leader-link.test.ts).
 */
import { describe, expect, test } from "vitest";
import type { DataNodeCommand } from "../../src/common/protocol/index.js";
import { BEAT_MS, DEAD_AFTER_MS, ID, R, Sim, STALE_AFTER_MS } from "./data-node-sim.js";

const ZONES = ["a", "a", "b", "b", "c", "c"];

/** Heartbeat intervals until a silent node is stale, and until it is dead. */
const BEATS_TO_STALE = Math.ceil(STALE_AFTER_MS / BEAT_MS);
const BEATS_TO_DEAD = Math.ceil(DEAD_AFTER_MS / BEAT_MS);

type Replicate = Extract<DataNodeCommand, { type: "replicate" }>;

/** Replicate orders waiting at the leader for each node's next heartbeat. */
function copyOrders(sim: Sim, chunkId: string): { source: number; targets: number[] }[] {
  return [...sim.tracker.nodes.values()].flatMap((n) =>
    n.queue
      .filter((c): c is Replicate => c.type === "replicate" && c.chunkId === chunkId)
      .map((c) => ({ source: n.id, targets: c.targets.map((t) => t.id) })),
  );
}

describe("stale data nodes", () => {
  test("heartbeat answers name the nodes judged dead, and only those", () => {
    const sim = new Sim(ZONES);
    sim.tick();
    sim.node(2).up = false;
    for (let i = 0; i < BEATS_TO_STALE; i++) sim.tick();
    expect(sim.answers.get(1)!.deadNodes).toBeUndefined(); // stale is not dead: its forwards go on
    for (let i = 0; i < BEATS_TO_DEAD; i++) sim.tick();
    expect(sim.answers.get(1)!.deadNodes).toEqual([2]);
  });

  test("a node silent past staleAfterMs takes no new copies while fresh nodes can", () => {
    const sim = new Sim(ZONES);
    sim.tick();
    const silent = sim.node(3); // zone b; its zone-mate 4 still reports
    silent.up = false;
    for (let i = 0; i < BEATS_TO_STALE; i++) sim.tick();
    expect(sim.tracker.isAlive(sim.tracker.nodes.get(3)!)).toBe(true); // not dead yet: nothing repaired
    for (let i = 0; i < 20; i++) {
      const chosen = sim.tracker.choose(100, R, new Set()).map((n) => n.id);
      expect(chosen).not.toContain(3);
      expect(new Set(chosen.map((id) => sim.node(id).zone)).size).toBe(3);
      sim.write(ID(i), 0);
    }
  });

  test("with too few fresh nodes, stale ones still take copies (a write goes on)", () => {
    const sim = new Sim(["a", "b", "c", "c"]);
    sim.tick();
    sim.node(1).up = false;
    sim.node(2).up = false;
    for (let i = 0; i < BEATS_TO_STALE; i++) sim.tick();
    const chosen = sim.tracker.choose(100, R, new Set()).map((n) => n.id);
    expect(chosen.length).toBe(R);
    expect(chosen.slice(0, 2).sort()).toEqual([3, 4]); // the fresh ones first
  });

  test("a repair copy whose target dies is ordered again once the target is dead, from another holder", () => {
    const sim = new Sim(ZONES);
    sim.write(ID(1), 0);
    for (let i = 0; i < 3; i++) sim.tick();
    // One holder dies: the chunk is short, and the leader orders a copy once the holder is dead.
    const holder = sim.nodes.find((n) => n.chunks.has(ID(1)))!;
    holder.up = false;
    let order: { source: number; targets: number[] } | undefined;
    for (let i = 0; i < BEATS_TO_DEAD + 5 && !order; i++) {
      sim.tick();
      order = copyOrders(sim, ID(1))[0];
    }
    expect(order).toBeDefined();
    // Its target goes silent before the copy arrives: the source carries the order out, nothing lands.
    const target = sim.node(order!.targets[0]!);
    target.up = false;
    let beats = 0;
    let again: { source: number; targets: number[] } | undefined;
    while (!again && beats < 3 * BEATS_TO_DEAD + 5) {
      sim.tick();
      beats++;
      again = copyOrders(sim, ID(1)).find((o) => !o.targets.includes(target.id));
    }
    // Before, the copy counted as under way until three dead-node timeouts had passed.
    expect(beats).toBeLessThanOrEqual(BEATS_TO_DEAD + 2);
    // The first source may still be waiting on the dead target: another holder copies.
    expect(again!.source).not.toBe(order!.source);
    for (let i = 0; i < 5; i++) sim.tick();
    const zonesUp = new Set(sim.nodes.filter((n) => n.up).map((n) => n.zone)).size;
    expect(sim.copies(ID(1))).toEqual({ count: R, zones: Math.min(R, zonesUp) });
  });
});
