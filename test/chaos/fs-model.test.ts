/**
 * The chaos oracle's own tests: the file-system model (fs-model.ts) against a plain reference written
 * differently (one mutable map, no copying), its sharpness (any wrong answer is refused), and its use
 * by the linearizability checker on histories known to be good and bad.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { checkLinearizable, type Operation } from "../support/linearizability/index.js";
import { type FsInput, type FsModelState, type FsOutput, fsModel } from "./fs-model.js";

const PATHS = ["/a", "/b", "/c"];

/** What the server answers, done the obvious way: files in one map, each with its value and version. */
class ReferenceFs {
  readonly files = new Map<string, { value: string; version: number }>();

  apply(input: FsInput): FsOutput {
    const f = input.kind === "rename" ? this.files.get(input.from) : this.files.get(input.path);
    switch (input.kind) {
      case "write":
        this.files.set(input.path, { value: input.value, version: (f?.version ?? 0) + 1 });
        return { version: (f?.version ?? 0) + 1 };
      case "cas":
        if ((f?.version ?? 0) !== input.expected) return { ok: false, code: "VERSION_MISMATCH" };
        this.files.set(input.path, { value: input.value, version: input.expected + 1 });
        return { version: input.expected + 1 };
      case "read":
        return f ? { value: f.value, version: f.version } : { missing: true };
      case "readData":
        return f ? { value: f.value } : { missing: true };
      case "delete":
        if (!f) return { ok: false, code: "NOT_FOUND" };
        this.files.delete(input.path);
        return { ok: true };
      case "rename":
        if (!f) return { ok: false, code: "NOT_FOUND" };
        // Onto an existing file (itself included) is refused: a rename never replaces.
        if (this.files.has(input.to)) return { ok: false, code: "EXISTS" };
        this.files.delete(input.from);
        this.files.set(input.to, f);
        return { ok: true };
    }
  }
}

const path = fc.constantFrom(...PATHS);
const value = fc.string({ minLength: 1, maxLength: 3 });
const inputArb: fc.Arbitrary<FsInput> = fc.oneof(
  fc.record({ kind: fc.constant("write" as const), path, value }),
  fc.record({ kind: fc.constant("cas" as const), path, value, expected: fc.nat(3) }),
  fc.record({ kind: fc.constant("read" as const), path }),
  fc.record({ kind: fc.constant("readData" as const), path }),
  fc.record({ kind: fc.constant("delete" as const), path }),
  fc.record({ kind: fc.constant("rename" as const), from: path, to: path }),
);

/** Answers a server could give to something: every shape, a few values. */
const anyOutput: FsOutput[] = [
  { version: 1 },
  { version: 2 },
  { version: 3 },
  { ok: true },
  { ok: false, code: "NOT_FOUND" },
  { ok: false, code: "EXISTS" },
  { ok: false, code: "VERSION_MISMATCH" },
  { missing: true },
  { value: "x", version: 1 },
  { value: "x" },
];

/** Runs the model over (input, output) pairs; returns the state, or the index of the first refusal. */
function play(steps: { input: FsInput; output: FsOutput | undefined }[]): FsModelState | number {
  let state = fsModel.init();
  for (const [i, s] of steps.entries()) {
    const r = fsModel.step(state, s.input, s.output);
    if (!r.ok) return i;
    state = r.state;
  }
  return state;
}

const sorted = (m: ReadonlyMap<string, unknown>) =>
  JSON.stringify([...m].sort(([a], [b]) => (a < b ? -1 : 1)));

describe("fs-model (the chaos oracle)", () => {
  test("agrees with the reference: every answer accepted, the same files afterwards", () => {
    fc.assert(
      fc.property(fc.array(inputArb, { maxLength: 40 }), (inputs) => {
        const ref = new ReferenceFs();
        const state = play(inputs.map((input) => ({ input, output: ref.apply(input) })));
        expect(typeof state).not.toBe("number");
        expect(sorted(state as FsModelState)).toBe(sorted(ref.files));
      }),
    );
  });

  test("is sharp: any other answer to any step is refused", () => {
    fc.assert(
      fc.property(fc.array(inputArb, { minLength: 1, maxLength: 20 }), (inputs) => {
        const ref = new ReferenceFs();
        const truth = inputs.map((input) => ({ input, output: ref.apply(input) as FsOutput | undefined }));
        // Every step, every other answer: each alone must be refused at that step.
        for (const [i, step] of truth.entries()) {
          for (const wrong of anyOutput) {
            if (JSON.stringify(wrong) === JSON.stringify(step.output)) continue;
            const steps = truth.map((s, j) => (j === i ? { ...s, output: wrong } : s));
            expect(play(steps), `${JSON.stringify(step.input)} answered ${JSON.stringify(wrong)}`).toBe(i);
          }
        }
      }),
    );
  });

  test("an unknown answer (a timeout) is accepted and the operation takes effect", () => {
    const state = play([
      { input: { kind: "write", path: "/a", value: "1" }, output: undefined },
      { input: { kind: "read", path: "/a" }, output: { value: "1", version: 1 } },
    ]);
    expect(typeof state).not.toBe("number");
  });

  test("a commit refused with CHUNK_GONE had no effect, for a write and a matching compare-and-set", () => {
    const gone: FsOutput = { ok: false, code: "CHUNK_GONE" };
    const state = play([
      { input: { kind: "write", path: "/a", value: "1" }, output: gone },
      { input: { kind: "cas", path: "/a", value: "2", expected: 0 }, output: gone },
      { input: { kind: "read", path: "/a" }, output: { missing: true } },
    ]);
    expect(typeof state).not.toBe("number");
    // A compare-and-set whose version does not match is refused for that, not for its chunks.
    expect(play([{ input: { kind: "cas", path: "/a", value: "1", expected: 2 }, output: gone }])).toBe(0);
  });

  test("a rename moves the file with its version; a new file at the old path starts again at 1", () => {
    const state = play([
      { input: { kind: "write", path: "/a", value: "1" }, output: { version: 1 } },
      { input: { kind: "write", path: "/a", value: "2" }, output: { version: 2 } },
      { input: { kind: "rename", from: "/a", to: "/b" }, output: { ok: true } },
      { input: { kind: "read", path: "/b" }, output: { value: "2", version: 2 } },
      { input: { kind: "readData", path: "/a" }, output: { missing: true } },
      { input: { kind: "write", path: "/a", value: "3" }, output: { version: 1 } },
    ]);
    expect(typeof state).not.toBe("number");
  });

  test("the state's hash ignores the order files were made in; only reads are read-only", () => {
    fc.assert(
      fc.property(fc.shuffledSubarray(PATHS, { minLength: PATHS.length }), (order) => {
        const writes = (paths: string[]) =>
          play(
            paths.map((p) => ({ input: { kind: "write", path: p, value: p } as FsInput, output: undefined })),
          );
        expect(fsModel.hash(writes(order) as FsModelState)).toBe(fsModel.hash(writes(PATHS) as FsModelState));
      }),
    );
    expect(fsModel.readOnly?.({ kind: "read", path: "/a" })).toBe(true);
    expect(fsModel.readOnly?.({ kind: "readData", path: "/a" })).toBe(true);
    expect(fsModel.readOnly?.({ kind: "write", path: "/a", value: "1" })).toBe(false);
  });

  describe("with the checker", () => {
    const op = (
      clientId: number,
      call: number,
      ret: number,
      input: FsInput,
      output: FsOutput | undefined,
    ): Operation<FsInput, FsOutput> => ({ clientId, call, ret, input, output });

    test("a read concurrent with a write may see either side", () => {
      for (const seen of [{ missing: true }, { value: "1", version: 1 }] as FsOutput[]) {
        const h = [
          op(1, 1, 4, { kind: "write", path: "/a", value: "1" }, { version: 1 }),
          op(2, 2, 3, { kind: "read", path: "/a" }, seen),
        ];
        expect(checkLinearizable(fsModel, h).ok).toBe(true);
      }
    });

    test("an acknowledged write that a later read does not see is rejected", () => {
      const h = [
        op(1, 1, 2, { kind: "write", path: "/a", value: "1" }, { version: 1 }),
        op(2, 3, 4, { kind: "read", path: "/a" }, { missing: true }),
      ];
      expect(checkLinearizable(fsModel, h).ok).toBe(false);
    });

    test("two compare-and-sets from one version cannot both succeed; a timed-out one may have", () => {
      const both = [
        op(1, 1, 3, { kind: "cas", path: "/a", value: "x", expected: 0 }, { version: 1 }),
        op(2, 2, 4, { kind: "cas", path: "/a", value: "y", expected: 0 }, { version: 1 }),
      ];
      expect(checkLinearizable(fsModel, both).ok).toBe(false);
      const maybe = [
        op(1, 1, Number.POSITIVE_INFINITY, { kind: "write", path: "/a", value: "x" }, undefined),
        op(2, 2, 3, { kind: "read", path: "/a" }, { value: "x", version: 1 }),
      ];
      expect(checkLinearizable(fsModel, maybe).ok).toBe(true);
    });
  });
});
