/**
 * The state over its store: what each command writes and reads. A directory rename writes O(1) keys,
 * a failed command writes nothing but the meta record, apply never scans, and a listing page reads
 * only the page — whatever the namespace's size.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import type { KeyRange, WriteSet } from "../../../src/meta/state/store.js";
import { materialize, PROP_OPTS, stepsArb } from "./arbitraries.js";
import { DEFAULT_OPTS, Harness, inline } from "./helpers.js";

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
