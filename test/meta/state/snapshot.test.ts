import { describe, expect, it } from "vitest";
import { AssertionError } from "../../../src/common/assert.js";
import { FsState } from "../../../src/meta/state/index.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness, inline, text } from "./helpers.js";

function populated(): Harness {
  const h = new Harness();
  h.ok({ type: "commit", path: "/d/f", content: inline("hello"), createParents: true });
  h.ok({ type: "commit", path: "/d/f", content: chunked([1, 10]) });
  h.ok({ type: "commit", path: "/g", content: chunked([2, 10]) });
  h.ok({ type: "delete", path: "/g" });
  h.ok({ type: "lockAcquire", path: "/d", mode: "shared", ttlMs: 5000, owner: "o" });
  h.apply({ type: "registerDataNode", id: "n1", url: "http://n1", zone: "z", capacityBytes: 9 });
  return h;
}

describe("snapshot / restore", () => {
  it("is plain data with everything in it, in canonical order", () => {
    const h = populated();
    const snap = h.fs.snapshot();
    expect(snap.format).toBe(1);
    expect(snap.lastAppliedIndex).toBe(h.index);
    expect(snap.nodes.map((n) => n.path)).toEqual(["/", "/d", "/d/f"]);
    expect(snap.garbage).toEqual([{ chunkId: chunkId(2), sinceMs: h.nowMs, sizeBytes: 10 }]);
    expect(snap.locks).toMatchObject([{ path: "/d", mode: "shared", owner: "o" }]);
    expect(snap.dataNodes).toMatchObject([{ id: "n1" }]);
    expect(snap.sessions).toHaveLength(1);
    // JSON-able apart from inline bytes.
    const json = JSON.parse(JSON.stringify(snap, (_k, v) => (v instanceof Uint8Array ? [...v] : v)));
    expect(json.nodes[2].versions[0].content.data).toEqual([...new TextEncoder().encode("hello")]);
  });

  it("restores an equal state that then behaves the same", () => {
    const h = populated();
    const restored = FsState.restore(h.fs.snapshot(), DEFAULT_OPTS);
    expect(restored.stateHash()).toBe(h.fs.stateHash());
    expect(restored.lastAppliedIndex).toBe(h.fs.lastAppliedIndex);
    expect(restored.lastTimestampMs).toBe(h.fs.lastTimestampMs);
    expect(restored.referencedChunks()).toEqual(h.fs.referencedChunks());
    expect(text(restored.readVersion("/d/f", 1).content)).toBe("hello");
    restored.checkInvariants();
    const next = { index: h.index + 1, timestampMs: h.nowMs + 1, command: { type: "noop" } } as const;
    expect(restored.apply(next)).toEqual(h.fs.apply(next));
    expect(restored.stateHash()).toBe(h.fs.stateHash());
  });

  it("a snapshot shares nothing with the live state", () => {
    const h = populated();
    const snap = h.fs.snapshot();
    const before = h.fs.stateHash();
    const version = snap.nodes[2];
    if (version?.type === "file") {
      const c = version.versions[0]?.content;
      if (c?.kind === "inline") c.data.fill(0);
    }
    snap.locks[0] && (snap.locks[0].expiresAtMs = 0);
    expect(h.fs.stateHash()).toBe(before);
  });

  it("the snapshot for encoding holds the same data as the copying one", () => {
    const h = populated();
    expect(h.fs.snapshotForEncoding()).toEqual(h.fs.snapshot());
  });

  it("restore refuses a snapshot that breaks the tree", () => {
    const snap = populated().fs.snapshot();
    const orphan = { ...snap, nodes: snap.nodes.filter((n) => n.path !== "/d") };
    expect(() => FsState.restore(orphan, DEFAULT_OPTS)).toThrow(AssertionError);
  });
});

describe("apply preconditions", () => {
  it("entries must come in increasing index order (a Raft bug otherwise)", () => {
    const h = new Harness();
    h.apply({ type: "noop" });
    expect(() => h.fs.apply({ index: 1, timestampMs: 0, command: { type: "noop" } })).toThrow(AssertionError);
    // Gaps are fine: the Raft layer may skip entries that are not commands.
    expect(h.fs.apply({ index: 10, timestampMs: 0, command: { type: "noop" } }).ok).toBe(true);
  });

  it("options are checked", () => {
    expect(() => new FsState({ versionsRetained: 0, sessionTimeoutMs: 1 })).toThrow(AssertionError);
    expect(() => new FsState({ versionsRetained: 1, sessionTimeoutMs: 1, maxSessions: 0 })).toThrow(
      AssertionError,
    );
  });
});
