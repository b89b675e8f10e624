/**
 * The snapshot stream's sender on its own: when it retransmits and when it gives up. The simulator
 * (test/sim/snapshot-stream.property.test.ts) checks whole streams under faults.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { SnapshotMeta } from "../../src/raft/core/index.js";
import { SnapshotSender } from "../../src/raft/snapshot-stream.js";

const META: SnapshotMeta = { index: 10, term: 2, conf: { voters: [1, 2], learners: [], joining: [] } };

function sender(limits: { windowChunks: number; retransmitTicks: number; abandonTicks: number }) {
  return new SnapshotSender(1, 2, 2, META, 7, limits);
}

describe("snapshot sender", () => {
  test("a sender waiting for its own source (nothing unacknowledged) neither resends nor gives up", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        (waitTicks, retransmitTicks, abandonTicks) => {
          const s = sender({ windowChunks: 2, retransmitTicks, abandonTicks });
          for (let t = 0; t < waitTicks; t++) expect(s.onTick()).toEqual([]);
          expect(s.state).toBe("open");
          // Then the source yields a chunk and the receiver stays silent: it gives up after abandonTicks.
          const m = s.push(new Uint8Array([1, 2, 3]), false);
          let resent = 0;
          for (let t = 1; t < abandonTicks; t++) resent += s.onTick().length;
          expect(s.state).toBe("open");
          expect(resent).toBe(Math.floor((abandonTicks - 1) / retransmitTicks));
          expect(s.onTick()).toEqual([]);
          expect(s.state).toBe("failed");
          expect(m.seq).toBe(0);
        },
      ),
    );
  });

  test("an acknowledgement resets the silence, and the next chunk's wait starts from zero", () => {
    const s = sender({ windowChunks: 1, retransmitTicks: 100, abandonTicks: 3 });
    s.push(new Uint8Array([1]), false);
    s.onTick();
    s.onTick();
    expect(
      s.onResp({ type: "snapshot-resp", from: 2, to: 1, term: 2, stream: 7, next: 1, reject: false }),
    ).toBe("progress");
    // The source is slow now: many ticks with an empty window.
    for (let t = 0; t < 50; t++) s.onTick();
    s.push(new Uint8Array([2]), true);
    s.onTick();
    s.onTick();
    expect(s.state).toBe("open");
    s.onTick();
    expect(s.state).toBe("failed");
  });
});
