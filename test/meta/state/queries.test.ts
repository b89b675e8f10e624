/**
 * The read side as users call it (issue 13, mutation testing of queries.ts): a listing's pages over
 * the synchronous and the asynchronous scan (the one a LevelDB replica uses), what stat says of a
 * lock, and the refusals of list, versions and readVersion with the details a client acts on.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { chunked, Harness, inline } from "./helpers.js";

describe("a listing's pages", () => {
  const NAMES = ["a", "b", "b0", "c", "é", "z"];

  it("hold the names after startAfter, in code-unit order, at most limit of them, sync and async alike (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.subarray(NAMES),
        fc.option(fc.constantFrom(...NAMES, "", "b00", "zz"), { nil: undefined }),
        fc.option(fc.integer({ min: -2, max: 8 }), { nil: undefined }),
        async (names, startAfter, limit) => {
          const h = new Harness();
          h.ok({ type: "mkdir", path: "/d" });
          for (const n of names) h.ok({ type: "commit", path: `/d/${n}`, content: inline(n) });
          const after = [...names].sort().filter((n) => startAfter === undefined || n > startAfter);
          const want = after.slice(0, Math.max(0, limit ?? after.length));
          const opts = {
            ...(startAfter === undefined ? {} : { startAfter }),
            ...(limit === undefined ? {} : { limit }),
          };
          expect(h.fs.list("/d", opts).map((e) => e.name)).toEqual(want);
          expect((await h.fs.listAsync("/d", opts)).map((e) => e.name)).toEqual(want);
          expect(await h.fs.listAsync("/d", opts)).toEqual(h.fs.list("/d", opts));
        },
      ),
      { numRuns: 150 },
    );
  });

  it("a listing's entries say what each is: a file's version and size, a link's target, neither for a directory", async () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d/sub", parents: true });
    h.ok({ type: "commit", path: "/d/f", content: chunked([1, 10], [2, 5]) });
    h.ok({ type: "symlink", path: "/d/l", target: "../x" });
    const byName = Object.fromEntries((await h.fs.listAsync("/d")).map((e) => [e.name, e]));
    expect(byName.f).toMatchObject({ path: "/d/f", type: "file", version: 1, sizeBytes: 15 });
    expect(byName.l).toMatchObject({ path: "/d/l", type: "symlink", target: "../x" });
    expect(byName.sub).toMatchObject({ path: "/d/sub", type: "dir" });
    for (const key of ["version", "sizeBytes", "target"]) expect(byName.sub).not.toHaveProperty(key);
    expect(byName.f).not.toHaveProperty("target");
    expect(byName.l).not.toHaveProperty("version");
  });

  it("listing a file or a missing path is refused, sync and async alike", async () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const notDir = { code: "NOT_A_DIRECTORY", message: "/f is not a directory", details: { path: "/f" } };
    expect(() => h.fs.list("/f/")).toThrow(expect.objectContaining(notDir));
    await expect(h.fs.listAsync("/f")).rejects.toMatchObject(notDir);
    const missing = { code: "NOT_FOUND", message: "/x does not exist", details: { path: "/x" } };
    expect(() => h.fs.list("/x")).toThrow(expect.objectContaining(missing));
    await expect(h.fs.listAsync("/x")).rejects.toMatchObject(missing);
  });
});

describe("stat", () => {
  it("shows a lock only while a lease lives: exclusive if any holder is, else shared, with every holder", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    expect(h.fs.stat("/f")).not.toHaveProperty("lock");
    const a = h.openSession();
    const b = h.openSession();
    const shared = { type: "lockAcquire", path: "/f", mode: "shared", ttlMs: 1000 };
    h.ok({ ...shared, owner: "a" }, a);
    h.ok({ ...shared, owner: "b" }, b);
    expect(h.fs.stat("/f").lock).toMatchObject({
      mode: "shared",
      holders: [
        { mode: "shared", owner: "a" },
        { mode: "shared", owner: "b" },
      ],
    });
    h.advance(1001);
    h.ok({ type: "lockAcquire", path: "/f", mode: "exclusive", ttlMs: 1000, owner: "c" }, a);
    expect(h.fs.stat("/f").lock).toMatchObject({
      mode: "exclusive",
      holders: [{ mode: "exclusive", owner: "c" }],
    });
    h.advance(1001);
    h.ok({ type: "mkdir", path: "/later" });
    expect(h.fs.stat("/f")).not.toHaveProperty("lock");
  });

  it("a file has a version and size, a link its target, a directory neither", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "symlink", path: "/l", target: "d" });
    h.ok({ type: "commit", path: "/f", content: inline("abc") });
    expect(h.fs.stat("/f")).toMatchObject({ type: "file", version: 1, sizeBytes: 3 });
    expect(h.fs.stat("/f")).not.toHaveProperty("target");
    expect(h.fs.stat("/l")).toMatchObject({ type: "symlink", target: "d" });
    expect(h.fs.stat("/l")).not.toHaveProperty("version");
    for (const key of ["version", "sizeBytes", "target"]) expect(h.fs.stat("/d")).not.toHaveProperty(key);
  });
});

describe("versions and readVersion", () => {
  it("a directory, a link or a missing path has no versions, each refusal naming the path", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "symlink", path: "/l", target: "d" });
    for (const read of [(p: string) => h.fs.versions(p), (p: string) => h.fs.readVersion(p)]) {
      expect(() => read("/d/")).toThrow(
        expect.objectContaining({
          code: "IS_A_DIRECTORY",
          message: "/d is a directory",
          details: { path: "/d" },
        }),
      );
      expect(() => read("/l")).toThrow(
        expect.objectContaining({ code: "IS_A_SYMLINK", details: { path: "/l" } }),
      );
      expect(() => read("/x")).toThrow(
        expect.objectContaining({ code: "NOT_FOUND", message: "/x does not exist", details: { path: "/x" } }),
      );
    }
  });

  it("a version outside the retained range is NOT_FOUND with the range; each retained one is read with its kind", () => {
    const h = new Harness();
    for (const t of ["1", "2", "3", "4"]) h.ok({ type: "commit", path: "/f", content: inline(t) });
    h.ok({ type: "commit", path: "/f", content: chunked([1, 7]) });
    expect(h.fs.versions("/f").map((v) => [v.version, v.contentKind, v.sizeBytes])).toEqual([
      [3, "inline", 1],
      [4, "inline", 1],
      [5, "chunks", 7],
    ]);
    for (const version of [2, 6, 0, 3.5]) {
      expect(() => h.fs.readVersion("/f", version)).toThrow(
        expect.objectContaining({
          code: "NOT_FOUND",
          message: `/f has no retained version ${version}`,
          details: { path: "/f", version, oldestRetained: 3, latest: 5 },
        }),
      );
    }
    expect(h.fs.readVersion("/f", 3)).toMatchObject({
      version: 3,
      contentKind: "inline",
      content: inline("3"),
    });
    expect(h.fs.readVersion("/f")).toMatchObject({
      version: 5,
      contentKind: "chunks",
      content: chunked([1, 7]),
    });
  });
});
