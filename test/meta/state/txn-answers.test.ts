/**
 * What a client is told about a transaction it sent (issue 13, mutation testing of txn.ts): which
 * condition failed, with the condition itself; which op failed, with that op's own code, message and
 * details; and what each kind of condition means on a directory, a missing path and another session's
 * lock. Nothing applies when a transaction is refused.
 */
import { describe, expect, it } from "vitest";
import { Harness, inline, visibleParts } from "./helpers.js";

const mkdir = (path: string) => ({ type: "mkdir", path });

describe("a transaction's answers", () => {
  it("a failed condition is named by index, kind and path, and carried whole", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const before = visibleParts(h.fs);
    const e = h.err({
      type: "txn",
      conditions: [
        { kind: "exists", path: "/f", exists: true },
        { kind: "version", path: "/f/", version: 2 },
      ],
      ops: [mkdir("/d")],
    });
    expect(e).toEqual({
      code: "CONDITION_FAILED",
      message: "condition 1 (version on /f) does not hold",
      conditionIndex: 1,
      condition: { kind: "version", path: "/f", version: 2 },
    });
    expect(visibleParts(h.fs)).toEqual(before);
  });

  it("exists: true holds only for a path that exists, false only for one that does not", () => {
    const h = new Harness();
    h.ok(mkdir("/d"));
    const exists = (path: string, want: boolean) => ({ kind: "exists", path, exists: want });
    for (const [cond, holds] of [
      [exists("/d", true), true],
      [exists("/d", false), false],
      [exists("/x", true), false],
      [exists("/x", false), true],
    ] as const) {
      const r = h.send({ type: "txn", conditions: [cond], ops: [] });
      expect(r.ok, JSON.stringify(cond)).toBe(holds);
      if (!r.ok) expect(r.error).toMatchObject({ code: "CONDITION_FAILED", conditionIndex: 0 });
    }
  });

  it("version: a missing path is at version 0; a directory or a link is at no version, not even 0", () => {
    const h = new Harness();
    h.ok(mkdir("/d"));
    h.ok({ type: "symlink", path: "/l", target: "d" });
    h.ok({ type: "commit", path: "/f", content: inline("1") });
    h.ok({ type: "commit", path: "/f", content: inline("2") });
    const version = (path: string, v: number) => ({ kind: "version", path, version: v });
    for (const [cond, holds] of [
      [version("/x", 0), true],
      [version("/x", 1), false],
      [version("/d", 0), false],
      [version("/l", 0), false],
      [version("/f", 2), true],
      [version("/f", 1), false],
      [version("/f", 0), false],
    ] as const) {
      const r = h.send({ type: "txn", conditions: [cond], ops: [] });
      expect(r.ok, JSON.stringify(cond)).toBe(holds);
    }
  });

  it("lockToken: only the session holding the lock may lean on its token", () => {
    const h = new Harness();
    const owner = h.openSession();
    const other = h.openSession();
    const { token } = h.ok<{ token: number }>(
      { type: "lockAcquire", path: "/f", mode: "exclusive", ttlMs: 1000, owner: "o" },
      owner,
    );
    const txn = { type: "txn", conditions: [{ kind: "lockToken", path: "/f", token }], ops: [] };
    expect(h.ok(txn, owner)).toEqual({ results: [] });
    expect(h.err(txn, other)).toMatchObject({ code: "CONDITION_FAILED", conditionIndex: 0 });
  });

  it("a failed op keeps its own code and details, its message prefixed with its index and type", () => {
    const h = new Harness();
    h.ok(mkdir("/d"));
    const alone = h.err({ type: "commit", path: "/d", content: inline("x") });
    const before = visibleParts(h.fs);
    const e = h.err({
      type: "txn",
      conditions: [],
      ops: [mkdir("/e"), { type: "commit", path: "/d", content: inline("x") }],
    });
    const { code, message, ...details } = alone;
    expect(e).toEqual({ ...details, code, message: `op 1 (commit): ${message}`, opIndex: 1 });
    expect(visibleParts(h.fs)).toEqual(before);
  });
});
