/**
 * spreadByChunk: a chunk's nodes in a rotated order, the same for the same chunk, and over many chunks
 * every node first about as often (so no node heads every pipeline or serves every read).
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { spreadByChunk } from "../../src/common/chunk-spread.js";

const chunkId = (i: number) => createHash("sha256").update(`chunk ${i}`).digest("hex");

describe("spreadByChunk", () => {
  it("is a rotation of the nodes, the same each time for one chunk", () => {
    fc.assert(
      fc.property(
        fc.stringMatching(/^[0-9a-f]{64}$/),
        fc.array(fc.integer(), { maxLength: 8 }),
        (id, nodes) => {
          const out = spreadByChunk(id, nodes);
          expect(out).toEqual(spreadByChunk(id, nodes));
          const k = nodes.length === 0 ? 0 : nodes.indexOf(out[0]!);
          expect(out).toEqual([...nodes.slice(k), ...nodes.slice(0, k)]);
        },
      ),
    );
  });

  it("puts each of 3 nodes first for about a third of 3,000 chunks", () => {
    const firsts = new Map<string, number>();
    for (let i = 0; i < 3000; i++) {
      const first = spreadByChunk(chunkId(i), ["a", "b", "c"])[0]!;
      firsts.set(first, (firsts.get(first) ?? 0) + 1);
    }
    // Fixed ids, so this is exact each run; listed in order, "a" would be first 3,000 times.
    for (const n of ["a", "b", "c"]) expect(firsts.get(n)).toBeGreaterThan(900);
  });
});
