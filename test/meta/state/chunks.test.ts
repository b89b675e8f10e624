import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness, inline, recountChunks } from "./helpers.js";

const refs = (h: Harness) =>
  Object.fromEntries([...h.fs.referencedChunks()].map(([id, n]) => [parseInt(id, 16), n]));
const garbage = (h: Harness) => h.fs.garbageChunks().map((g) => [parseInt(g.chunkId, 16), g.sinceMs]);

describe("chunk references", () => {
  it("every retained version's chunks count, once per occurrence", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10], [2, 10], [1, 10]) });
    h.ok({ type: "commit", path: "/g", content: chunked([2, 10]) });
    expect(refs(h)).toEqual({ 1: 2, 2: 2 });
    expect(garbage(h)).toEqual([]);
  });

  it("versions past retention release their chunks into the garbage list", () => {
    const h = new Harness({ versionsRetained: 2 });
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "commit", path: "/f", content: chunked([2, 10]) });
    h.advance(5);
    h.ok({ type: "commit", path: "/f", content: chunked([3, 10]) });
    expect(refs(h)).toEqual({ 2: 1, 3: 1 });
    expect(garbage(h)).toEqual([[1, h.nowMs]]);
  });

  it("a chunk shared by the dropped and the new version never becomes garbage", () => {
    const h = new Harness({ versionsRetained: 1 });
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10], [2, 10]) });
    h.ok({ type: "commit", path: "/f", content: chunked([2, 10], [3, 10]) });
    expect(refs(h)).toEqual({ 2: 1, 3: 1 });
    expect(garbage(h)).toEqual([[1, h.nowMs]]);
  });

  it("delete (also recursive) releases every retained version", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/d/f", content: chunked([1, 10]), createParents: true });
    h.ok({ type: "commit", path: "/d/f", content: chunked([2, 10]) });
    h.ok({ type: "commit", path: "/d/e/g", content: chunked([3, 10]), createParents: true });
    h.ok({ type: "commit", path: "/keep", content: chunked([3, 10]) });
    h.ok({ type: "delete", path: "/d", recursive: true });
    expect(refs(h)).toEqual({ 3: 1 });
    expect(garbage(h).map(([id]) => id)).toEqual([1, 2]);
  });

  it("a re-referenced chunk leaves the garbage list", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "delete", path: "/f" });
    expect(garbage(h).map(([id]) => id)).toEqual([1]);
    h.ok({ type: "commit", path: "/g", content: chunked([1, 10]) });
    expect(garbage(h)).toEqual([]);
    expect(refs(h)).toEqual({ 1: 1 });
  });

  it("collectGarbage removes only entries older than beforeMs", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "delete", path: "/f" });
    const t1 = h.nowMs;
    h.advance(100);
    h.ok({ type: "commit", path: "/g", content: chunked([2, 10]) });
    h.ok({ type: "delete", path: "/g" });
    const r = h.apply({
      type: "collectGarbage",
      chunkIds: [chunkId(1), chunkId(2), chunkId(9)],
      beforeMs: t1 + 1,
    });
    // 1 is old garbage, 9 an upload never committed (its age is the leader's judgement); 2 is too new.
    expect(r).toEqual({ ok: true, value: { removed: [chunkId(1), chunkId(9)] }, changes: [] });
    expect(garbage(h)).toEqual([[2, t1 + 100]]);
    expect(h.fs.tombstones().map((t) => t.chunkId)).toEqual([chunkId(1), chunkId(9)]);
  });

  it("a commit naming a collected chunk is refused until the chunk is revived", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/keep", content: chunked([3, 10]) });
    // A referenced chunk is never condemned, whatever the leader asks.
    const r = h.apply({ type: "collectGarbage", chunkIds: [chunkId(3), chunkId(4)], beforeMs: h.nowMs + 1 });
    expect(r).toEqual({ ok: true, value: { removed: [chunkId(4)] }, changes: [] });
    const { namespace: beforeNs, garbage: beforeGarbage } = h.fs.partHashes();
    const refused = h.send({ type: "commit", path: "/late", content: chunked([3, 10], [4, 10]) });
    expect(refused).toMatchObject({ ok: false, error: { code: "CHUNK_GONE" } });
    expect(h.fs.partHashes().namespace).toBe(beforeNs);
    expect(h.fs.partHashes().garbage).toBe(beforeGarbage);
    // Abandoning a collected chunk changes nothing; reviving it lets the commit through.
    expect(h.apply({ type: "abandonChunks", chunkIds: [chunkId(4)] })).toMatchObject({
      value: { added: [] },
    });
    expect(h.apply({ type: "reviveChunks", chunkIds: [chunkId(4), chunkId(5)] })).toMatchObject({
      value: { revived: [chunkId(4)] },
    });
    h.ok({ type: "commit", path: "/late", content: chunked([3, 10], [4, 10]) });
    expect(refs(h)).toEqual({ 3: 2, 4: 1 });
  });

  it("tombstones survive a snapshot and count in the state hash", () => {
    const h = new Harness();
    h.ok({ type: "collectGarbage", chunkIds: [chunkId(7)], beforeMs: h.nowMs + 1 });
    const restored = FsState.restore(structuredClone(h.fs.snapshot()), DEFAULT_OPTS);
    expect(restored.tombstones().map((t) => t.chunkId)).toEqual([chunkId(7)]);
    expect(restored.stateHash()).toBe(h.fs.stateHash());
  });

  it("forgetTombstones drops exactly those condemned before its cutoff, on a restored replica too", () => {
    const h = new Harness();
    h.ok({ type: "collectGarbage", chunkIds: [chunkId(8), chunkId(7)], beforeMs: h.nowMs + 1 });
    const first = h.nowMs;
    h.advance(1000);
    h.ok({ type: "collectGarbage", chunkIds: [chunkId(6)], beforeMs: h.nowMs + 1 });
    const restored = FsState.restore(structuredClone(h.fs.snapshot()), DEFAULT_OPTS);
    const forget = { type: "forgetTombstones", beforeMs: first + 1 } as const;
    expect(h.apply(forget)).toEqual({ ok: true, value: { forgotten: 2 }, changes: [] });
    expect(h.fs.tombstones().map((t) => t.chunkId)).toEqual([chunkId(6)]);
    // The same entry on a replica restored from a snapshot forgets the same set.
    restored.apply({ index: h.index, timestampMs: h.nowMs, command: forget });
    expect(restored.stateHash()).toBe(h.fs.stateHash());
    // A forgotten chunk is an unknown one again: a commit naming it is not refused as CHUNK_GONE.
    h.ok({ type: "commit", path: "/again", content: chunked([7, 10]) });
    expect(h.send({ type: "commit", path: "/gone", content: chunked([6, 10]) })).toMatchObject({
      ok: false,
      error: { code: "CHUNK_GONE" },
    });
  });

  it("abandonChunks puts unreferenced chunks in the garbage list, keeping an older time", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    const r = h.apply({ type: "abandonChunks", chunkIds: [chunkId(1), chunkId(2)] });
    expect(r).toEqual({ ok: true, value: { added: [chunkId(2)] }, changes: [] });
    const t = h.nowMs;
    h.advance(50);
    h.ok({ type: "abandonChunks", chunkIds: [chunkId(2)] });
    expect(garbage(h)).toEqual([[2, t]]);
    // A later commit that uses it after all revives it.
    h.ok({ type: "commit", path: "/g", content: chunked([2, 10]) });
    expect(garbage(h)).toEqual([]);
  });

  it("validates chunk ids", () => {
    const h = new Harness();
    expect(h.apply({ type: "abandonChunks", chunkIds: ["nothex"] })).toMatchObject({
      error: { code: "BAD_REQUEST" },
    });
    expect(h.apply({ type: "collectGarbage", chunkIds: [], beforeMs: -1 })).toMatchObject({
      error: { code: "BAD_REQUEST" },
    });
  });

  it("inline content references no chunks; counts match a recount", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "commit", path: "/f", content: inline("small") });
    expect(refs(h)).toEqual({ 1: 1 });
    expect(recountChunks(h.fs)).toEqual(h.fs.referencedChunks());
  });
});

describe("data-node registry", () => {
  const node = {
    type: "registerDataNode",
    id: "dn1",
    url: "http://127.0.0.1:9001",
    zone: "z1",
    capacityBytes: 1000,
  };

  it("upserts, keeping the registration time, and lists sorted by id", () => {
    const h = new Harness();
    expect(h.apply({ ...node, id: "dn2" }).ok).toBe(true);
    expect(h.apply(node)).toEqual({ ok: true, value: { isNew: true }, changes: [] });
    const t = h.nowMs;
    h.advance(10);
    expect(h.apply({ ...node, capacityBytes: 2000 })).toMatchObject({ value: { isNew: false } });
    expect(h.fs.dataNodes().map((n) => n.id)).toEqual(["dn1", "dn2"]);
    expect(h.fs.dataNodes()[0]).toEqual({
      ...node,
      type: undefined,
      capacityBytes: 2000,
      registeredAtMs: t,
      updatedAtMs: t + 10,
    });
  });

  it("removes, NOT_FOUND for an unknown node, and validates", () => {
    const h = new Harness({ maxDataNodes: 1 });
    h.apply(node);
    expect(h.apply({ ...node, id: "dn9" })).toMatchObject({ error: { code: "LIMIT_EXCEEDED" } });
    expect(h.apply({ type: "removeDataNode", id: "dn1" }).ok).toBe(true);
    expect(h.apply({ type: "removeDataNode", id: "dn1" })).toMatchObject({ error: { code: "NOT_FOUND" } });
    expect(h.apply({ ...node, capacityBytes: -1 })).toMatchObject({ error: { code: "BAD_REQUEST" } });
    expect(h.apply({ ...node, url: "" })).toMatchObject({ error: { code: "BAD_REQUEST" } });
  });

  it("accepts an optional session for exactly-once", () => {
    const h = new Harness();
    const s = h.session;
    const cmd = { type: "removeDataNode", id: "dn1", session: h.ref(s, 1, 0) };
    h.apply(node);
    expect(h.apply(cmd).ok).toBe(true);
    expect(h.apply(cmd)).toEqual({ ok: true, value: { removed: true }, changes: [] });
  });
});
