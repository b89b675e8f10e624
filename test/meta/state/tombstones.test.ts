/**
 * The tombstone list (chunks.ts): condemned chunks are linked in time order so `forgetTombstones` walks
 * from the oldest; `revive` unlinks one from anywhere in the list. A model of the set, driven by any
 * mix of collect, revive and forget, must agree with the state on every answer, also on a replica
 * restored from a snapshot halfway. Written for mutation testing (bench/RESULTS.md).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChunkRefs } from "../../../src/meta/state/chunks.js";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { encode, META_KEY, type MetaRec, tombstoneKey } from "../../../src/meta/state/records.js";
import { Overlay } from "../../../src/meta/state/store.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness } from "./helpers.js";

type Step =
  | { kind: "collect"; ids: number[]; advance: number }
  | { kind: "revive"; ids: number[]; advance: number }
  | { kind: "forget"; back: number; advance: number };

const ids = fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 4 });
const advance = fc.integer({ min: 0, max: 3 });
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("collect" as const), ids, advance }),
  fc.record({ kind: fc.constant("revive" as const), ids, advance }),
  fc.record({ kind: fc.constant("forget" as const), back: fc.integer({ min: 0, max: 8 }), advance }),
);

describe("tombstones", () => {
  it("collect, revive and forget agree with a model of the set, on a restored replica too (property)", () => {
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), fc.nat(30), (steps, restoreAt) => {
        const h = new Harness();
        // Chunk 8 stays referenced: it is never condemned, whatever the leader asks.
        h.ok({ type: "commit", path: "/keep", content: chunked([8, 10]) });
        const model = new Map<number, number>();
        steps.forEach((s, i) => {
          if (i === restoreAt) h.fs = FsState.restore(structuredClone(h.fs.snapshot()), DEFAULT_OPTS);
          h.advance(s.advance);
          if (s.kind === "collect") {
            const want: number[] = [];
            for (const id of s.ids) {
              if (id === 8 || model.has(id)) continue;
              model.set(id, h.nowMs);
              want.push(id);
            }
            const r = h.apply({
              type: "collectGarbage",
              chunkIds: s.ids.map(chunkId),
              beforeMs: h.nowMs + 1,
            });
            expect(r).toEqual({ ok: true, value: { removed: want.map(chunkId) }, changes: [] });
          } else if (s.kind === "revive") {
            const want = s.ids.filter((id) => model.delete(id));
            const r = h.apply({ type: "reviveChunks", chunkIds: s.ids.map(chunkId) });
            expect(r).toMatchObject({ ok: true, value: { revived: want.map(chunkId) } });
          } else {
            const beforeMs = Math.max(0, h.nowMs - s.back);
            let want = 0;
            for (const [id, since] of model)
              if (since < beforeMs) {
                model.delete(id);
                want++;
              }
            const r = h.apply({ type: "forgetTombstones", beforeMs });
            expect(r).toEqual({ ok: true, value: { forgotten: want }, changes: [] });
          }
          const listed = h.fs.tombstones().map((t) => [parseInt(t.chunkId, 16), t.sinceMs]);
          const expected = [...model].sort(([a, x], [b, y]) => x - y || a - b);
          expect(listed).toEqual(expected);
          expect((h.fs.snapshot().tombstones ?? []).map((t) => [parseInt(t.chunkId, 16), t.sinceMs])).toEqual(
            expected,
          );
        });
        h.fs.checkInvariants();
        // Forgetting everything walks the whole list: a broken link would lose or keep some.
        const all = h.apply({ type: "forgetTombstones", beforeMs: h.nowMs + 1 });
        expect(all).toEqual({ ok: true, value: { forgotten: model.size }, changes: [] });
        expect(h.fs.tombstones()).toEqual([]);
      }),
    );
  });

  it("a refused commit names each collected chunk once, in the order of its list", () => {
    const h = new Harness();
    h.ok({ type: "collectGarbage", chunkIds: [chunkId(2), chunkId(1)], beforeMs: h.nowMs + 1 });
    const r = h.send({ type: "commit", path: "/f", content: chunked([1, 10], [3, 10], [2, 10], [1, 10]) });
    expect(r).toMatchObject({
      ok: false,
      error: {
        code: "CHUNK_GONE",
        message: "2 chunk(s) of /f were garbage-collected before this commit; store them again",
        chunkIds: [chunkId(1), chunkId(2)],
      },
    });
  });

  it("garbage listed exactly at the cutoff is not collected; one millisecond older is", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "delete", path: "/f" });
    const since = h.nowMs;
    const r = h.apply({ type: "collectGarbage", chunkIds: [chunkId(1)], beforeMs: since });
    expect(r).toEqual({ ok: true, value: { removed: [] }, changes: [] });
    expect(h.fs.garbageChunks().map((g) => g.sinceMs)).toEqual([since]);
    const r2 = h.apply({ type: "collectGarbage", chunkIds: [chunkId(1)], beforeMs: since + 1 });
    expect(r2).toEqual({ ok: true, value: { removed: [chunkId(1)] }, changes: [] });
  });

  it("garbage restored from a snapshot without its size may be committed again with any size", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "delete", path: "/f" });
    const snap = structuredClone(h.fs.snapshot());
    for (const g of snap.garbage) delete g.sizeBytes;
    h.fs = FsState.restore(snap, DEFAULT_OPTS);
    expect(h.fs.chunkSize(chunkId(1))).toBeUndefined();
    h.ok({ type: "commit", path: "/g", content: chunked([1, 7]) });
    expect(h.fs.chunkSize(chunkId(1))).toBe(7);
    expect(h.fs.garbageChunks()).toEqual([]);
  });
});

// The callers (commit, drops of retained versions) rule these out first; the guards keep a bug in a
// caller from corrupting the counts silently.
describe("chunk reference guards", () => {
  const fresh = () => new ChunkRefs(new Overlay(new MemoryStore()));
  const ref = (n: number, sizeBytes: number) => ({ id: chunkId(n), sizeBytes });

  it("refuse to reference a collected chunk or to change a chunk's size", () => {
    const tx = new Overlay(new MemoryStore());
    tx.put(tombstoneKey(chunkId(1)), encode({ s: 0, p: null, x: null }));
    const c = new ChunkRefs(tx);
    expect(() => c.addRefs([ref(1, 10)])).toThrow(`chunk ${chunkId(1)} is collected`);
    c.addRefs([ref(2, 10)]);
    expect(() => c.addRefs([ref(2, 11)])).toThrow(`chunk ${chunkId(2)} keeps its first size`);
    expect(c.refCount(chunkId(2))).toBe(1);
  });

  it("refuse to drop a reference that is not there", () => {
    const c = fresh();
    expect(() => c.dropRefs([ref(3, 10)], 0)).toThrow(`chunk ${chunkId(3)} was referenced`);
    c.addRefs([ref(3, 10)]);
    c.dropRefs([ref(3, 10)], 5);
    expect(c.garbageSince(chunkId(3))).toBe(5);
    expect(() => c.dropRefs([ref(3, 10)], 6)).toThrow(`chunk ${chunkId(3)} was referenced`);
    expect(c.garbageSince(chunkId(3))).toBe(5);
  });
});

// A store whose tombstone links are broken (a bug, or bytes damaged on disk) fails with a message
// that names what is wrong instead of walking off the list.
describe("a broken tombstone list", () => {
  const ts = (s: number, p: number | null, x: number | null) =>
    encode({ s, p: p === null ? null : chunkId(p), x: x === null ? null : chunkId(x) });
  const withMeta = (th: number | null, tt: number | null): Overlay => {
    const tx = new Overlay(new MemoryStore());
    const meta: MetaRec = {
      a: 0,
      ts: 0,
      ni: 2,
      th: th === null ? null : chunkId(th),
      tt: tt === null ? null : chunkId(tt),
    };
    tx.put(META_KEY, encode(meta));
    return tx;
  };

  it("is refused without a meta record", () => {
    const c = new ChunkRefs(new Overlay(new MemoryStore()));
    expect(() => c.forgetTombstones(10)).toThrow("the meta record exists");
  });

  it("names a missing head, a missing neighbour, and an append out of time order", () => {
    expect(() => new ChunkRefs(withMeta(1, 1)).forgetTombstones(10)).toThrow("linked tombstones exist");

    const prevGone = withMeta(1, 2);
    prevGone.put(tombstoneKey(chunkId(2)), ts(0, 1, null));
    expect(() => new ChunkRefs(prevGone).revive([chunkId(2)])).toThrow("the previous tombstone exists");

    const nextGone = withMeta(1, 2);
    nextGone.put(tombstoneKey(chunkId(1)), ts(0, null, 2));
    expect(() => new ChunkRefs(nextGone).revive([chunkId(1)])).toThrow("the next tombstone exists");

    const late = withMeta(1, 1);
    late.put(tombstoneKey(chunkId(1)), ts(10, null, null));
    expect(() => new ChunkRefs(late).appendTombstone(chunkId(2), 9)).toThrow(
      "tombstones are appended in time order",
    );
    new ChunkRefs(late).appendTombstone(chunkId(2), 10);
    expect(() => new ChunkRefs(withMeta(1, 1)).appendTombstone(chunkId(2), 10)).toThrow(
      "tombstones are appended in time order",
    );
  });
});
