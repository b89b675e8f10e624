/**
 * What one write costs on the wire, and when the followers learn that it committed. A commit alone
 * sends nothing: the next append or heartbeat carries the commit index (src/raft/core/replication.ts,
 * flushBroadcasts). Before, every commit also sent each follower an empty append, which it answered:
 * four messages per follower per lone write instead of two, on a machine whose replicas share cores.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { Sim } from "./cluster.js";

/** Delivers until the network is quiet (no ticks); returns the messages delivered, by type. */
function drain(sim: Sim): Map<string, number> {
  const seen = new Map<string, number>();
  for (let k = 0; k < 100 && sim.network.length > 0; k++) {
    for (const f of sim.network) seen.set(f.msg.type, (seen.get(f.msg.type) ?? 0) + 1);
    sim.deliverMany();
  }
  expect(sim.network).toEqual([]);
  return seen;
}

describe("a lone write costs one append and one answer per follower", () => {
  test("writes one at a time: each commits on the leader, and the next append tells the followers", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(3, 5),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 1000 }),
        (nodeCount, writes, seed) => {
          const sim = new Sim({ nodeCount, voterCount: nodeCount, seed });
          sim.elect(1);
          sim.settle();
          sim.tick(1); // the no-op's commit reaches everyone
          sim.settle();
          const followers = [...sim.nodes.keys()].filter((id) => id !== 1);
          for (let w = 0; w < writes; w++) {
            expect(sim.put(1, `k${w}`, `v${w}`)).toBe(true);
            const sent = drain(sim);
            expect(Object.fromEntries(sent)).toEqual({ append: nodeCount - 1, "append-resp": nodeCount - 1 });
            // Acknowledged: the leader applied it.
            expect(sim.node(1).kv.get(`k${w}`)).toBe(`v${w}`);
            // The followers hold the previous write as committed: this write's append said so.
            for (const id of followers) {
              if (w > 0) expect(sim.node(id).kv.get(`k${w - 1}`)).toBe(`v${w - 1}`);
              expect(sim.node(id).kv.get(`k${w}`)).toBeUndefined();
            }
          }
          // The next heartbeat carries the last commit.
          sim.tick(1);
          drain(sim);
          for (const id of followers) expect(sim.node(id).kv.get(`k${writes - 1}`)).toBe(`v${writes - 1}`);
        },
      ),
      { numRuns: 40 },
    );
  });
});
