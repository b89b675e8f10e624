/**
 * What the usage recount of a pre-quota store commits, and when it runs (issue 13, mutation testing of
 * usage-recount.ts): exactly the stale counters' deletions, one counter per non-empty top-level tree
 * and the meta record marked, in one commit at the store's own applied index; nothing at all for a
 * store already marked or without a meta record; and the synchronous recount (FsState's constructor)
 * leaves a store that scans only asynchronously to its opener's asynchronous one.
 */
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { decode, encode, META_KEY, type MetaRec } from "../../../src/meta/state/records.js";
import type { KeyRange, StateStore, WriteSet } from "../../../src/meta/state/store.js";
import { recountUsageIfMissing, recountUsageIfMissingSync } from "../../../src/meta/state/usage-recount.js";
import { Harness, inline } from "./helpers.js";
import { stripUsage } from "./pre-quota.js";

/** An in-memory store that records each commit. */
class RecordingStore extends MemoryStore {
  commits: [WriteSet, number][] = [];
  override commit(writes: WriteSet, appliedIndex: number): void {
    this.commits.push([new Map(writes), appliedIndex]);
    super.commit(writes, appliedIndex);
  }
}

/** The same rows behind only an asynchronous scan, as a LevelDB store. */
function asyncOnly(inner: RecordingStore): StateStore {
  return {
    get: (k: string) => inner.get(k),
    commit: (w: WriteSet, i: number) => inner.commit(w, i),
    scan: (range: KeyRange) => inner.scan(range),
  };
}

/** /a holds two files (3 and 4 bytes) below a subdirectory, /b one of 5; /top is a top-level file; a stale counter for /gone. */
async function preQuotaStore(): Promise<{ store: RecordingStore; index: number }> {
  const h = new Harness();
  h.ok({ type: "mkdir", path: "/a" });
  h.ok({ type: "mkdir", path: "/a/x" });
  h.ok({ type: "commit", path: "/a/x/f", content: inline("abc") });
  h.ok({ type: "commit", path: "/a/g", content: inline("abcd") });
  h.ok({ type: "mkdir", path: "/b" });
  h.ok({ type: "commit", path: "/b/f", content: inline("abcde") });
  h.ok({ type: "mkdir", path: "/empty" });
  h.ok({ type: "commit", path: "/top", content: inline("xy") });
  const store = new RecordingStore();
  store.commit(new Map((h.fs.store as MemoryStore).scanSync({ gte: "", lt: "\uffff" })), h.index);
  await stripUsage(store);
  store.commit(new Map([["ugone", encode({ b: 9, f: 9 })]]), h.index);
  store.commits = [];
  return { store, index: h.index };
}

function expectRecountCommit(store: RecordingStore, index: number): void {
  expect(store.commits).toHaveLength(1);
  const [writes, at] = store.commits[0] as [WriteSet, number];
  expect(at).toBe(index);
  expect([...writes.keys()].sort()).toEqual(["m", "ua", "ub", "ugone"]);
  expect(writes.get("ugone")).toBeNull();
  expect(decode(writes.get("ua") as Uint8Array)).toEqual({ b: 7, f: 3 });
  expect(decode(writes.get("ub") as Uint8Array)).toEqual({ b: 5, f: 1 });
  expect(decode<MetaRec>(writes.get(META_KEY) as Uint8Array).uq).toBe(1);
}

describe("the usage recount's commit", () => {
  it("synchronous: the stale counter dropped, a counter per non-empty tree, the mark, at the applied index; once", async () => {
    const { store, index } = await preQuotaStore();
    expect(recountUsageIfMissingSync(store)).toBe(true);
    expectRecountCommit(store, index);
    store.commits = [];
    expect(recountUsageIfMissingSync(store)).toBe(false);
    expect(store.commits).toEqual([]);
  });

  it("asynchronous: the same commit; and the synchronous one leaves such a store alone", async () => {
    const { store, index } = await preQuotaStore();
    const leveldbLike = asyncOnly(store);
    expect(recountUsageIfMissingSync(leveldbLike)).toBe(false);
    expect(store.commits).toEqual([]);
    expect(await recountUsageIfMissing(leveldbLike)).toBe(true);
    expectRecountCommit(store, index);
    store.commits = [];
    expect(await recountUsageIfMissing(leveldbLike)).toBe(false);
    expect(store.commits).toEqual([]);
  });

  it("a store without a meta record has nothing to count", async () => {
    const store = new RecordingStore();
    expect(recountUsageIfMissingSync(store)).toBe(false);
    expect(await recountUsageIfMissing(store)).toBe(false);
    expect(store.commits).toEqual([]);
  });
});
