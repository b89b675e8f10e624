import { describe, expect, it } from "vitest";
import { chunked, Harness, inline, visibleParts } from "./helpers.js";

describe("txn", () => {
  it("applies all ops in order when every condition holds, returning per-op results", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const r = h.send({
      type: "txn",
      conditions: [
        { kind: "exists", path: "/f", exists: true },
        { kind: "exists", path: "/d", exists: false },
        { kind: "version", path: "/f", version: 1 },
        { kind: "version", path: "/nope", version: 0 },
      ],
      ops: [
        { type: "mkdir", path: "/d" },
        { type: "rename", from: "/f", to: "/d/f" },
        { type: "commit", path: "/d/f", content: inline("y"), expectedVersion: 1 },
        { type: "commit", path: "/d/g", content: inline("z") },
        { type: "delete", path: "/d/g" },
      ],
    });
    expect(r).toEqual({
      ok: true,
      value: {
        results: [
          { created: ["/d"] },
          { from: "/f", to: "/d/f" },
          { version: 2 },
          { version: 1 },
          { removed: 1 },
        ],
      },
      changes: [
        { index: h.index, path: "/d", kind: "mkdir" },
        { index: h.index, path: "/f", kind: "rename", to: "/d/f" },
        { index: h.index, path: "/d/f", kind: "commit", version: 2 },
        { index: h.index, path: "/d/g", kind: "create", version: 1 },
        { index: h.index, path: "/d/g", kind: "delete" },
      ],
    });
  });

  it("a failed condition applies nothing and names the condition", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const before = visibleParts(h.fs);
    const e = h.err({
      type: "txn",
      conditions: [
        { kind: "exists", path: "/f", exists: true },
        { kind: "version", path: "/f", version: 2 },
      ],
      ops: [{ type: "mkdir", path: "/d" }],
    });
    expect(e).toMatchObject({ code: "CONDITION_FAILED", conditionIndex: 1 });
    expect(visibleParts(h.fs)).toEqual(before);
  });

  it("a failing op undoes the ops before it (all-or-nothing), and names the op", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]) });
    h.ok({ type: "commit", path: "/old/x", content: chunked([2, 10]), createParents: true });
    const before = visibleParts(h.fs);
    const stat = h.fs.stat("/");
    h.advance(10);
    const e = h.err({
      type: "txn",
      conditions: [],
      ops: [
        { type: "commit", path: "/f", content: chunked([3, 10]) },
        { type: "delete", path: "/old", recursive: true },
        { type: "mkdir", path: "/n/m", parents: true },
        { type: "rename", from: "/f", to: "/n/f" },
        { type: "commit", path: "/n", content: inline("boom") },
      ],
    });
    expect(e).toMatchObject({ code: "IS_A_DIRECTORY", opIndex: 4 });
    expect(visibleParts(h.fs)).toEqual(before);
    expect(h.fs.stat("/")).toEqual(stat);
    expect(h.fs.garbageChunks()).toEqual([]);
    h.fs.checkInvariants();
  });

  it("conditions on lock tokens, and fencing inside ops", () => {
    const h = new Harness();
    const t = h.ok<{ token: number }>({
      type: "lockAcquire",
      path: "/f",
      mode: "exclusive",
      ttlMs: 1000,
      owner: "o",
    }).token;
    const cond = (token: number) => [{ kind: "lockToken", path: "/f", token }];
    expect(h.err({ type: "txn", conditions: cond(t + 1), ops: [] }).code).toBe("CONDITION_FAILED");
    expect(h.ok({ type: "txn", conditions: cond(t), ops: [] })).toEqual({ results: [] });
    expect(
      h.err({
        type: "txn",
        conditions: cond(t),
        ops: [{ type: "commit", path: "/f", content: inline("x") }],
      }),
    ).toMatchObject({ code: "LOCKED", opIndex: 0 });
    h.ok({
      type: "txn",
      conditions: cond(t),
      ops: [{ type: "commit", path: "/f", content: inline("x"), lockToken: t }],
    });
    h.advance(1001);
    expect(h.err({ type: "txn", conditions: cond(t), ops: [] }).code).toBe("CONDITION_FAILED");
  });

  it("validates its shape and bounds", () => {
    const h = new Harness();
    expect(h.err({ type: "txn", conditions: [{ kind: "bogus", path: "/" }], ops: [] }).code).toBe(
      "BAD_REQUEST",
    );
    expect(h.err({ type: "txn", conditions: [], ops: [{ type: "txn" }] }).code).toBe("BAD_REQUEST");
    expect(
      h.err({ type: "txn", conditions: [], ops: Array(129).fill({ type: "mkdir", path: "/a" }) }).code,
    ).toBe("BAD_REQUEST");
    expect(h.err({ type: "txn", conditions: [], ops: [{ type: "mkdir", path: "bad" }] }).code).toBe(
      "INVALID_PATH",
    );
  });
});
