/**
 * Symbolic links in the state machine: a third kind of entry holding its target verbatim. Created like
 * a file (EXISTS on a taken name), removed and renamed like one, never followed when a path resolves,
 * carried by snapshots; a file operation on one is IS_A_SYMLINK, never a crash of the replica.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_SYMLINK_TARGET_BYTES } from "../../../src/common/paths.js";
import { FsState } from "../../../src/meta/state/index.js";
import { DEFAULT_OPTS, Harness, inline } from "./helpers.js";

describe("symbolic links", () => {
  it("a link holds its target verbatim, with mode 0777, owner, times and an inode number", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    const r = h.send({ type: "symlink", path: "/d/l", target: "../no/such/./thing" });
    expect(r.ok && r.changes).toEqual([{ index: h.index, path: "/d/l", kind: "create" }]);
    const st = h.fs.stat("/d/l");
    expect(st).toMatchObject({
      path: "/d/l",
      type: "symlink",
      target: "../no/such/./thing",
      mode: 0o777,
      uid: 0,
      gid: 0,
      createdAtMs: h.nowMs,
      modifiedAtMs: h.nowMs,
      changedAtMs: h.nowMs,
    });
    expect(st.ino).toBeGreaterThan(1);
    expect(st.version).toBeUndefined();
    h.ok({ type: "symlink", path: "/d/m", target: "/abs", attrs: { mode: 0o777, uid: 1000, gid: 100 } });
    expect(h.fs.list("/d").map((e) => [e.name, e.type, e.target, e.uid])).toEqual([
      ["l", "symlink", "../no/such/./thing", 0],
      ["m", "symlink", "/abs", 1000],
    ]);
    h.fs.checkInvariants();
  });

  it("a taken name is EXISTS, a missing parent NOT_FOUND, a bad target BAD_REQUEST; none changes anything", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "symlink", path: "/l", target: "f" });
    const before = h.fs.partHashes().namespace;
    for (const path of ["/d", "/f", "/l", "/"]) {
      expect(h.err({ type: "symlink", path, target: "t" }).code).toBe("EXISTS");
    }
    expect(h.err({ type: "symlink", path: "/nope/l", target: "t" }).code).toBe("NOT_FOUND");
    // What the caller is told: the name taken, the parent missing, the link it asked to write through.
    expect(h.err({ type: "symlink", path: "/l", target: "t" })).toMatchObject({
      message: "/l already exists",
      path: "/l",
    });
    expect(h.err({ type: "symlink", path: "/", target: "t" })).toMatchObject({
      message: "/ already exists",
      path: "/",
    });
    expect(h.err({ type: "symlink", path: "/nope/l", target: "t" })).toMatchObject({
      message: "parent directory /nope does not exist",
      path: "/nope",
    });
    expect(h.err({ type: "commit", path: "/l", content: inline("y") })).toMatchObject({
      code: "IS_A_SYMLINK",
      message: "/l is a symbolic link: the server does not follow links",
      path: "/l",
    });
    expect(h.err({ type: "symlink", path: "/d/e", target: "" }).code).toBe("BAD_REQUEST");
    expect(h.err({ type: "symlink", path: "/d/e" }).code).toBe("BAD_REQUEST");
    expect(h.err({ type: "symlink", path: "/d/e", target: "a\u0000b" }).code).toBe("BAD_REQUEST");
    const tooLong = "é".repeat(2048); // 4096 bytes in UTF-8, 2048 code units
    expect(h.err({ type: "symlink", path: "/d/e", target: tooLong }).code).toBe("BAD_REQUEST");
    expect(h.fs.partHashes().namespace).toBe(before);
    h.ok({ type: "symlink", path: "/d/e", target: "x".repeat(MAX_SYMLINK_TARGET_BYTES) });
    expect(h.fs.stat("/d/e").target).toHaveLength(MAX_SYMLINK_TARGET_BYTES);
  });

  it("is fenced like a file's create: by another session's lock on its name, not by one below it", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    const X = { type: "lockAcquire", mode: "exclusive", ttlMs: 60_000, owner: "x" } as const;
    h.ok({ ...X, path: "/s" }, a);
    h.ok({ ...X, path: "/t/x" }, a);
    expect(h.err({ type: "symlink", path: "/s", target: "t" }, b).code).toBe("LOCKED");
    expect(h.ok({ type: "symlink", path: "/t", target: "t" }, b)).toEqual({ path: "/t" });
    expect(h.fs.stat("/t").type).toBe("symlink");
  });

  it("the server never follows a link: below one is NOT_A_DIRECTORY or NOT_FOUND, file calls IS_A_SYMLINK", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/dir" });
    h.ok({ type: "commit", path: "/dir/f", content: inline("x") });
    h.ok({ type: "symlink", path: "/ld", target: "/dir" });
    h.ok({ type: "symlink", path: "/lf", target: "/dir/f" });
    const before = h.fs.partHashes().namespace;
    expect(h.err({ type: "commit", path: "/ld/g", content: inline("y") }).code).toBe("NOT_A_DIRECTORY");
    expect(h.err({ type: "mkdir", path: "/ld/sub" }).code).toBe("NOT_A_DIRECTORY");
    // The refusal says what is in the way, a link or a file, and where.
    expect(h.err({ type: "mkdir", path: "/ld/a/b", parents: true })).toMatchObject({
      code: "NOT_A_DIRECTORY",
      message: "/ld is a symbolic link",
      path: "/ld",
    });
    expect(h.err({ type: "commit", path: "/dir/f/g", content: inline("y") })).toMatchObject({
      message: "/dir/f is a file",
      path: "/dir/f",
    });
    expect(h.err({ type: "mkdir", path: "/ld", parents: true }).code).toBe("EXISTS");
    expect(h.err({ type: "commit", path: "/lf", content: inline("y") }).code).toBe("IS_A_SYMLINK");
    expect(h.err({ type: "dropVersion", path: "/lf", version: 1 }).code).toBe("IS_A_SYMLINK");
    expect(() => h.fs.stat("/ld/f")).toThrow(/does not exist/);
    expect(() => h.fs.readVersion("/lf")).toThrow(expect.objectContaining({ code: "IS_A_SYMLINK" }));
    expect(() => h.fs.versions("/lf")).toThrow(expect.objectContaining({ code: "IS_A_SYMLINK" }));
    expect(() => h.fs.list("/ld")).toThrow(expect.objectContaining({ code: "NOT_A_DIRECTORY" }));
    expect(h.fs.partHashes().namespace).toBe(before);
  });

  it("unlink removes the link and keeps its target; rename moves it, keeping its inode", () => {
    const h = new Harness({ versionsRetained: 1 });
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "symlink", path: "/l", target: "f" });
    const ino = h.fs.stat("/l").ino;
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "rename", from: "/l", to: "/d/l2" });
    expect(h.fs.stat("/d/l2")).toMatchObject({ type: "symlink", target: "f", ino });
    expect(h.ok({ type: "delete", path: "/d/l2" })).toEqual({ removed: 1 });
    expect(h.fs.stat("/f")).toMatchObject({ type: "file", version: 1 });
    expect(h.fs.list("/d")).toEqual([]);
    h.ok({ type: "symlink", path: "/d/l3", target: "x" });
    expect(h.ok({ type: "delete", path: "/d", recursive: true })).toEqual({ removed: 2 });
    h.fs.checkInvariants();
  });

  it("a rename replaces a file with a link and a link with a file, in one txn as the mount sends it", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "symlink", path: "/l", target: "f" });
    expect(h.err({ type: "rename", from: "/l", to: "/f" }).code).toBe("EXISTS");
    const replace = (from: string, to: string) =>
      h.ok({
        type: "txn",
        conditions: [{ kind: "exists", path: to, exists: true }],
        ops: [
          { type: "delete", path: to },
          { type: "rename", from, to },
        ],
      });
    replace("/l", "/f");
    expect(h.fs.stat("/f")).toMatchObject({ type: "symlink", target: "f" });
    h.ok({ type: "commit", path: "/g", content: inline("y") });
    replace("/g", "/f");
    expect(h.fs.stat("/f")).toMatchObject({ type: "file", version: 1 });
    // A txn may create a link too.
    h.ok({ type: "txn", conditions: [], ops: [{ type: "symlink", path: "/t", target: "f" }] });
    expect(h.fs.stat("/t").target).toBe("f");
    h.fs.checkInvariants();
  });

  it("counts one name against its tree's quota, and none once removed", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/q" });
    h.ok({ type: "setQuota", path: "/q", files: 1 });
    h.ok({ type: "symlink", path: "/q/a", target: "x".repeat(100) });
    expect(h.fs.quota("/q").usage).toEqual({ bytes: 0, files: 1 });
    expect(h.err({ type: "symlink", path: "/q/b", target: "x" }).code).toBe("QUOTA_EXCEEDED");
    h.ok({ type: "delete", path: "/q/a" });
    expect(h.fs.quota("/q").usage).toEqual({ bytes: 0, files: 0 });
  });
});

/** Random namespace work over a few names, links among it: each command's outcome does not matter. */
const NAMES = ["/a", "/b", "/d", "/d/a", "/d/b"];
const nameArb = fc.constantFrom(...NAMES);
const opArb = fc.oneof(
  fc.record({
    type: fc.constant("symlink"),
    path: nameArb,
    target: fc.string({ minLength: 1, maxLength: 8 }),
  }),
  fc.record({ type: fc.constant("commit"), path: nameArb, content: fc.constant(inline("c")) }),
  fc.record({ type: fc.constant("mkdir"), path: nameArb }),
  fc.record({ type: fc.constant("rename"), from: nameArb, to: nameArb }),
  fc.record({ type: fc.constant("delete"), path: nameArb, recursive: fc.boolean() }),
  fc.record({ type: fc.constant("setAttrs"), path: nameArb, uid: fc.nat(5) }),
);

describe("symbolic links (property)", () => {
  it("any history keeps the invariants and survives a snapshot round trip unchanged", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const h = new Harness();
        // A link to start from, so that every history has one to move, replace or remove.
        h.ok({ type: "mkdir", path: "/d" });
        h.ok({ type: "symlink", path: "/d/a", target: "../b" });
        for (const op of ops) h.send(op);
        h.fs.checkInvariants();
        const snap = h.fs.snapshot();
        const restored = FsState.restore(structuredClone(snap), DEFAULT_OPTS);
        restored.checkInvariants();
        expect(restored.stateHash()).toBe(h.fs.stateHash());
        // Inode numbers are not part of a snapshot (a restore numbers nodes afresh), all else is.
        const seen = (fs: FsState, path: string) => {
          try {
            const { ino: _ino, ...rest } = fs.stat(path);
            return rest;
          } catch (err) {
            return (err as { code: string }).code;
          }
        };
        for (const path of NAMES) expect(seen(restored, path)).toEqual(seen(h.fs, path));
        const links = snap.nodes.filter((n) => n.type === "symlink");
        for (const l of links) expect(h.fs.stat(l.path).target).toBe(l.target);
      }),
      { numRuns: 300 },
    );
  });
});
