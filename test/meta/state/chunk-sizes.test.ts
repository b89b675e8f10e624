import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness } from "./helpers.js";

/** The size the state would sign a repair ticket with. */
const sizeOf = (h: Harness, n: number) => h.fs.chunkSize(chunkId(n));

describe("a chunk's size is fixed by the first commit that references it", () => {
  it("a later commit naming the chunk with another size is refused and changes nothing", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/mine", content: chunked([1, 100]) });
    const e = h.err({ type: "commit", path: "/theirs", content: chunked([1, 5]) });
    expect(e.code).toBe("BAD_REQUEST");
    expect(e).toMatchObject({ chunkId: chunkId(1), sizeBytes: 5, recordedSizeBytes: 100 });
    expect(sizeOf(h, 1)).toBe(100);
    expect(() => h.fs.stat("/theirs")).toThrow();
    expect(h.fs.referencedChunks().get(chunkId(1))).toBe(1);
    // The same size is fine.
    h.ok({ type: "commit", path: "/theirs", content: chunked([1, 100]) });
  });

  it("one commit naming a chunk twice with two sizes is refused", () => {
    const h = new Harness();
    const e = h.err({ type: "commit", path: "/f", content: chunked([1, 10], [1, 11]) });
    expect(e.code).toBe("BAD_REQUEST");
    expect(sizeOf(h, 1)).toBeUndefined();
  });

  it("a transaction with a conflicting commit applies none of its operations", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/mine", content: chunked([1, 100]) });
    const e = h.err({
      type: "txn",
      conditions: [],
      ops: [
        { type: "commit", path: "/a", content: chunked([2, 7]) },
        { type: "commit", path: "/b", content: chunked([1, 1]) },
      ],
    });
    expect(e.message).toMatch(/fixed by its first commit/);
    expect(() => h.fs.stat("/a")).toThrow();
    // The refused txn's first commit fixed nothing: chunk 2 may still take any size.
    expect(sizeOf(h, 2)).toBeUndefined();
    h.ok({ type: "commit", path: "/a", content: chunked([2, 8]) });
    expect(sizeOf(h, 2)).toBe(8);
  });

  it("the size stays fixed while the chunk is garbage, also across a snapshot", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 100]) });
    h.ok({ type: "delete", path: "/f" });
    expect(h.fs.garbageChunks().map((g) => g.chunkId)).toEqual([chunkId(1)]);
    const restored = FsState.restore(h.fs.snapshot(), DEFAULT_OPTS);
    expect(restored.stateHash()).toBe(h.fs.stateHash());
    expect(restored.chunkSize(chunkId(1))).toBe(100);
    // The restored replica answers the same entry the same way: refused.
    const entry = {
      index: h.index + 1,
      timestampMs: h.nowMs,
      command: {
        type: "commit",
        path: "/g",
        content: chunked([1, 3]),
        session: { id: h.session, seq: 99, ackedSeq: 0 },
      },
    } as Parameters<FsState["apply"]>[0];
    const live = h.fs.apply(entry);
    expect(live.ok).toBe(false);
    expect(restored.apply(entry)).toEqual(live);
    expect(restored.stateHash()).toBe(h.fs.stateHash());
  });

  it("once collected, the chunk may be stored and committed again with any size", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 100]) });
    h.ok({ type: "delete", path: "/f" });
    h.advance(10);
    h.apply({ type: "collectGarbage", chunkIds: [chunkId(1)], beforeMs: h.nowMs });
    h.ok({ type: "reviveChunks", chunkIds: [chunkId(1)] });
    expect(sizeOf(h, 1)).toBeUndefined();
  });

  it("property: whatever the commits, every referenced chunk keeps the size of its first commit", () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            path: fc.constantFrom("/a", "/b", "/c"),
            ids: fc.array(fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })), {
              minLength: 1,
              maxLength: 4,
            }),
          }),
          { maxLength: 12 },
        ),
        (commits) => {
          const h = new Harness({ versionsRetained: 2 });
          const first = new Map<number, number>();
          for (const c of commits) {
            const r = h.send({ type: "commit", path: c.path, content: chunked(...c.ids) });
            const clash = c.ids.some(([id, size], i) => {
              const known = first.get(id) ?? c.ids.slice(0, i).find(([j]) => j === id)?.[1];
              return known !== undefined && known !== size;
            });
            expect(r.ok).toBe(!clash);
            if (r.ok) for (const [id, size] of c.ids) if (!first.has(id)) first.set(id, size);
          }
          for (const [id, size] of first) expect(sizeOf(h, id)).toBe(size);
        },
      ),
    );
  });
});
