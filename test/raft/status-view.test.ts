import { describe, expect, it } from "vitest";
import {
  DEFAULT_RAFT_OPTIONS,
  MemoryStorage,
  RaftNode,
  type Ready,
  seededRandom,
} from "../../src/raft/core/index.js";

/** A single voter: it elects itself on ticks alone, so the test needs no network. */
function soloLeader(): RaftNode {
  const storage = new MemoryStorage({ voters: [1], learners: [], joining: [] });
  const node = new RaftNode({ ...DEFAULT_RAFT_OPTIONS, id: 1, storage, random: seededRandom(1) });
  const drain = () => {
    while (node.hasReady()) {
      const rd: Ready = node.ready();
      if (rd.hardState) storage.setHardState(rd.hardState);
      storage.append(rd.entries);
      node.advance(rd);
    }
  };
  for (let t = 0; t < 100 && node.status().role !== "leader"; t++) {
    node.tick();
    drain();
  }
  node.propose(new TextEncoder().encode("x"));
  drain();
  return node;
}

describe("the core's state is read through a read-only status view", () => {
  it("shows the state after each step", () => {
    const node = soloLeader();
    const view = node.status();
    expect(view).toMatchObject({ id: 1, role: "leader", leaderId: 1, vote: 1 });
    expect(view.term).toBeGreaterThan(0);
    // The no-op of the new term, then the proposal: both committed and handed out to apply.
    expect(view.lastIndex).toBe(2);
    expect(view.commitIndex).toBe(2);
    expect(view.appliedIndex).toBe(2);
    expect(view.termAt(2)).toBe(view.term);
    expect(view.entries(1, 3).map((e) => e.index)).toEqual([1, 2]);
    expect(view.conf.voters).toEqual([1]);
    expect(view.progress.get(1)?.match).toBe(2);
    node.propose(new Uint8Array([1]));
    expect(view.lastIndex).toBe(3);
  });

  it("refuses writes: nothing outside the core can change its term, role or commit index", () => {
    const node = soloLeader();
    const view = node.status() as unknown as Record<string, unknown>;
    const before = node.hardState();
    for (const field of ["term", "role", "leaderId", "vote", "commitIndex", "conf"]) {
      expect(() => {
        view[field] = 99;
      }, field).toThrow(TypeError);
    }
    expect(node.hardState()).toEqual(before);
    expect(node.status().role).toBe("leader");
  });
});
