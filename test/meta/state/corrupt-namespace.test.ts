/**
 * A replica whose store holds a broken namespace record (a bug in an earlier version, bytes damaged on
 * disk, a hand-edited LevelDB) must stop at the first entry that meets it, with the invariant that
 * broke named, rather than apply the entry over garbage: every replica stops at the same entry, and
 * the store keeps what it held (nothing half-applied). Each case breaks one record through the store
 * interface the state machine reads (issue 13, mutation testing of namespace.ts: the `assert(...)`
 * calls no valid store can reach).
 */
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import {
  decode,
  type EntryRec,
  encode,
  entryKey,
  type InodeRec,
  inodeKey,
  META_KEY,
  ROOT_INODE,
  versionKey,
} from "../../../src/meta/state/records.js";
import { DEFAULT_OPTS, Harness, inline, type Request } from "./helpers.js";

/** Every key and value of the store, to show a refused entry wrote nothing. */
function contents(h: Harness): [string, string][] {
  const store = h.fs.store;
  if (!(store instanceof MemoryStore)) throw new Error("the harness runs on a MemoryStore");
  return [...store.scanSync({ gte: "", lt: "\uffff" })].map(([k, v]) => [k, Buffer.from(v).toString("hex")]);
}

/** Overwrites (or, with null, deletes) records as damage on disk would. */
function damage(h: Harness, writes: [string, unknown][]): void {
  h.fs.store.commit(new Map(writes.map(([k, v]) => [k, v === null ? null : encode(v)])), h.index);
}

function inodeOf(h: Harness, path: string): { id: number; rec: InodeRec } {
  let id = ROOT_INODE;
  for (const name of path.slice(1).split("/")) {
    const b = h.fs.store.get(entryKey(id, name));
    if (b === undefined) throw new Error(`no entry ${name}`);
    id = decode<EntryRec>(b).i;
  }
  const b = h.fs.store.get(inodeKey(id));
  if (b === undefined) throw new Error(`no inode ${id}`);
  return { id, rec: decode<InodeRec>(b) };
}

function expectRefused(h: Harness, req: Request, invariant: string): void {
  const before = contents(h);
  expect(() => h.send(req)).toThrow(`assertion failed: ${invariant}`);
  expect(contents(h)).toEqual(before);
}

/** A directory /d holding /d/a then /d/b: b is the head of its list, a the next after it. */
function twoEntries(): { h: Harness; dir: number } {
  const h = new Harness();
  h.ok({ type: "mkdir", path: "/d" });
  h.ok({ type: "commit", path: "/d/a", content: inline("a") });
  h.ok({ type: "commit", path: "/d/b", content: inline("b") });
  return { h, dir: inodeOf(h, "/d").id };
}

describe("a store with a broken namespace record is refused, with the invariant named", () => {
  it("an entry whose inode record is gone", () => {
    const { h, dir } = twoEntries();
    damage(h, [[inodeKey(dir), null]]);
    expectRefused(h, { type: "commit", path: "/d/c", content: inline("c") }, `inode ${dir} exists`);
    expectRefused(h, { type: "mkdir", path: "/d" }, `inode ${dir} exists`);
  });

  it("a file missing one of the versions it counts", () => {
    const h = new Harness();
    for (const t of ["1", "2", "3"]) h.ok({ type: "commit", path: "/f", content: inline(t) });
    const { id } = inodeOf(h, "/f");
    damage(h, [[versionKey(id, 2), null]]);
    expectRefused(h, { type: "delete", path: "/f" }, "a file's retained versions are as many as it counts");
  });

  it("a file counting fewer versions than it holds", () => {
    const h = new Harness();
    for (const t of ["1", "2"]) h.ok({ type: "commit", path: "/f", content: inline(t) });
    const { id, rec } = inodeOf(h, "/f");
    damage(h, [[inodeKey(id), { ...rec, k: 1 }]]);
    expectRefused(h, { type: "delete", path: "/f" }, "a file's retained versions are as many as it counts");
  });

  it("a commit whose oldest retained version is gone", () => {
    const h = new Harness({ versionsRetained: 3 });
    for (const t of ["1", "2", "3"]) h.ok({ type: "commit", path: "/f", content: inline(t) });
    const { id } = inodeOf(h, "/f");
    damage(h, [[versionKey(id, 1), null]]);
    expectRefused(
      h,
      { type: "commit", path: "/f", content: inline("4") },
      "the oldest retained version exists",
    );
  });

  it("a directory whose linked entry is gone, walked by a recursive delete and a rename", () => {
    const { h, dir } = twoEntries();
    damage(h, [[entryKey(dir, "a"), null]]);
    expectRefused(h, { type: "delete", path: "/d", recursive: true }, "linked entries exist");
    expectRefused(h, { type: "rename", from: "/d", to: "/e" }, "linked entries exist");
  });

  it("a directory whose head entry is gone", () => {
    const { h, dir } = twoEntries();
    damage(h, [[entryKey(dir, "b"), null]]);
    expectRefused(h, { type: "mkdir", path: "/d/c" }, "the head entry exists");
  });

  it("an entry whose previous or next entry is gone", () => {
    const prevGone = twoEntries();
    damage(prevGone.h, [[entryKey(prevGone.dir, "b"), null]]);
    expectRefused(prevGone.h, { type: "delete", path: "/d/a" }, "the previous entry exists");

    const nextGone = twoEntries();
    damage(nextGone.h, [[entryKey(nextGone.dir, "a"), null]]);
    expectRefused(nextGone.h, { type: "delete", path: "/d/b" }, "the next entry exists");
  });

  it("a store without its meta record cannot give out an inode", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    damage(h, [[META_KEY, null]]);
    expectRefused(h, { type: "mkdir", path: "/e" }, "the meta record exists");
  });

  it("an entry below a file, moved away", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("f") });
    h.ok({ type: "mkdir", path: "/d" });
    const f = inodeOf(h, "/f").id;
    const d = inodeOf(h, "/d").id;
    damage(h, [[entryKey(f, "x"), { i: d, p: null, x: null } satisfies EntryRec]]);
    expectRefused(
      h,
      { type: "rename", from: "/f/x", to: "/y" },
      "the parent of /f/x is an existing directory",
    );
  });

  it("an inode of an unknown kind is neither versioned nor has a version dropped", () => {
    const h = new Harness();
    for (const t of ["1", "2"]) h.ok({ type: "commit", path: "/f", content: inline(t) });
    const { id, rec } = inodeOf(h, "/f");
    damage(h, [[inodeKey(id), { ...rec, t: "x" }]]);
    expectRefused(h, { type: "commit", path: "/f", content: inline("3") }, "versions only grow");
    expectRefused(
      h,
      { type: "dropVersion", path: "/f", version: 1 },
      "dropVersion: a file that retains other versions",
    );
  });
});

describe("restore refuses a snapshot whose versions do not grow", () => {
  it("two versions with one number, or out of order", () => {
    const h = new Harness();
    for (const t of ["1", "2"]) h.ok({ type: "commit", path: "/f", content: inline(t) });
    const snap = h.fs.snapshot();
    expect(
      FsState.restore(snap, DEFAULT_OPTS)
        .versions("/f")
        .map((v) => v.version),
    ).toEqual([1, 2]);
    for (const numbers of [
      [1, 1],
      [2, 1],
    ]) {
      const nodes = snap.nodes.map((n) =>
        n.type === "file"
          ? { ...n, versions: n.versions.map((v, i) => ({ ...v, version: numbers[i] ?? 0 })) }
          : n,
      );
      expect(() => FsState.restore({ ...snap, nodes }, DEFAULT_OPTS)).toThrow(
        "assertion failed: versions only grow",
      );
    }
  });
});
