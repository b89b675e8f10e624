/**
 * The snapshot dump's exact shape (issue 13, mutation testing of state-dump.ts). A snapshot is hashed
 * and compared between replicas and restored into new ones, so what it holds is exact: nodes by path
 * whatever order names were linked in (and the same after a restore), each attribute field only where
 * the record has it and no `attrs` at all for a record without any (an old record), no undefined
 * fields (`topVersion`, a garbage chunk's unknown size), and the refusals of broken snapshots and
 * broken records with their reasons. And `referenced` (the refcount recount) reads the chunk rows only.
 */
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { decode, type EntryRec, encode, entryKey, type InodeRec } from "../../../src/meta/state/records.js";
import { referenced } from "../../../src/meta/state/state-dump.js";
import type { KeyRange } from "../../../src/meta/state/store.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness, inline } from "./helpers.js";

const ALL: KeyRange = { gte: "", lt: "\uffff" };

/** The inode key and record of `path`'s node, found by its creation time (unique in these tests). */
function inodeOf(h: Harness, createdAtMs: number): [string, InodeRec] {
  for (const [k, v] of (h.fs.store as MemoryStore).scanSync({ gte: "i", lt: "i\uffff" })) {
    const rec = decode<InodeRec>(v);
    if (rec.c === createdAtMs) return [k, rec];
  }
  throw new Error(`no inode created at ${createdAtMs}`);
}

describe("the snapshot dump", () => {
  it("lists nodes by path whatever order they were linked in, and the same after a restore", () => {
    const h = new Harness();
    for (const p of ["/b", "/a", "/c"]) h.ok({ type: "mkdir", path: p });
    for (const p of ["/a/z", "/a/m", "/b/y", "/c/x"]) h.ok({ type: "commit", path: p, content: inline("x") });
    const paths = ["/", "/a", "/a/m", "/a/z", "/b", "/b/y", "/c", "/c/x"];
    expect(h.fs.snapshot().nodes.map((n) => n.path)).toEqual(paths);
    const restored = FsState.restore(h.fs.snapshot(), DEFAULT_OPTS);
    expect(restored.snapshot().nodes.map((n) => n.path)).toEqual(paths);
    expect(restored.snapshot()).toStrictEqual(h.fs.snapshot());
  });

  it("holds each attribute field only where the record has it, and no attrs for a record without any", () => {
    const h = new Harness();
    h.advance(1);
    h.ok({ type: "commit", path: "/m", content: inline("x") });
    h.advance(1);
    h.ok({ type: "commit", path: "/u", content: inline("x") });
    h.advance(1);
    h.ok({ type: "commit", path: "/g", content: inline("x") });
    h.advance(1);
    h.ok({ type: "commit", path: "/old", content: inline("x") });
    h.ok({ type: "setAttrs", path: "/m", mode: 0o600 });
    h.ok({ type: "setAttrs", path: "/u", uid: 7 });
    h.ok({ type: "setAttrs", path: "/g", gid: 8 });
    // A record written before attributes existed: no md, u, g or ct.
    const [key, rec] = inodeOf(h, 1004);
    const { md: _md, u: _u, g: _g, ct: _ct, ...old } = rec;
    h.fs.store.commit(new Map([[key, encode(old)]]), h.index);
    const attrs = Object.fromEntries(h.fs.snapshot().nodes.map((n) => [n.path, n.attrs]));
    expect(attrs).toStrictEqual({
      "/": { ct: 1004 },
      "/g": { g: 8, ct: 1004 },
      "/m": { md: 0o600, ct: 1004 },
      "/old": undefined,
      "/u": { u: 7, ct: 1004 },
    });
    expect(Object.keys(h.fs.snapshot().nodes.find((n) => n.path === "/old") ?? {})).not.toContain("attrs");
  });

  it("has no undefined fields: no topVersion unless recorded, no size for a chunk never committed", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "abandonChunks", chunkIds: [chunkId(2)] });
    const snap = h.fs.snapshot();
    expect(Object.keys(snap.nodes.find((n) => n.path === "/f") ?? {})).not.toContain("topVersion");
    const garbage = Object.fromEntries(snap.garbage.map((g) => [g.chunkId, Object.keys(g).sort()]));
    expect(garbage).toEqual({ [chunkId(2)]: ["chunkId", "sinceMs"] });
  });

  it("refuses a symbolic link record without its target", () => {
    const h = new Harness();
    h.advance(1);
    h.ok({ type: "symlink", path: "/l", target: "/x" });
    const [key, rec] = inodeOf(h, 1001);
    const { l: _l, ...broken } = rec;
    h.fs.store.commit(new Map([[key, encode(broken)]]), h.index);
    expect(() => h.fs.snapshot()).toThrow("a symbolic link has its target");
  });
});

describe("restoring a snapshot", () => {
  it("refuses one without nodes, and a link whose target is not a string, with the reason", () => {
    const h = new Harness();
    h.ok({ type: "symlink", path: "/l", target: "/x" });
    const snap = h.fs.snapshot();
    expect(() => FsState.restore({ ...snap, nodes: [] }, DEFAULT_OPTS)).toThrow(
      "snapshot: the root comes first",
    );
    const nodes = snap.nodes.map((n) => (n.path === "/l" ? { ...n, target: ["/x"] } : n));
    expect(() => FsState.restore({ ...snap, nodes } as typeof snap, DEFAULT_OPTS)).toThrow(
      "snapshot: /l has a target",
    );
  });
});

describe("the store check (checkInvariants)", () => {
  it("catches a directory whose link list is shorter than its entries, and a link target that is no string", () => {
    const h = new Harness();
    h.advance(1);
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "commit", path: "/d/a", content: inline("x") });
    h.ok({ type: "commit", path: "/d/b", content: inline("x") });
    const [dirKey, dir] = inodeOf(h, 1001);
    const dirId = Number.parseInt(dirKey.slice(1), 16);
    const store = h.fs.store as MemoryStore;
    const head = entryKey(dirId, dir.h as string);
    const first = decode<EntryRec>(store.get(head) as Uint8Array);
    // The count and the entries stay; the list ends after its first name.
    store.commit(new Map([[head, encode({ ...first, x: null })]]), h.index);
    expect(() => h.fs.checkInvariants()).toThrow(`directory ${dirId}: child count`);

    const g = new Harness();
    g.advance(1);
    g.ok({ type: "symlink", path: "/l", target: "/x" });
    const [key, rec] = inodeOf(g, 1001);
    g.fs.store.commit(new Map([[key, encode({ ...rec, l: ["/x"] })]]), g.index);
    expect(() => g.fs.checkInvariants()).toThrow(/symbolic link \d+ has a target/);
  });
});

describe("referenced (the refcount recount)", () => {
  it("reads the chunk rows only", () => {
    const h = new Harness();
    for (let i = 0; i < 50; i++) h.ok({ type: "commit", path: `/f${i}`, content: inline(`${i}`) });
    h.ok({ type: "commit", path: "/c", content: chunked([1, 10], [2, 10]) });
    let rows = 0;
    const store = new MemoryStore();
    store.commit(new Map((h.fs.store as MemoryStore).scanSync(ALL)), h.index);
    const counting = Object.assign(Object.create(store) as MemoryStore, {
      *scanSync(range: KeyRange) {
        for (const row of store.scanSync(range)) {
          rows++;
          yield row;
        }
      },
    });
    expect(referenced(counting)).toEqual(
      new Map([
        [chunkId(1), 1],
        [chunkId(2), 1],
      ]),
    );
    expect(rows).toBe(2);
  });
});
