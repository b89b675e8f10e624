/**
 * A directory's entries under any order of creates, deletes and renames (issue 13, mutation testing of
 * namespace.ts): a directory keeps its entries linked so that a subtree walk needs point reads only, and
 * an entry taken from the middle of that chain must leave its neighbours pointing at each other, or a
 * later delete of a neighbour fails. Judged by what users see: list, stat and error codes, against a
 * plain map of paths, after every command and after a snapshot is restored.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { DEFAULT_OPTS, Harness, inline } from "./helpers.js";

const DIRS = ["/d", "/e"] as const;
const NAMES = ["a", "b", "c", "d", "e"] as const;

type Kind = "file" | "dir";
type Op =
  | { type: "commit"; path: string }
  | { type: "mkdir"; path: string }
  | { type: "delete"; path: string }
  | { type: "rename"; from: string; to: string };

const pathArb = fc
  .tuple(fc.constantFrom(...DIRS), fc.constantFrom(...NAMES))
  .map(([dir, name]) => `${dir}/${name}`);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 3, arbitrary: pathArb.map((path): Op => ({ type: "commit", path })) },
  { weight: 2, arbitrary: pathArb.map((path): Op => ({ type: "mkdir", path })) },
  { weight: 3, arbitrary: pathArb.map((path): Op => ({ type: "delete", path })) },
  {
    weight: 3,
    arbitrary: fc.tuple(pathArb, pathArb).map(([from, to]): Op => ({ type: "rename", from, to })),
  },
);

/** The outcome a plain map of paths predicts (every name is a file or an empty directory). */
function predict(model: Map<string, Kind>, op: Op): string {
  switch (op.type) {
    case "commit":
      if (model.get(op.path) === "dir") return "IS_A_DIRECTORY";
      model.set(op.path, "file");
      return "ok";
    case "mkdir":
      if (model.has(op.path)) return "EXISTS";
      model.set(op.path, "dir");
      return "ok";
    case "delete":
      if (!model.delete(op.path)) return "NOT_FOUND";
      return "ok";
    case "rename": {
      const kind = model.get(op.from);
      if (kind === undefined) return "NOT_FOUND";
      if (model.has(op.to)) return "EXISTS";
      model.delete(op.from);
      model.set(op.to, kind);
      return "ok";
    }
  }
}

function expectListsMatch(fs: FsState, model: ReadonlyMap<string, Kind>): void {
  for (const dir of DIRS) {
    const want = [...model]
      .filter(([p]) => p.startsWith(`${dir}/`))
      .map(([p, type]) => ({ path: p, type }))
      .sort((x, y) => (x.path < y.path ? -1 : 1));
    expect(
      fs.list(dir).map((e) => ({ path: e.path, type: e.type })),
      `list ${dir}`,
    ).toEqual(want);
  }
}

describe("a directory's entries", () => {
  it("match a map of paths under any creates, deletes and renames, and survive a snapshot (property)", () => {
    fc.assert(
      fc.property(fc.array(opArb, { minLength: 1, maxLength: 40 }), (ops) => {
        const h = new Harness();
        for (const dir of DIRS) h.ok({ type: "mkdir", path: dir });
        const model = new Map<string, Kind>();
        for (const op of ops) {
          const want = predict(model, op);
          const r = h.send(op.type === "commit" ? { ...op, content: inline(op.path) } : op);
          expect(r.ok ? "ok" : r.error.code, JSON.stringify(op)).toBe(want);
          expectListsMatch(h.fs, model);
        }
        // Deleting every name left, in name order, walks each chain from every position.
        const restored = FsState.restore(h.fs.snapshot(), DEFAULT_OPTS);
        expectListsMatch(restored, model);
        for (const path of [...model.keys()].sort())
          expect(h.send({ type: "delete", path }).ok, path).toBe(true);
        for (const dir of DIRS) expect(h.fs.list(dir)).toEqual([]);
        h.fs.checkInvariants();
      }),
      { numRuns: 300 },
    );
  });

  it("an entry taken from the middle leaves both neighbours deletable (a, b, c; b goes; then a, then c)", () => {
    const h = new Harness();
    for (const n of ["a", "b", "c"])
      h.ok({ type: "commit", path: `/d/${n}`, content: inline(n), createParents: true });
    h.ok({ type: "delete", path: "/d/b" });
    h.ok({ type: "delete", path: "/d/a" });
    expect(h.fs.list("/d").map((e) => e.name)).toEqual(["c"]);
    h.ok({ type: "delete", path: "/d/c" });
    expect(h.fs.list("/d")).toEqual([]);
    expect(h.fs.stat("/d").type).toBe("dir");
    h.ok({ type: "delete", path: "/d" });
  });

  it("a file in the way of a missing directory is named in the error", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/p/f", content: inline("x"), createParents: true });
    for (const req of [
      { type: "mkdir", path: "/p/f/x/y", parents: true },
      { type: "commit", path: "/p/f/x", content: inline("y"), createParents: true },
    ]) {
      const e = h.err(req);
      expect(e).toMatchObject({ code: "NOT_A_DIRECTORY", path: "/p/f" });
      expect(e.message).toBe("/p/f is a file");
    }
  });
});
