import { describe, expect, it } from "vitest";
import { DfsError } from "../../../src/common/errors.js";
import { chunked, Harness, inline, text } from "./helpers.js";

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof DfsError) return err.code;
    throw err;
  }
  return undefined;
}

describe("mkdir", () => {
  it("creates a directory under an existing one and reports it", () => {
    const h = new Harness();
    const r = h.send({ type: "mkdir", path: "/a" });
    expect(r).toEqual({
      ok: true,
      value: { created: ["/a"] },
      changes: [{ index: h.index, path: "/a", kind: "mkdir" }],
    });
    expect(h.fs.stat("/a")).toMatchObject({
      path: "/a",
      type: "dir",
      createdAtMs: h.nowMs,
      modifiedAtMs: h.nowMs,
    });
  });

  it("normalizes a trailing slash", () => {
    const h = new Harness();
    expect(h.ok({ type: "mkdir", path: "/a/" })).toEqual({ created: ["/a"] });
  });

  it("fails with EXISTS, NOT_FOUND, NOT_A_DIRECTORY and INVALID_PATH", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a" });
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    expect(h.err({ type: "mkdir", path: "/a" }).code).toBe("EXISTS");
    expect(h.err({ type: "mkdir", path: "/" }).code).toBe("EXISTS");
    expect(h.err({ type: "mkdir", path: "/f" }).code).toBe("EXISTS");
    expect(h.err({ type: "mkdir", path: "/f", parents: true }).code).toBe("EXISTS");
    expect(h.err({ type: "mkdir", path: "/x/y" }).code).toBe("NOT_FOUND");
    expect(h.err({ type: "mkdir", path: "/f/y" }).code).toBe("NOT_A_DIRECTORY");
    expect(h.err({ type: "mkdir", path: "/f/y/z", parents: true }).code).toBe("NOT_A_DIRECTORY");
    expect(h.err({ type: "mkdir", path: "a" }).code).toBe("INVALID_PATH");
    expect(h.err({ type: "mkdir", path: "/a/../b" }).code).toBe("INVALID_PATH");
  });

  it("with parents creates missing ancestors in order and tolerates an existing directory", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a" });
    const r = h.send({ type: "mkdir", path: "/a/b/c/d", parents: true });
    expect(r.ok && r.value).toEqual({ created: ["/a/b", "/a/b/c", "/a/b/c/d"] });
    expect(r.changes.map((c) => c.path)).toEqual(["/a/b", "/a/b/c", "/a/b/c/d"]);
    expect(h.ok({ type: "mkdir", path: "/a/b", parents: true })).toEqual({ created: [] });
    expect(h.ok({ type: "mkdir", path: "/", parents: true })).toEqual({ created: [] });
  });

  it("updates the parent's modification time", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a" });
    h.advance(500);
    h.ok({ type: "mkdir", path: "/a/b" });
    expect(h.fs.stat("/a").modifiedAtMs).toBe(h.nowMs);
    expect(h.fs.stat("/a").createdAtMs).toBe(h.nowMs - 500);
  });
});

describe("commit", () => {
  it("creates version 1, then adds versions, returning { version }", () => {
    const h = new Harness();
    const r = h.send({ type: "commit", path: "/f", content: inline("one") });
    expect(r).toEqual({
      ok: true,
      value: { version: 1 },
      changes: [{ index: h.index, path: "/f", kind: "create", version: 1 }],
    });
    h.advance(10);
    const r2 = h.send({ type: "commit", path: "/f", content: inline("two!") });
    expect(r2.changes).toEqual([{ index: h.index, path: "/f", kind: "commit", version: 2 }]);
    expect(h.fs.stat("/f")).toMatchObject({ type: "file", version: 2, sizeBytes: 4, modifiedAtMs: h.nowMs });
    expect(h.fs.stat("/f").createdAtMs).toBe(h.nowMs - 10);
    expect(text(h.fs.readVersion("/f").content)).toBe("two!");
    expect(text(h.fs.readVersion("/f", 1).content)).toBe("one");
  });

  it("compare-and-set: expectedVersion 0 means must not exist", () => {
    const h = new Harness();
    expect(h.ok({ type: "commit", path: "/f", content: inline("a"), expectedVersion: 0 })).toEqual({
      version: 1,
    });
    const e = h.err({ type: "commit", path: "/f", content: inline("b"), expectedVersion: 0 });
    expect(e).toMatchObject({ code: "VERSION_MISMATCH", currentVersion: 1 });
    expect(h.err({ type: "commit", path: "/f", content: inline("b"), expectedVersion: 5 })).toMatchObject({
      code: "VERSION_MISMATCH",
      currentVersion: 1,
    });
    expect(h.err({ type: "commit", path: "/g", content: inline("b"), expectedVersion: 1 })).toMatchObject({
      code: "VERSION_MISMATCH",
      currentVersion: 0,
    });
    expect(h.ok({ type: "commit", path: "/f", content: inline("c"), expectedVersion: 1 })).toEqual({
      version: 2,
    });
  });

  it("fails with IS_A_DIRECTORY, NOT_FOUND, NOT_A_DIRECTORY", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    expect(h.err({ type: "commit", path: "/d", content: inline("x") }).code).toBe("IS_A_DIRECTORY");
    expect(h.err({ type: "commit", path: "/", content: inline("x") }).code).toBe("IS_A_DIRECTORY");
    expect(h.err({ type: "commit", path: "/nope/f", content: inline("x") }).code).toBe("NOT_FOUND");
    expect(h.err({ type: "commit", path: "/f/g", content: inline("x") }).code).toBe("NOT_A_DIRECTORY");
  });

  it("createParents creates missing directories, reported before the file", () => {
    const h = new Harness();
    const r = h.send({ type: "commit", path: "/a/b/f", content: inline("x"), createParents: true });
    expect(r.changes.map((c) => [c.kind, c.path])).toEqual([
      ["mkdir", "/a"],
      ["mkdir", "/a/b"],
      ["create", "/a/b/f"],
    ]);
    expect(h.fs.list("/a").map((e) => e.name)).toEqual(["b"]);
  });

  it("keeps only the last versionsRetained versions", () => {
    const h = new Harness({ versionsRetained: 2 });
    for (const s of ["v1", "v2", "v3", "v4"]) h.ok({ type: "commit", path: "/f", content: inline(s) });
    expect(h.fs.versions("/f").map((v) => v.version)).toEqual([3, 4]);
    expect(text(h.fs.readVersion("/f", 3).content)).toBe("v3");
    expect(codeOf(() => h.fs.readVersion("/f", 2))).toBe("NOT_FOUND");
    expect(codeOf(() => h.fs.readVersion("/f", 9))).toBe("NOT_FOUND");
  });

  it("records size, time and kind of each version", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("abc") });
    h.advance(7);
    h.ok({ type: "commit", path: "/f", content: chunked([1, 100], [2, 50]) });
    expect(h.fs.versions("/f")).toEqual([
      { path: "/f", version: 1, sizeBytes: 3, createdAtMs: h.nowMs - 7, contentKind: "inline" },
      { path: "/f", version: 2, sizeBytes: 150, createdAtMs: h.nowMs, contentKind: "chunks" },
    ]);
  });

  it("validates content", () => {
    const h = new Harness();
    const bad = [
      { kind: "inline", data: "not bytes" },
      { kind: "chunks", chunks: [{ id: "xyz", sizeBytes: 1 }], sizeBytes: 1 },
      { kind: "chunks", chunks: [{ id: "A".repeat(64), sizeBytes: 1 }], sizeBytes: 1 },
      { kind: "chunks", chunks: [{ id: "a".repeat(64), sizeBytes: 10 }], sizeBytes: 11 },
      { kind: "chunks", chunks: [{ id: "a".repeat(64), sizeBytes: 0 }], sizeBytes: 0 },
      { kind: "weird" },
      null,
    ];
    for (const content of bad)
      expect(h.err({ type: "commit", path: "/f", content }).code).toBe("BAD_REQUEST");
    const big = { kind: "inline", data: new Uint8Array(1024 * 1024 + 1) };
    expect(h.err({ type: "commit", path: "/f", content: big }).code).toBe("PAYLOAD_TOO_LARGE");
  });

  it("copies inline data: later changes to the caller's buffer do not reach the state", () => {
    const h = new Harness();
    const data = new TextEncoder().encode("hello");
    h.ok({ type: "commit", path: "/f", content: { kind: "inline", data } });
    data[0] = 0x4a;
    const read = h.fs.readVersion("/f").content;
    expect(text(read)).toBe("hello");
    if (read.kind === "inline") read.data[0] = 0x4a;
    expect(text(h.fs.readVersion("/f").content)).toBe("hello");
  });
});

describe("rename", () => {
  it("moves a file atomically", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "mkdir", path: "/d" });
    const r = h.send({ type: "rename", from: "/f", to: "/d/g" });
    expect(r).toEqual({
      ok: true,
      value: { from: "/f", to: "/d/g" },
      changes: [{ index: h.index, path: "/f", kind: "rename", to: "/d/g" }],
    });
    expect(codeOf(() => h.fs.stat("/f"))).toBe("NOT_FOUND");
    expect(h.fs.stat("/d/g")).toMatchObject({ type: "file", version: 1 });
  });

  it("moves a whole directory subtree", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/a/b/c/f", content: inline("deep"), createParents: true });
    h.ok({ type: "commit", path: "/a/g", content: inline("g") });
    h.ok({ type: "mkdir", path: "/z" });
    h.ok({ type: "rename", from: "/a", to: "/z/a2" });
    expect(h.fs.list("/").map((e) => e.name)).toEqual(["z"]);
    expect(h.fs.list("/z/a2").map((e) => e.name)).toEqual(["b", "g"]);
    expect(text(h.fs.readVersion("/z/a2/b/c/f").content)).toBe("deep");
    expect(codeOf(() => h.fs.stat("/a/b"))).toBe("NOT_FOUND");
    h.fs.checkInvariants();
  });

  it("fails for a missing source, an existing destination, a move into itself, and /", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a/b", parents: true });
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    expect(h.err({ type: "rename", from: "/nope", to: "/x" }).code).toBe("NOT_FOUND");
    expect(h.err({ type: "rename", from: "/f", to: "/a" }).code).toBe("EXISTS");
    expect(h.err({ type: "rename", from: "/a", to: "/f" }).code).toBe("EXISTS");
    expect(h.err({ type: "rename", from: "/f", to: "/f" }).code).toBe("EXISTS");
    expect(h.err({ type: "rename", from: "/a", to: "/a/b/c" }).code).toBe("BAD_REQUEST");
    expect(h.err({ type: "rename", from: "/a", to: "/a/x" }).code).toBe("BAD_REQUEST");
    expect(h.err({ type: "rename", from: "/", to: "/x" }).code).toBe("BAD_REQUEST");
    expect(h.err({ type: "rename", from: "/a", to: "/" }).code).toBe("EXISTS");
    expect(h.err({ type: "rename", from: "/f", to: "/nope/f" }).code).toBe("NOT_FOUND");
    expect(h.err({ type: "rename", from: "/a", to: "/f/a" }).code).toBe("NOT_A_DIRECTORY");
    expect(h.err({ type: "rename", from: "/a", to: "a2" }).code).toBe("INVALID_PATH");
  });

  it("allows a sibling whose name extends the source's (/a → /ab)", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a/x", parents: true });
    h.ok({ type: "rename", from: "/a", to: "/ab" });
    expect(h.fs.stat("/ab/x").type).toBe("dir");
  });

  it("refuses a move that would make a path longer than 4096 bytes", () => {
    const h = new Harness();
    const seg = "s".repeat(250);
    const deep = `/d/${Array.from({ length: 15 }, () => seg).join("/")}`;
    h.ok({ type: "mkdir", path: deep, parents: true });
    h.ok({ type: "mkdir", path: `/${seg}`, parents: true });
    expect(h.err({ type: "rename", from: "/d", to: `/${seg}/${seg}` }).code).toBe("INVALID_PATH");
    expect(h.fs.stat(deep).type).toBe("dir");
  });
});

describe("delete", () => {
  it("deletes a file and an empty directory", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "mkdir", path: "/d" });
    const r = h.send({ type: "delete", path: "/f" });
    expect(r).toEqual({
      ok: true,
      value: { removed: 1 },
      changes: [{ index: h.index, path: "/f", kind: "delete" }],
    });
    expect(h.ok({ type: "delete", path: "/d" })).toEqual({ removed: 1 });
    expect(h.fs.list("/")).toEqual([]);
  });

  it("refuses a non-empty directory without recursive, deletes the subtree with it", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/d/e/f", content: inline("x"), createParents: true });
    h.ok({ type: "commit", path: "/d/g", content: inline("y") });
    expect(h.err({ type: "delete", path: "/d" }).code).toBe("NOT_EMPTY");
    expect(h.ok({ type: "delete", path: "/d", recursive: true })).toEqual({ removed: 4 });
    expect(codeOf(() => h.fs.stat("/d/e/f"))).toBe("NOT_FOUND");
    h.fs.checkInvariants();
  });

  it("refuses / and missing paths", () => {
    const h = new Harness();
    expect(h.err({ type: "delete", path: "/", recursive: true }).code).toBe("BAD_REQUEST");
    expect(h.err({ type: "delete", path: "/nope" }).code).toBe("NOT_FOUND");
  });

  it("a deleted path can be created again, starting over at version 1", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "commit", path: "/f", content: inline("y") });
    h.ok({ type: "delete", path: "/f" });
    expect(h.ok({ type: "commit", path: "/f", content: inline("z") })).toEqual({ version: 1 });
  });
});

describe("queries", () => {
  it("list is sorted by code unit, with types and versions, and pages", () => {
    const h = new Harness();
    for (const n of ["b", "a", "B", "é", "a b", "c"])
      h.ok({ type: "commit", path: `/${n}`, content: inline(n) });
    h.ok({ type: "mkdir", path: "/dir" });
    const names = h.fs.list("/").map((e) => e.name);
    expect(names).toEqual(["B", "a", "a b", "b", "c", "dir", "é"]);
    expect(h.fs.list("/").find((e) => e.name === "dir")).toMatchObject({ type: "dir", path: "/dir" });
    expect(h.fs.list("/").find((e) => e.name === "c")).toMatchObject({
      type: "file",
      version: 1,
      sizeBytes: 1,
    });
    expect(h.fs.list("/", { startAfter: "a b", limit: 2 }).map((e) => e.name)).toEqual(["b", "c"]);
  });

  it("queries fail with NOT_FOUND, NOT_A_DIRECTORY, IS_A_DIRECTORY, INVALID_PATH", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "mkdir", path: "/d" });
    expect(codeOf(() => h.fs.stat("/nope"))).toBe("NOT_FOUND");
    expect(codeOf(() => h.fs.list("/nope"))).toBe("NOT_FOUND");
    expect(codeOf(() => h.fs.list("/f"))).toBe("NOT_A_DIRECTORY");
    expect(codeOf(() => h.fs.versions("/d"))).toBe("IS_A_DIRECTORY");
    expect(codeOf(() => h.fs.readVersion("/d"))).toBe("IS_A_DIRECTORY");
    expect(codeOf(() => h.fs.versions("/nope"))).toBe("NOT_FOUND");
    expect(codeOf(() => h.fs.stat("nope"))).toBe("INVALID_PATH");
  });

  it("stat of / is a directory", () => {
    const h = new Harness();
    expect(h.fs.stat("/")).toEqual({
      path: "/",
      type: "dir",
      createdAtMs: 0,
      modifiedAtMs: 0,
      mode: 0o755,
      uid: 0,
      gid: 0,
      changedAtMs: 0,
      ino: 1,
    });
  });

  it("a node's ino survives renames and new versions; a name made again gets a new one", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "commit", path: "/d/f", content: inline("x") });
    const dir = h.fs.stat("/d").ino;
    const file = h.fs.stat("/d/f").ino;
    expect(new Set([1, dir, file]).size).toBe(3);
    expect(h.fs.list("/d")[0]?.ino).toBe(file);
    h.ok({ type: "rename", from: "/d/f", to: "/d/g" });
    h.ok({ type: "rename", from: "/d", to: "/e" });
    h.ok({ type: "commit", path: "/e/g", content: inline("y") });
    expect([h.fs.stat("/e").ino, h.fs.stat("/e/g").ino]).toEqual([dir, file]);
    h.ok({ type: "delete", path: "/e/g" });
    h.ok({ type: "commit", path: "/e/g", content: inline("z") });
    expect([1, dir, file]).not.toContain(h.fs.stat("/e/g").ino);
  });
});
