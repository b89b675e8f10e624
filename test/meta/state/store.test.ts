/**
 * The state over its store: what each command writes and reads. A directory rename writes O(1) keys,
 * a failed command writes nothing but the meta record, apply never scans, and a listing page reads
 * only the page — whatever the namespace's size.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { referenced, tombstoneEntries } from "../../../src/meta/state/state-dump.js";
import type { KeyRange, WriteSet } from "../../../src/meta/state/store.js";
import { materialize, PROP_OPTS, stepsArb } from "./arbitraries.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness, inline } from "./helpers.js";

/** Records each commit's write set and how many records scans yield; can forbid scans. */
class CountingStore extends MemoryStore {
  commits: WriteSet[] = [];
  scanned = 0;
  scansAllowed = true;

  override commit(writes: WriteSet, appliedIndex: number): void {
    this.commits.push(new Map(writes));
    super.commit(writes, appliedIndex);
  }

  override *scanSync(range: KeyRange): Generator<[string, Uint8Array]> {
    if (!this.scansAllowed) throw new Error("apply scanned the store");
    for (const kv of super.scanSync(range)) {
      this.scanned++;
      yield kv;
    }
  }

  lastWrites(): string[] {
    return [...(this.commits[this.commits.length - 1]?.keys() ?? [])].sort();
  }
}

function harnessOn(store: CountingStore): Harness {
  const h = new Harness();
  h.fs = new FsState(DEFAULT_OPTS, store);
  return h;
}

describe("the state over its store", () => {
  it("a directory rename writes a constant number of keys, whatever the subtree holds", () => {
    const written = (files: number): number => {
      const store = new CountingStore();
      const h = harnessOn(store);
      for (let i = 0; i < files; i++)
        h.ok({ type: "commit", path: `/d/sub/f${i}`, content: inline("x"), createParents: true });
      h.ok({ type: "rename", from: "/d", to: "/e" });
      return store.lastWrites().length;
    };
    const small = written(1);
    expect(written(300)).toBe(small);
    expect(small).toBeLessThanOrEqual(6);
  });

  it("a failed command writes nothing but the meta record (its overlay is dropped)", () => {
    const store = new CountingStore();
    const h = harnessOn(store);
    h.ok({ type: "commit", path: "/a", content: inline("1") });
    // The txn's first op succeeds and writes; the second fails: nothing of the first may stay.
    h.err({
      type: "txn",
      conditions: [],
      ops: [
        { type: "commit", path: "/b/c", content: inline("2"), createParents: true },
        { type: "mkdir", path: "/a" },
      ],
    });
    expect(store.lastWrites()).toEqual(["m"]);
    expect(() => h.fs.stat("/b")).toThrow(/does not exist/);
    h.fs.checkInvariants();
  });

  it("apply never scans the store (property: any command stream)", () => {
    fc.assert(
      fc.property(stepsArb({ maxLength: 40 }), (steps) => {
        const { entries } = materialize(steps);
        const store = new CountingStore();
        const fs = new FsState(PROP_OPTS, store);
        store.scansAllowed = false;
        for (const e of entries) fs.apply(e);
        store.scansAllowed = true;
        fs.checkInvariants();
      }),
      { numRuns: 60 },
    );
  });

  it("a listing page reads the page, not the directory", () => {
    const store = new CountingStore();
    const h = harnessOn(store);
    const names = Array.from({ length: 500 }, (_, i) => `f${String(i).padStart(3, "0")}`);
    for (const n of names) h.ok({ type: "commit", path: `/d/${n}`, content: inline(n), createParents: true });
    store.scanned = 0;
    const page = h.fs.list("/d", { startAfter: "f249", limit: 10 });
    expect(page.map((e) => e.name)).toEqual(names.slice(250, 260));
    expect(store.scanned).toBeLessThanOrEqual(10);
  });

  it("reopening the same store resumes at its applied index with the same namespace", () => {
    const store = new CountingStore();
    const h = harnessOn(store);
    h.ok({ type: "commit", path: "/x/y", content: inline("v1"), createParents: true });
    h.ok({ type: "commit", path: "/x/y", content: inline("v2") });
    const again = new FsState(DEFAULT_OPTS, store);
    expect(again.lastAppliedIndex).toBe(h.fs.lastAppliedIndex);
    expect(again.lastTimestampMs).toBe(h.fs.lastTimestampMs);
    expect(again.snapshot().nodes).toEqual(h.fs.snapshot().nodes);
  });
});

describe("the in-memory store", () => {
  it("scans in key order whatever the interleaving of writes, deletes and scans (property)", () => {
    // Keys below "a" too ("A", " "): a stray entry at the list's start would end a scan early there.
    const key = fc.string({
      unit: fc.constantFrom(" ", "A", "a", "b", "c", "\uffee", "\ud83d\ude00"),
      maxLength: 3,
    });
    const step = fc.oneof(
      fc.record({ put: fc.array(key, { maxLength: 4 }), del: fc.array(key, { maxLength: 3 }) }),
      fc.record({ gte: key, lt: key }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 30 }), (steps) => {
        const store = new MemoryStore();
        const model = new Map<string, number>();
        steps.forEach((s, n) => {
          if ("put" in s) {
            const w: WriteSet = new Map();
            for (const k of s.put) w.set(k, new Uint8Array([n]));
            for (const k of s.del) w.set(k, null);
            for (const [k, v] of w) {
              if (v === null) model.delete(k);
              else model.set(k, n);
            }
            store.commit(w, n);
          } else {
            const want = [...model.keys()].filter((k) => k >= s.gte && k < s.lt).sort();
            expect([...store.scanSync(s)].map(([k]) => k)).toEqual(want);
          }
        });
      }),
      { numRuns: 300 },
    );
  });

  it("the live chunk maps the leader reads stay equal to a fresh scan after every entry (property)", () => {
    fc.assert(
      fc.property(stepsArb({ maxLength: 40 }), (steps) => {
        const { entries } = materialize(steps);
        const store = new MemoryStore();
        const fs = new FsState(PROP_OPTS, store);
        const refs = fs.referencedChunks();
        const tombs = fs.tombstoneMap();
        for (const e of entries) {
          fs.apply(e);
          expect(new Map(refs)).toEqual(referenced(store));
          expect(new Map(tombs)).toEqual(new Map(tombstoneEntries(store)));
        }
      }),
      { numRuns: 60 },
    );
  });

  it("the live chunk maps follow drops to zero, collection, revival and forgetting", () => {
    const store = new MemoryStore();
    const h = new Harness({ versionsRetained: 1 });
    h.fs = new FsState({ ...DEFAULT_OPTS, versionsRetained: 1 }, store);
    const refs = h.fs.referencedChunks();
    const tombs = h.fs.tombstoneMap();
    const same = () => {
      expect(new Map(refs)).toEqual(referenced(store));
      expect(new Map(tombs)).toEqual(new Map(tombstoneEntries(store)));
    };
    h.ok({ type: "commit", path: "/a", content: chunked([1, 10], [2, 10]) });
    same();
    h.ok({ type: "commit", path: "/a", content: chunked([2, 10]) });
    same();
    expect(refs.has(chunkId(1))).toBe(false);
    h.ok({ type: "delete", path: "/a" });
    same();
    h.advance(10);
    h.apply({ type: "collectGarbage", chunkIds: [chunkId(1), chunkId(2)], beforeMs: h.nowMs });
    expect(tombs.size).toBe(2);
    same();
    h.apply({ type: "reviveChunks", chunkIds: [chunkId(1)] });
    same();
    h.advance(10);
    h.apply({ type: "forgetTombstones", beforeMs: h.nowMs });
    expect(tombs.size).toBe(0);
    same();
  });
});
