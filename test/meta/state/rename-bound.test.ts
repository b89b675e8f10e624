/**
 * The rename bound: a directory rename re-keys its whole subtree inside apply, on every replica, so
 * the entries one command may move (a rename's subtree; all renames of a txn together) are bounded by
 * `maxRenameEntries`. Refused in apply (deterministically: every replica refuses alike) and, before
 * proposing, by the leader's `checkRenameBound`.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DfsError } from "../../../src/common/errors.js";
import type { Command } from "../../../src/meta/state/index.js";
import { Harness, hashOf, inline } from "./helpers.js";

const MAX = 20;

/** `/d` holding `files` files (so its subtree is files + 1 entries), plus an empty `/out`. */
function tree(h: Harness, dir: string, files: number): void {
  h.ok({ type: "mkdir", path: dir, parents: true });
  for (let i = 0; i < files; i++) h.ok({ type: "commit", path: `${dir}/f${i}`, content: inline("x") });
}

function thrown(fn: () => void): DfsError {
  try {
    fn();
  } catch (err) {
    if (err instanceof DfsError) return err;
    throw err;
  }
  return expect.fail("expected a DfsError");
}

describe("rename bound (maxRenameEntries)", () => {
  it("a rename moving exactly the bound applies; one entry more is refused, naming the bound and the count, and changes nothing", () => {
    const h = new Harness({ maxRenameEntries: MAX });
    tree(h, "/a", MAX - 1); // MAX entries with the directory itself
    tree(h, "/b", MAX); // MAX + 1
    expect(h.ok({ type: "rename", from: "/a", to: "/a2" })).toEqual({ from: "/a", to: "/a2" });
    const e = h.err({ type: "rename", from: "/b", to: "/b2" });
    expect(e).toMatchObject({
      code: "RENAME_TOO_LARGE",
      path: "/b",
      entriesAtLeast: MAX + 1,
      maxRenameEntries: MAX,
    });
    expect(e.message).toContain(`maxRenameEntries (${MAX})`);
    expect(h.fs.stat("/b").type).toBe("dir");
    expect(() => h.fs.stat("/b2")).toThrow();
    // Only the session's remembered result and the applied index moved.
    expect(h.fs.partHashes().namespace).toBe(
      (() => {
        const again = new Harness({ maxRenameEntries: MAX });
        tree(again, "/a", MAX - 1);
        tree(again, "/b", MAX);
        again.ok({ type: "rename", from: "/a", to: "/a2" });
        return again.fs.partHashes().namespace;
      })(),
    );
  });

  it("a file, or a small directory, is far below the default bound", () => {
    const h = new Harness();
    tree(h, "/d", 50);
    h.ok({ type: "rename", from: "/d/f0", to: "/d/g0" });
    h.ok({ type: "rename", from: "/d", to: "/e" });
    expect(h.fs.stat("/e/g0").type).toBe("file");
  });

  it("a txn's renames share one budget: each under the bound, together over it, refused whole", () => {
    const h = new Harness({ maxRenameEntries: MAX });
    tree(h, "/a", 9); // 10 entries
    tree(h, "/b", 9); // 10
    tree(h, "/c", 0); // 1
    const ns = h.fs.partHashes().namespace;
    const e = h.err({
      type: "txn",
      conditions: [],
      ops: [
        { type: "rename", from: "/a", to: "/a2" },
        { type: "rename", from: "/b", to: "/b2" },
        { type: "rename", from: "/c", to: "/c2" },
      ],
    });
    expect(e).toMatchObject({
      code: "RENAME_TOO_LARGE",
      opIndex: 2,
      entriesAtLeast: MAX + 1,
      maxRenameEntries: MAX,
    });
    expect(h.fs.partHashes().namespace).toBe(ns);
    expect(h.fs.stat("/a").type).toBe("dir");
    // Moving the same subtree twice in one txn counts twice: the work is done twice.
    const twice = h.err({
      type: "txn",
      conditions: [],
      ops: [
        { type: "rename", from: "/a", to: "/x" },
        { type: "rename", from: "/x", to: "/y" },
        { type: "rename", from: "/c", to: "/c2" },
      ],
    });
    expect(twice).toMatchObject({ code: "RENAME_TOO_LARGE", opIndex: 2 });
    h.ok({
      type: "txn",
      conditions: [],
      ops: [
        { type: "rename", from: "/a", to: "/a2" },
        { type: "rename", from: "/b", to: "/b2" },
      ],
    });
  });

  it("apply refuses deterministically: a rename checked while small but applied after the tree grew is refused on every replica alike", () => {
    const replicas = [new Harness({ maxRenameEntries: MAX }), new Harness({ maxRenameEntries: MAX })];
    const leader = replicas[0]!;
    tree(leader, "/d", MAX - 5);
    const rename: Command = { type: "rename", from: "/d", to: "/e" } as Command;
    // The leader's check passes as the state stands...
    expect(() => leader.fs.checkRenameBound(rename)).not.toThrow();
    // ...then commits that were already in the log land first, and the rename's entry applies after.
    for (let i = 0; i < 10; i++) leader.ok({ type: "commit", path: `/d/late${i}`, content: inline("x") });
    const results = replicas.map((h, n) => {
      if (n > 0) {
        tree(h, "/d", MAX - 5);
        for (let i = 0; i < 10; i++) h.ok({ type: "commit", path: `/d/late${i}`, content: inline("x") });
      }
      return h.err({ type: "rename", from: "/d", to: "/e" });
    });
    expect(results[0]).toMatchObject({ code: "RENAME_TOO_LARGE" });
    expect(results[1]).toEqual(results[0]);
    expect(replicas[1]!.fs.stateHash()).toBe(leader.fs.stateHash());
  });

  it("the leader's check refuses a rename and a txn before they are proposed, and passes what apply would accept", () => {
    const h = new Harness({ maxRenameEntries: MAX });
    tree(h, "/big", MAX);
    tree(h, "/s", 4);
    const session = { id: 1, seq: 1, ackedSeq: 0, secretHash: hashOf(1) };
    const big = thrown(() =>
      h.fs.checkRenameBound({ type: "rename", from: "/big", to: "/x", session } as Command),
    );
    expect(big).toMatchObject({ code: "RENAME_TOO_LARGE" });
    expect(big.details).toMatchObject({ path: "/big", entriesAtLeast: MAX + 1, maxRenameEntries: MAX });
    const txn = thrown(() =>
      h.fs.checkRenameBound({
        type: "txn",
        conditions: [],
        ops: [
          { type: "mkdir", path: "/m" },
          { type: "rename", from: "/s", to: "/s2" },
          { type: "rename", from: "/big", to: "/x" },
        ],
        session,
      } as Command),
    );
    expect(txn.details).toMatchObject({ opIndex: 2, maxRenameEntries: MAX });
    expect(txn.message).toMatch(/^op 2 \(rename\): /);
    for (const ok of [
      { type: "rename", from: "/s", to: "/s2", session },
      { type: "rename", from: "/missing", to: "/x", session },
      { type: "commit", path: "/big/new", content: inline("x"), session },
      { type: "txn", conditions: [], ops: [{ type: "rename", from: "/s", to: "/s2" }], session },
    ]) {
      expect(() => h.fs.checkRenameBound(ok as Command)).not.toThrow();
    }
  });

  it("the leader's check lets a retry of an applied rename through, to get its first result, even if the tree grew since", () => {
    const h = new Harness({ maxRenameEntries: MAX });
    tree(h, "/a", 3);
    const id = h.openSession(); // the tree grows through the harness's other session
    const seq = h.nextSeq(id);
    const rename = {
      type: "rename",
      from: "/a",
      to: "/b",
      session: { id, seq, ackedSeq: seq - 1, secretHash: hashOf(id) },
    };
    expect(h.apply(rename)).toMatchObject({ ok: true, value: { from: "/a", to: "/b" } });
    tree(h, "/a", MAX); // a new /a, too large to move
    expect(() => h.fs.checkRenameBound(rename as Command)).not.toThrow();
    expect(h.apply(rename)).toMatchObject({ ok: true, value: { from: "/a", to: "/b" } });
    // A new request for the same move is refused.
    expect(() =>
      h.fs.checkRenameBound({ ...rename, session: { id, seq: seq + 100, ackedSeq: seq - 1 } } as Command),
    ).toThrow(/maxRenameEntries/);
  });

  it("property: the bounded count is the subtree's size, capped at the bound + 1", () => {
    // Random trees; the count the bound uses must agree with the subtree that would move.
    const name = fc.constantFrom("a", "b", "c", "d");
    const path = fc.array(name, { minLength: 1, maxLength: 4 }).map((xs) => `/${xs.join("/")}`);
    fc.assert(
      fc.property(
        fc.uniqueArray(path, { maxLength: 40 }),
        path,
        fc.integer({ min: 1, max: 12 }),
        (paths, probe, max) => {
          const h = new Harness({ maxRenameEntries: max });
          for (const p of paths) h.send({ type: "mkdir", path: p, parents: true });
          // Every directory that exists: the paths and all their ancestors.
          const all = new Set(
            paths.flatMap((p) =>
              p
                .split("/")
                .slice(1)
                .map((_, i, xs) => `/${xs.slice(0, i + 1).join("/")}`),
            ),
          );
          const size = [...all].filter((p) => p === probe || p.startsWith(`${probe}/`)).length;
          const r = h.send({ type: "rename", from: probe, to: "/zz" });
          if (size === 0) expect(r).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
          else if (size <= max) expect(r.ok).toBe(true);
          else
            expect(r).toMatchObject({
              ok: false,
              error: { code: "RENAME_TOO_LARGE", entriesAtLeast: max + 1 },
            });
        },
      ),
      { numRuns: 200 },
    );
  });
});
