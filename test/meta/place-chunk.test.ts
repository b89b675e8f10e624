/**
 * How many copies a new chunk is placed on: R while R nodes can take it, down to `leastCopies` (the
 * config's `minReplication`, else half of R rounded up) while fewer can, and a refusal below that.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../src/common/config.js";
import { DfsError } from "../../src/common/errors.js";
import type { TrackedNode } from "../../src/meta/data-nodes/registry.js";
import { leastCopies, placeChunk } from "../../src/meta/place-chunk.js";

const CHUNK = "a".repeat(64);

/** A tracker whose live nodes are 1..live, recording what it placed. */
function trackerWith(live: number) {
  const placed: number[][] = [];
  const nodes = Array.from({ length: live }, (_, i) => ({ id: i + 1, url: `http://127.0.0.1:${9000 + i}` }));
  return {
    placed,
    tracker: {
      choose: (_size: number, count: number, exclude: ReadonlySet<number>) =>
        nodes.filter((n) => !exclude.has(n.id)).slice(0, count) as unknown as TrackedNode[],
      recordPlacement: (_id: string, chosen: readonly { id: number }[]) => {
        placed.push(chosen.map((n) => n.id));
      },
      ticket: () => "ticket",
    },
  };
}

describe("placeChunk", () => {
  it("places on min(live, R) nodes when at least leastCopies are live, else refuses and records nothing", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.option(fc.integer({ min: 1, max: 16 }), { nil: undefined }),
        fc.integer({ min: 0, max: 20 }),
        (replication, minReplication, live) => {
          const { tracker, placed } = trackerWith(live);
          const least = leastCopies(replication, minReplication);
          expect(least).toBe(Math.min(replication, minReplication ?? Math.ceil(replication / 2)));
          const req = {
            chunkId: CHUNK,
            sizeBytes: 1,
            replication,
            minReplication,
            exclude: new Set<number>(),
          };
          if (live >= least) {
            const r = placeChunk(tracker, req);
            expect(r.nodes).toHaveLength(Math.min(live, replication));
            // The same nodes; their order (the pipeline's head first) is spread by chunk id.
            expect(placed.map((ids) => [...ids].sort((x, y) => x - y))).toEqual([
              r.nodes.map((n) => n.id).sort((x, y) => x - y),
            ]);
          } else {
            expect(() => placeChunk(tracker, req)).toThrow(DfsError);
            expect(() => placeChunk(tracker, req)).toThrow(`at least ${least} of its ${replication} copies`);
            expect(placed).toEqual([]);
          }
        },
      ),
    );
  });

  it("with minReplication = R, one node short is refused (the strict setting)", () => {
    const { tracker } = trackerWith(2);
    const req = {
      chunkId: CHUNK,
      sizeBytes: 1,
      replication: 3,
      minReplication: 3,
      exclude: new Set<number>(),
    };
    expect(() => placeChunk(tracker, req)).toThrow(/only 2 live data nodes/);
  });
});

describe("minReplication in the config", () => {
  const META = [{ id: 1, host: "127.0.0.1", port: 7101 }];
  it("is refused above replication", () => {
    expect(() => parseConfig({ meta: META, replication: 2, minReplication: 3 })).toThrow(ConfigError);
    expect(() => parseConfig({ meta: META, replication: 2, minReplication: 3 })).toThrow("/minReplication");
    expect(parseConfig({ meta: META, replication: 3, minReplication: 3 }).minReplication).toBe(3);
    expect(parseConfig({ meta: META }).minReplication).toBeUndefined();
  });
});
