/**
 * Where new copies go (src/meta/data-nodes/placement.ts): R distinct live nodes with room, one per
 * zone first, each the emptier of two drawn at random. The emptiest-first rule this replaced sent every
 * chunk of a heartbeat's interval to the same R nodes, and every new chunk to a node just added; the
 * spread tests below fail on it (node 2 and the new node 7 are the ones it starved and flooded).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { Placement } from "../../src/meta/data-nodes/placement.js";
import { NodeRegistry } from "../../src/meta/data-nodes/registry.js";
import { seededRandom } from "../../src/raft/core/random.js";

const CAPACITY = 1e9;

/** A leader's registry holding these nodes (id → zone and free share), and a placement over it. */
function cluster(nodes: Record<number, { zone: string; free: number }>, seed: number) {
  const registry = new NodeRegistry(
    { deadAfterMs: 5000, expectedNodeIds: Object.keys(nodes).map(Number) },
    { now: () => 1000 },
  );
  const add = (id: number, zone: string, free: number) =>
    registry.register({
      id,
      url: `http://127.0.0.1:${9000 + id}`,
      zone,
      pid: id,
      capacityBytes: CAPACITY,
      freeBytes: free * CAPACITY,
      usedBytes: (1 - free) * CAPACITY,
      chunks: [],
    });
  for (const [id, n] of Object.entries(nodes)) add(Number(id), n.zone, n.free);
  const rng = seededRandom(seed);
  const placement = new Placement(
    { secret: "secret-secret", ticketTtlMs: 60_000 },
    registry,
    () => rng.int(2 ** 32) / 2 ** 32,
  );
  return { placement, add };
}

/** How many of `rounds` placements of R = 3 each node took. */
function counts(placement: Placement, rounds: number): Map<number, number> {
  const taken = new Map<number, number>();
  for (let i = 0; i < rounds; i++) {
    for (const n of placement.choose(100, 3, new Set())) taken.set(n.id, (taken.get(n.id) ?? 0) + 1);
  }
  return taken;
}

const SIX = {
  1: { zone: "a", free: 0.9 },
  2: { zone: "a", free: 0.3 },
  3: { zone: "b", free: 0.5 },
  4: { zone: "b", free: 0.5 },
  5: { zone: "c", free: 0.6 },
  6: { zone: "c", free: 0.6 },
};

describe("placement", () => {
  test("property: distinct nodes with room, one per zone first, never an excluded one", () => {
    fc.assert(
      fc.property(
        fc.integer(),
        fc.uniqueArray(fc.integer({ min: 1, max: 7 }), { maxLength: 3 }),
        fc.integer({ min: 1, max: 5 }),
        (seed, excluded, count) => {
          const { placement } = cluster({ ...SIX, 7: { zone: "c", free: 0 } }, seed);
          const chosen = placement.choose(100, count, new Set(excluded));
          const ids = chosen.map((n) => n.id);
          const eligible = [1, 2, 3, 4, 5, 6].filter((id) => !excluded.includes(id));
          expect(new Set(ids).size).toBe(ids.length);
          expect(ids.length).toBe(Math.min(count, eligible.length));
          for (const id of ids) expect(eligible).toContain(id);
          // As many zones as could be covered, before any zone holds two.
          const zonesLeft = new Set(eligible.map((id) => SIX[id as keyof typeof SIX].zone));
          const firstZones = new Set(chosen.slice(0, zonesLeft.size).map((n) => n.zone));
          expect(firstZones.size).toBe(Math.min(chosen.length, zonesLeft.size));
        },
      ),
    );
  });

  test("writes spread over every node with room, fewer to the fuller one of a zone", () => {
    const { placement } = cluster(SIX, 7);
    const taken = counts(placement, 2000);
    // Zone a: node 2 is drawn twice only a quarter of the time; the emptiest-first rule never chose it.
    expect(taken.get(2) ?? 0).toBeGreaterThan(0);
    expect(taken.get(1)!).toBeGreaterThan(taken.get(2)!);
    for (const id of [3, 4, 5, 6]) expect(taken.get(id) ?? 0).toBeGreaterThan(0);
  });

  test("a node just added shares its zone's new chunks instead of taking them all", () => {
    const { placement, add } = cluster(SIX, 11);
    add(7, "a", 1.0);
    const taken = counts(placement, 1000);
    // Every placement puts one copy in zone a; the new node takes part of them, the others go on.
    expect(taken.get(7)!).toBeGreaterThan(0);
    expect(taken.get(7)!).toBeLessThan(1000);
    expect(taken.get(1) ?? 0).toBeGreaterThan(0);
  });
});
