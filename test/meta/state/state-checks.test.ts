/**
 * The two checks that guard a replica's whole state (issue 13, mutation testing of state-dump.ts):
 * `checkInvariants`, the oracle every property test of this folder ends with, and `FsState.restore`,
 * which a follower runs on a snapshot sent over the network. A check that cannot fail proves nothing,
 * so each case here breaks one record (through the store interface, as damage on disk would) or one
 * field of a snapshot, and requires the check to stop with the broken invariant named.
 */
import { describe, expect, it } from "vitest";
import { type FsSnapshot, FsState } from "../../../src/meta/state/index.js";
import {
  chunkKey,
  decode,
  type EntryRec,
  encode,
  entryKey,
  garbageKey,
  type InodeRec,
  inodeKey,
  META_KEY,
  type MetaRec,
  ROOT_INODE,
  tombstoneKey,
  versionKey,
} from "../../../src/meta/state/records.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness } from "./helpers.js";

/**
 * /d (a directory), /d/f (a file with versions 1 and 2, holding chunks 1 and 2), /l (a link to "t"),
 * chunk 3 as garbage, and chunks 4 then 5 collected (two tombstones, in time order).
 */
function world(): Harness {
  const h = new Harness();
  h.ok({ type: "mkdir", path: "/d" });
  h.ok({ type: "commit", path: "/d/f", content: chunked([1, 10]) });
  h.ok({ type: "commit", path: "/d/f", content: chunked([1, 10], [2, 5]) });
  h.ok({ type: "symlink", path: "/l", target: "t" });
  h.ok({ type: "abandonChunks", chunkIds: [chunkId(3), chunkId(4), chunkId(5)] });
  h.advance(10);
  h.ok({ type: "collectGarbage", chunkIds: [chunkId(4)], beforeMs: h.nowMs });
  h.advance(10);
  h.ok({ type: "collectGarbage", chunkIds: [chunkId(5)], beforeMs: h.nowMs });
  h.fs.checkInvariants();
  return h;
}

function idOf(h: Harness, path: string): number {
  let id = ROOT_INODE;
  for (const name of path.slice(1).split("/")) {
    const b = h.fs.store.get(entryKey(id, name));
    if (b === undefined) throw new Error(`no entry ${name}`);
    id = decode<EntryRec>(b).i;
  }
  return id;
}

function read<T>(h: Harness, key: string): T {
  const b = h.fs.store.get(key);
  if (b === undefined) throw new Error(`no record ${key}`);
  return decode<T>(b);
}

/** Overwrites (or, with null, deletes) records as damage on disk would. */
function damage(h: Harness, writes: [string, unknown][]): void {
  h.fs.store.commit(new Map(writes.map(([k, v]) => [k, v === null ? null : encode(v)])), h.index);
}

function changeInode(h: Harness, path: string, change: Partial<InodeRec>): number {
  const id = idOf(h, path);
  damage(h, [[inodeKey(id), { ...read<InodeRec>(h, inodeKey(id)), ...change }]]);
  return id;
}

function changeMeta(h: Harness, change: Partial<MetaRec>): void {
  damage(h, [[META_KEY, { ...read<MetaRec>(h, META_KEY), ...change }]]);
}

function expectBroken(h: Harness, invariant: string): void {
  expect(() => h.fs.checkInvariants()).toThrow(`assertion failed: ${invariant}`);
}

describe("checkInvariants names the record a damaged store breaks", () => {
  it("an entry in a directory that does not exist, or naming an inode that does not", () => {
    const h = world();
    const key = entryKey(999, "x");
    damage(h, [[key, { i: idOf(h, "/d/f"), p: null, x: null }]]);
    expectBroken(h, `entry ${key} is in an existing directory`);
    const h2 = world();
    const key2 = entryKey(idOf(h2, "/d"), "x");
    damage(h2, [[key2, { i: 999, p: null, x: null }]]);
    expectBroken(h2, `entry ${key2} names an existing inode`);
  });

  it("an inode no entry links", () => {
    const h = world();
    damage(h, [[inodeKey(50), read<InodeRec>(h, inodeKey(idOf(h, "/l")))]]);
    changeMeta(h, { ni: 51 });
    expectBroken(h, "inode 50 is linked exactly once");
  });

  it("a directory counting more entries than it holds", () => {
    const h = world();
    const id = changeInode(h, "/d", { n: 2 });
    expectBroken(h, `directory ${id}: child count`);
  });

  it("a symbolic link without its target, or with versions or entries", () => {
    const h = world();
    const id = changeInode(h, "/l", { l: "" });
    expectBroken(h, `symbolic link ${id} has a target`);
    for (const change of [{ hi: 1 }, { lo: 1 }, { n: 1 }]) {
      const h2 = world();
      changeInode(h2, "/l", change);
      expectBroken(h2, `symbolic link ${id} has no versions or entries`);
    }
  });

  it("a file's version range: starting at 0, empty, a top version not above the latest", () => {
    for (const change of [{ lo: 0 }, { lo: 3 }]) {
      const h = world();
      changeInode(h, "/d/f", change);
      expectBroken(h, "versions start at 1 and are not empty");
    }
    const h = world();
    changeInode(h, "/d/f", { tv: 2 });
    expectBroken(h, "a recorded top version is above the latest");
  });

  it("a file's oldest or latest version gone, its size not the latest's, a stray version key", () => {
    const h1 = world();
    damage(h1, [[versionKey(idOf(h1, "/d/f"), 1), null]]);
    expectBroken(h1, "the oldest retained version exists");
    const h2 = world();
    damage(h2, [[versionKey(idOf(h2, "/d/f"), 2), null]]);
    expectBroken(h2, "the latest version exists");
    const h3 = world();
    changeInode(h3, "/d/f", { s: 10 });
    expectBroken(h3, "the inode holds the latest size");
    const h4 = world();
    damage(h4, [[versionKey(idOf(h4, "/d/f"), 7), { s: 1, c: 0, d: new Uint8Array([1]) }]]);
    expectBroken(h4, "no stray version keys");
  });

  it("a reference count that is not a recount's: a wrong count, a chunk no version holds", () => {
    const h = world();
    damage(h, [[chunkKey(chunkId(1)), { r: 1, s: 10 }]]);
    expectBroken(h, `refcount of ${chunkId(1)} matches a recount`);
    const h2 = world();
    damage(h2, [[chunkKey(chunkId(9)), { r: 1, s: 1 }]]);
    expectBroken(h2, "refcounts: same chunks as a recount");
  });

  it("garbage or a tombstone that a version still references", () => {
    const h = world();
    damage(h, [[garbageKey(chunkId(1)), 0]]);
    expectBroken(h, "garbage chunks are unreferenced");
    const h2 = world();
    damage(h2, [[tombstoneKey(chunkId(2)), { s: 0, p: null, x: null }]]);
    expectBroken(h2, "tombstones are unreferenced");
  });

  it("no meta record", () => {
    const h = world();
    damage(h, [[META_KEY, null]]);
    expectBroken(h, "the meta record exists");
  });

  it("the tombstone list: out of time order, a head that is gone, a tombstone left out", () => {
    const h = world();
    const t5 = read<{ s: number; p: string | null; x: string | null }>(h, tombstoneKey(chunkId(5)));
    damage(h, [[tombstoneKey(chunkId(5)), { ...t5, s: t5.s - 15 }]]);
    expectBroken(h, "the tombstone list is in time order");
    const h2 = world();
    changeMeta(h2, { th: chunkId(8) });
    expectBroken(h2, "the tombstone list is in time order");
    const h3 = world();
    damage(h3, [[tombstoneKey(chunkId(9)), { s: 0, p: null, x: null }]]);
    expectBroken(h3, "every tombstone is linked");
  });

  it("an inode id at or above the next one to hand out", () => {
    const h = world();
    changeMeta(h, { ni: idOf(h, "/l") });
    expectBroken(h, "inode ids are below the next one");
  });
});

describe("restore refuses a snapshot that breaks the tree or the chunk tables, naming what", () => {
  const refused = (snap: FsSnapshot, invariant: string) =>
    expect(() => FsState.restore(snap, DEFAULT_OPTS)).toThrow(`assertion failed: ${invariant}`);
  const withNodes = (snap: FsSnapshot, nodes: unknown[]) => ({ ...snap, nodes }) as FsSnapshot;
  const nodeAt = (snap: FsSnapshot, path: string) => {
    const n = snap.nodes.find((x) => x.path === path);
    if (n === undefined) throw new Error(`no ${path}`);
    return n;
  };

  it("the root first; paths normal, unique, each below an existing directory", () => {
    const snap = world().fs.snapshot();
    const [root, ...rest] = snap.nodes;
    refused(withNodes(snap, rest), "snapshot: the root comes first");
    refused(
      withNodes(snap, [{ ...root, type: "file", versions: [] }, ...rest]),
      "snapshot: the root comes first",
    );
    refused(
      withNodes(snap, [root, { ...nodeAt(snap, "/d"), path: "/d/" }]),
      "snapshot: /d/ is normal and unique",
    );
    refused(
      withNodes(snap, [root, nodeAt(snap, "/d"), nodeAt(snap, "/d")]),
      "snapshot: /d is normal and unique",
    );
    refused(
      withNodes(snap, [root, nodeAt(snap, "/d/f")]),
      "snapshot: the parent of /d/f precedes it and is a directory",
    );
    refused(
      withNodes(snap, [
        root,
        { ...nodeAt(snap, "/d/f"), path: "/g" },
        { ...nodeAt(snap, "/d"), path: "/g/d" },
      ]),
      "snapshot: the parent of /g/d precedes it and is a directory",
    );
  });

  it("a link without a target, a file without a version, a top version not above the latest", () => {
    const snap = world().fs.snapshot();
    const [root] = snap.nodes;
    refused(withNodes(snap, [root, { ...nodeAt(snap, "/l"), target: "" }]), "snapshot: /l has a target");
    refused(withNodes(snap, [root, { ...nodeAt(snap, "/l"), target: 7 }]), "snapshot: /l has a target");
    const dir = nodeAt(snap, "/d");
    const file = nodeAt(snap, "/d/f");
    refused(withNodes(snap, [root, dir, { ...file, versions: [] }]), "snapshot: /d/f has a version");
    refused(
      withNodes(snap, [root, dir, { ...file, topVersion: 2 }]),
      "snapshot: /d/f's top version is above its latest",
    );
    const restored = FsState.restore(withNodes(snap, [root, dir, { ...file, topVersion: 3 }]), DEFAULT_OPTS);
    expect(restored.snapshot().nodes.find((n) => n.path === "/d/f")).toMatchObject({ topVersion: 3 });
  });

  it("garbage or a tombstone that a restored version references", () => {
    const snap = world().fs.snapshot();
    refused(
      { ...snap, garbage: [...snap.garbage, { chunkId: chunkId(1), sinceMs: 0 }] },
      `snapshot: garbage chunk ${chunkId(1)} is unreferenced`,
    );
    refused(
      { ...snap, tombstones: [{ chunkId: chunkId(2), sinceMs: 0 }] },
      `snapshot: tombstone ${chunkId(2)} is unreferenced`,
    );
  });

  it("tombstones listed out of time order are linked in time order, as the replica that sent them had them", () => {
    const h = world();
    const snap = h.fs.snapshot();
    const tombstones = snap.tombstones ?? [];
    expect(tombstones.map((t) => t.chunkId)).toEqual([chunkId(4), chunkId(5)]);
    const restored = FsState.restore({ ...snap, tombstones: [...tombstones].reverse() }, DEFAULT_OPTS);
    restored.checkInvariants();
    expect(restored.stateHash()).toBe(h.fs.stateHash());
  });

  it("an unknown format, an index or a timestamp that is not a whole number of at least 0", () => {
    const snap = world().fs.snapshot();
    refused({ ...snap, format: 2 } as unknown as FsSnapshot, "snapshot: known format");
    for (const lastAppliedIndex of [-1, 1.5]) refused({ ...snap, lastAppliedIndex }, "snapshot: index");
    for (const lastTimestampMs of [-1, 0.5]) refused({ ...snap, lastTimestampMs }, "snapshot: timestamp");
    const zero = FsState.restore({ ...snap, lastAppliedIndex: 0, lastTimestampMs: 0 }, DEFAULT_OPTS);
    expect([zero.lastAppliedIndex, zero.lastTimestampMs]).toEqual([0, 0]);
  });
});
