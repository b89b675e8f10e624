/**
 * What mkdir, commit, rename and delete answer (issue 13, mutation testing of ops.ts): each refusal's
 * code, message and details as a client sees them, the quota usage each op leaves behind on its
 * top-level tree (counted with or without a quota set), which neighbouring locks fence an op, and the
 * path-length bound of a rename at exactly 4096 bytes.
 */
import { describe, expect, it } from "vitest";
import { MAX_PATH_BYTES } from "../../../src/common/paths.js";
import { chunked, chunkId, Harness, inline } from "./helpers.js";

describe("refusals name what was refused", () => {
  it("mkdir, commit, rename and delete: code, message and details", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a/b", parents: true });
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const cases: [Record<string, unknown> & { type: string }, Record<string, unknown>][] = [
      [
        { type: "mkdir", path: "/x/y" },
        { code: "NOT_FOUND", message: "parent directory /x does not exist", path: "/x" },
      ],
      [
        { type: "mkdir", path: "/a" },
        { code: "EXISTS", message: "/a already exists", path: "/a" },
      ],
      [
        { type: "commit", path: "/", content: inline("x") },
        { code: "IS_A_DIRECTORY", message: "/ is a directory", path: "/" },
      ],
      [
        { type: "commit", path: "/a", content: inline("x") },
        { code: "IS_A_DIRECTORY", message: "/a is a directory", path: "/a" },
      ],
      [
        { type: "commit", path: "/f", content: inline("x"), expectedVersion: 5 },
        {
          code: "VERSION_MISMATCH",
          message: "/f is at version 1, not 5",
          path: "/f",
          currentVersion: 1,
          expectedVersion: 5,
        },
      ],
      [
        { type: "rename", from: "/", to: "/z" },
        { code: "BAD_REQUEST", message: "cannot rename /", path: "/" },
      ],
      [
        { type: "rename", from: "/f", to: "/" },
        { code: "EXISTS", message: "/ already exists", path: "/" },
      ],
      [
        { type: "rename", from: "/a", to: "/a/b/c" },
        { code: "BAD_REQUEST", message: "cannot move /a into its own subtree", path: "/a", to: "/a/b/c" },
      ],
      [
        { type: "rename", from: "/nope", to: "/z" },
        { code: "NOT_FOUND", message: "/nope does not exist", path: "/nope" },
      ],
      [
        { type: "rename", from: "/f", to: "/a" },
        { code: "EXISTS", message: "/a already exists", path: "/a" },
      ],
      [
        { type: "delete", path: "/" },
        { code: "BAD_REQUEST", message: "cannot delete /", path: "/" },
      ],
      [
        { type: "delete", path: "/nope" },
        { code: "NOT_FOUND", message: "/nope does not exist", path: "/nope" },
      ],
      [
        { type: "delete", path: "/a" },
        { code: "NOT_EMPTY", message: "/a is not empty", path: "/a" },
      ],
    ];
    for (const [req, body] of cases) expect(h.err(req), JSON.stringify(req)).toEqual(body);
  });

  it("a commit naming collected chunks says how many and lists at most 16 of them", () => {
    const h = new Harness();
    const ids = Array.from({ length: 17 }, (_, i) => i + 1);
    h.ok({ type: "collectGarbage", chunkIds: ids.map(chunkId), beforeMs: h.nowMs + 1 });
    const e = h.err({
      type: "commit",
      path: "/f",
      content: chunked(...ids.map((i): [number, number] => [i, 10])),
    });
    expect(e).toMatchObject({
      code: "CHUNK_GONE",
      message: "17 chunk(s) of /f were garbage-collected before this commit; store them again",
      path: "/f",
    });
    expect(Object.keys(e).sort()).toEqual(["chunkIds", "code", "message", "path"]);
    expect(e.chunkIds).toHaveLength(16);
    expect(new Set(e.chunkIds as string[]).size).toBe(16);
    for (const id of e.chunkIds as string[]) expect(ids.map(chunkId)).toContain(id);
  });

  it("mkdir with parents over an existing directory changes nothing and reports no change", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a" });
    expect(h.send({ type: "mkdir", path: "/a", parents: true })).toEqual({
      ok: true,
      value: { created: [] },
      changes: [],
    });
  });
});

describe("quota usage follows each op (no quota needed to count)", () => {
  it("mkdir and commit with parents count each name they create", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/p/a/b", parents: true });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 0, files: 2 });
    h.ok({ type: "commit", path: "/p/c/d/f", content: inline("12345"), createParents: true });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 5, files: 5 });
  });

  it("an overwrite counts the new version's bytes less those of the versions it pushes out", () => {
    const h = new Harness({ versionsRetained: 2 });
    h.ok({ type: "mkdir", path: "/p" });
    for (const s of ["12345", "123456", "1234567"])
      h.ok({ type: "commit", path: "/p/f", content: inline(s) });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 6 + 7, files: 1 });
    h.ok({ type: "commit", path: "/p/f", content: inline("1") });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 7 + 1, files: 1 });
  });

  it("a delete below the top level gives back its names and every retained byte; the top level's own delete drops its quota", () => {
    const h = new Harness({ versionsRetained: 2 });
    h.ok({ type: "commit", path: "/p/d/f", content: inline("123"), createParents: true });
    h.ok({ type: "commit", path: "/p/d/f", content: inline("1234") });
    h.ok({ type: "commit", path: "/p/d/g", content: inline("12") });
    h.ok({ type: "commit", path: "/p/h", content: inline("1") });
    h.ok({ type: "setQuota", path: "/p", files: 10, bytes: 100 });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 10, files: 4 });
    h.ok({ type: "delete", path: "/p/d/g" });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 8, files: 3 });
    expect(h.ok({ type: "delete", path: "/p/d", recursive: true })).toEqual({ removed: 2 });
    expect(h.fs.quota("/p")).toEqual({
      dir: "/p",
      limits: { files: 10, bytes: 100 },
      usage: { bytes: 1, files: 1 },
    });
    h.ok({ type: "delete", path: "/p", recursive: true });
    h.ok({ type: "mkdir", path: "/p" });
    expect(h.fs.quota("/p")).toEqual({ dir: "/p", limits: null, usage: { bytes: 0, files: 0 } });
  });
});

describe("which locks fence an op", () => {
  const X = { type: "lockAcquire", mode: "exclusive", ttlMs: 60_000, owner: "x" } as const;

  it("another session's lock below a path does not fence mkdir or commit there; it fences a rename onto it", () => {
    const h = new Harness();
    const [a, b] = [h.openSession(), h.openSession()];
    h.ok({ ...X, path: "/m/x" }, a);
    h.ok({ ...X, path: "/c/x" }, a);
    h.ok({ ...X, path: "/r/x" }, a);
    h.ok({ type: "mkdir", path: "/m" }, b);
    h.ok({ type: "commit", path: "/c", content: inline("x") }, b);
    h.ok({ type: "mkdir", path: "/src" }, b);
    expect(h.err({ type: "rename", from: "/src", to: "/r" }, b).code).toBe("LOCKED");
    expect(h.fs.stat("/src").type).toBe("dir");
  });
});

describe("a rename's path-length bound", () => {
  /** `/d` followed by segments making a path of exactly `bytes` bytes. */
  function deepPath(bytes: number): string {
    let p = "/d";
    while (p.length + 251 <= bytes) p += `/${"s".repeat(250)}`;
    if (p.length < bytes) p += `/${"t".repeat(bytes - p.length - 1)}`;
    expect(p.length).toBe(bytes);
    return p;
  }

  it("a move that keeps the longest path at 4096 bytes applies; one byte more is refused, naming that path", () => {
    const h = new Harness();
    const full = deepPath(MAX_PATH_BYTES);
    h.ok({ type: "mkdir", path: full, parents: true });
    // Same length: nothing grows.
    h.ok({ type: "rename", from: "/d", to: "/e" });
    h.ok({ type: "rename", from: "/e", to: "/d" });
    const almost = deepPath(MAX_PATH_BYTES - 1);
    h.ok({ type: "delete", path: "/d", recursive: true });
    h.ok({ type: "mkdir", path: almost, parents: true });
    h.ok({ type: "rename", from: "/d", to: "/dd" });
    expect(h.fs.stat(`/dd${almost.slice(2)}`).type).toBe("dir");
    const grown = `/ddd${almost.slice(2)}`;
    expect(h.err({ type: "rename", from: "/dd", to: "/ddd" })).toEqual({
      code: "INVALID_PATH",
      message: `moving /dd${almost.slice(2)} would make its path longer than ${MAX_PATH_BYTES} bytes`,
      path: `/dd${almost.slice(2)}`,
    });
    expect(() => h.fs.stat(grown)).toThrow();
  });
});

describe("quota usage follows a rename", () => {
  it("within one tree nothing moves, even in a tree already over its quota", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/p/a", content: inline("123"), createParents: true });
    h.ok({ type: "commit", path: "/p/b", content: inline("45"), createParents: true });
    h.ok({ type: "setQuota", path: "/p", files: 1, bytes: 1 });
    h.ok({ type: "rename", from: "/p/a", to: "/p/c" });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 5, files: 2 });
  });

  it("a file with a dropped middle version carries its retained bytes to another tree", () => {
    const h = new Harness({ versionsRetained: 3 });
    for (const s of ["1", "22", "333"])
      h.ok({ type: "commit", path: "/p/f", content: inline(s), createParents: true });
    h.ok({ type: "dropVersion", path: "/p/f", version: 2 });
    h.ok({ type: "mkdir", path: "/q" });
    h.ok({ type: "rename", from: "/p/f", to: "/q/f" });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 0, files: 0 });
    expect(h.fs.quota("/q").usage).toEqual({ bytes: 4, files: 1 });
  });

  it("a directory moved up to the top level keeps what is below it, not itself; moved down, its quota goes", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/q/d/f", content: inline("123"), createParents: true });
    h.ok({ type: "commit", path: "/q/d/g", content: inline("4"), createParents: true });
    h.ok({ type: "rename", from: "/q/d", to: "/d" });
    expect(h.fs.quota("/q").usage).toEqual({ bytes: 0, files: 0 });
    expect(h.fs.quota("/d").usage).toEqual({ bytes: 4, files: 2 });
    h.ok({ type: "setQuota", path: "/d", files: 5 });
    h.ok({ type: "rename", from: "/d", to: "/q/d" });
    expect(h.fs.quota("/q").usage).toEqual({ bytes: 4, files: 3 });
    h.ok({ type: "mkdir", path: "/d" });
    expect(h.fs.quota("/d")).toEqual({ dir: "/d", limits: null, usage: { bytes: 0, files: 0 } });
    h.fs.checkInvariants();
  });
});
