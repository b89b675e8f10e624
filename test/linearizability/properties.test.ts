import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  checkLinearizable,
  type KvInput,
  type KvOutput,
  kvModel,
  type Model,
  type Operation,
} from "../support/linearizability/index.js";

type KvOp = Operation<KvInput, KvOutput>;
const INF = Number.POSITIVE_INFINITY;
const RUNS = 1000;

/** The same specification checked as one history: no per-key split, no dropping of timed-out reads. */
const flatKvModel: Model<ReadonlyMap<string, string>, KvInput, KvOutput> = {
  ...kvModel,
  partition: undefined,
  readOnly: undefined,
};

// ------------------------------------------------------------------ valid histories by construction

/**
 * One operation of a generated history. It is executed against a real map at its linearization point
 * 10 * (index + 1) (strictly increasing), and its [call, ret] interval is drawn around that point.
 * Fate: "done" returned its real result; "applied" took effect but never returned; "lost" never took
 * effect and never returned.
 */
interface Spec {
  key: number;
  kind: "put" | "get" | "cas";
  value: number;
  expected: number | null;
  casCurrent: boolean;
  before: number;
  after: number;
  fate: "done" | "applied" | "lost";
  clientId: number;
}

const specArb = (keys: number): fc.Arbitrary<Spec> =>
  fc.record({
    key: fc.nat(keys - 1),
    kind: fc.constantFrom("put", "get", "cas"),
    value: fc.nat(3),
    expected: fc.option(fc.nat(3), { nil: null }),
    casCurrent: fc.boolean(),
    before: fc.nat(30),
    after: fc.nat(30),
    fate: fc.oneof(
      { weight: 8, arbitrary: fc.constant("done" as const) },
      { weight: 1, arbitrary: fc.constant("applied" as const) },
      { weight: 1, arbitrary: fc.constant("lost" as const) },
    ),
    clientId: fc.nat(7),
  });

/**
 * Executes the specs sequentially against a map. With `overlap` false the intervals are at most 4 wide
 * on each side of points 10 apart, so no two operations overlap; otherwise up to 30 on each side.
 * A completed get of `finalKey` is appended (so every history has at least one read to corrupt).
 */
function execute(specs: Spec[], overlap: boolean, finalKey: number): KvOp[] {
  const store = new Map<string, string>();
  const ops: KvOp[] = [];
  const all: Spec[] = [
    ...specs,
    {
      key: finalKey,
      kind: "get",
      value: 0,
      expected: null,
      casCurrent: false,
      before: 3,
      after: 3,
      fate: "done",
      clientId: 99,
    },
  ];
  all.forEach((s, i) => {
    const point = 10 * (i + 1);
    const key = `k${s.key}`;
    const value = `v${s.value}`;
    const current = store.get(key) ?? null;
    let input: KvInput;
    let output: KvOutput;
    switch (s.kind) {
      case "put":
        input = { kind: "put", key, value };
        output = {};
        if (s.fate !== "lost") store.set(key, value);
        break;
      case "get":
        input = { kind: "get", key };
        output = { value: current };
        break;
      case "cas": {
        const expected = s.casCurrent ? current : s.expected === null ? null : `v${s.expected}`;
        input = { kind: "cas", key, expected, value };
        output = { ok: expected === current };
        if (expected === current && s.fate !== "lost") store.set(key, value);
        break;
      }
    }
    const before = overlap ? s.before : s.before % 5;
    const after = overlap ? s.after : s.after % 5;
    const done = s.fate === "done";
    ops.push({
      clientId: s.clientId,
      input,
      call: point - before,
      ret: done ? point + after : INF,
      output: done ? output : undefined,
    });
  });
  return ops;
}

const validHistoryArb = (keys: number, maxOps: number) =>
  fc
    .record({
      specs: fc.array(specArb(keys), { maxLength: maxOps }),
      overlap: fc.boolean(),
      finalKey: fc.nat(keys - 1),
      reversed: fc.boolean(),
    })
    .map(({ specs, overlap, finalKey, reversed }) => {
      const h = execute(specs, overlap, finalKey);
      return reversed ? h.reverse() : h;
    });

// ------------------------------------------------------------------ a brute-force reference

/**
 * Tries every order of the operations consistent with real time (a before b when a.ret < b.call),
 * where operations that never returned may also be left out. Exponential; for tiny histories only.
 */
function bruteForce<S, I, O>(model: Model<S, I, O>, ops: Operation<I, O>[]): boolean {
  const placed = ops.map(() => false);
  const mustPlace = ops.filter((o) => o.ret !== INF).length;
  const go = (state: S, placedFinite: number): boolean => {
    if (placedFinite === mustPlace) return true;
    for (let i = 0; i < ops.length; i++) {
      if (placed[i]) continue;
      const op = ops[i]!;
      if (ops.some((other, j) => !placed[j] && j !== i && other.ret < op.call)) continue;
      const r = model.step(state, op.input, op.output);
      if (!r.ok) continue;
      placed[i] = true;
      const found = go(r.state, placedFinite + (op.ret === INF ? 0 : 1));
      placed[i] = false;
      if (found) return true;
    }
    return false;
  };
  return go(model.init(), 0);
}

/**
 * Small arbitrary histories over two keys and two values, a third of the calls timed out, with many
 * timestamp ties and identical calls.
 */
const randomSmallHistoryArb: fc.Arbitrary<KvOp[]> = fc.array(
  fc
    .record({
      key: fc.constantFrom("a", "a", "b"),
      kind: fc.constantFrom("put", "get", "cas"),
      value: fc.constantFrom("x", "y"),
      expected: fc.constantFrom(null, "x", "y"),
      call: fc.nat(8),
      duration: fc.nat(5),
      timedOut: fc.nat(2).map((n) => n === 0),
      read: fc.constantFrom(null, "x", "y"),
      casOk: fc.boolean(),
      clientId: fc.nat(3),
    })
    .map((r): KvOp => {
      const input: KvInput =
        r.kind === "put"
          ? { kind: "put", key: r.key, value: r.value }
          : r.kind === "get"
            ? { kind: "get", key: r.key }
            : { kind: "cas", key: r.key, expected: r.expected, value: r.value };
      const output: KvOutput = r.kind === "put" ? {} : r.kind === "get" ? { value: r.read } : { ok: r.casOk };
      return {
        clientId: r.clientId,
        input,
        call: r.call,
        ret: r.timedOut ? INF : r.call + r.duration,
        output: r.timedOut ? undefined : output,
      };
    }),
  { maxLength: 7 },
);

/** Small valid histories, with one output possibly flipped to another plausible one. */
const perturbedSmallHistoryArb: fc.Arbitrary<KvOp[]> = fc
  .record({
    h: validHistoryArb(2, 6),
    at: fc.nat(),
    flip: fc.boolean(),
    read: fc.constantFrom(null, "v0", "v1"),
  })
  .map(({ h, at, flip, read }) => {
    if (!flip) return h;
    const i = at % h.length;
    const op = h[i]!;
    if (op.output === undefined) return h;
    const output: KvOutput =
      "value" in op.output ? { value: read } : "ok" in op.output ? { ok: !op.output.ok } : {};
    return h.map((o, j) => (j === i ? { ...o, output } : o));
  });

// ------------------------------------------------------------------ properties

describe("linearizability checker properties", () => {
  test("histories executed against a real map are accepted", () => {
    fc.assert(
      fc.property(validHistoryArb(3, 40), (h) => {
        const r = checkLinearizable(kvModel, h);
        if (r.ok !== true) throw new Error(`rejected a valid history: ${JSON.stringify(r)}`);
        expect(checkLinearizable(flatKvModel, h).ok).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  test("corrupting one read to a value never written to its key is rejected", () => {
    fc.assert(
      fc.property(validHistoryArb(3, 40), fc.nat(), fc.boolean(), (h, pick, fromOtherKey) => {
        const reads = h
          .map((op, i) => ({ op, i }))
          .filter(({ op }) => op.input.kind === "get" && op.ret !== INF && op.output !== undefined);
        const { op, i } = reads[pick % reads.length]!;
        const key = op.input.key;
        const writtenHere = new Set(
          h
            .filter((o) => o.input.key === key && o.input.kind !== "get")
            .map((o) => (o.input as { value: string }).value),
        );
        const elsewhere = h
          .filter((o) => o.input.key !== key && o.input.kind !== "get")
          .map((o) => (o.input as { value: string }).value)
          .filter((v) => !writtenHere.has(v));
        const bogus = fromOtherKey && elsewhere.length > 0 ? elsewhere[0]! : "never-written";
        const corrupted = h.map((o, j) => (j === i ? { ...o, output: { value: bogus } } : o));
        const r = checkLinearizable(kvModel, corrupted);
        expect(r.ok).toBe(false);
        if (r.ok === false) expect(r.partition.every((o) => o.input.key === key)).toBe(true);
        expect(checkLinearizable(flatKvModel, corrupted).ok).toBe(false);
      }),
      { numRuns: RUNS },
    );
  });

  test("agrees with brute force on small histories", () => {
    let accepted = 0;
    let rejected = 0;
    fc.assert(
      fc.property(fc.oneof(randomSmallHistoryArb, perturbedSmallHistoryArb), (h) => {
        const expected = bruteForce(flatKvModel, h);
        if (expected) accepted++;
        else rejected++;
        expect(checkLinearizable(kvModel, h).ok).toBe(expected);
        expect(checkLinearizable(flatKvModel, h).ok).toBe(expected);
      }),
      { numRuns: 2 * RUNS },
    );
    // Both verdicts are well represented, so the comparison means something.
    expect(accepted).toBeGreaterThan(RUNS / 5);
    expect(rejected).toBeGreaterThan(RUNS / 5);
  });

  test("the longest prefix of a rejected history is itself a valid linearization", () => {
    fc.assert(
      fc.property(fc.oneof(randomSmallHistoryArb, perturbedSmallHistoryArb), (h) => {
        const r = checkLinearizable(kvModel, h);
        if (r.ok !== false) return;
        let state = kvModel.init();
        for (const [i, op] of r.longestPrefix.entries()) {
          expect(r.partition).toContain(op);
          const s = kvModel.step(state, op.input, op.output);
          expect(s.ok).toBe(true);
          state = s.state;
          // Real-time order within the prefix.
          for (const later of r.longestPrefix.slice(i + 1)) expect(later.ret < op.call).toBe(false);
        }
        expect(r.longestPrefix.length).toBeLessThan(r.partition.length);
      }),
      { numRuns: RUNS },
    );
  });
});

describe("performance", () => {
  test("a 2000-operation, 10-key concurrent history checks quickly", () => {
    const [specs] = fc.sample(fc.array(specArb(10), { minLength: 2000, maxLength: 2000 }), {
      numRuns: 1,
      seed: 42,
    });
    const h = execute(specs!, true, 0);
    const start = Date.now();
    const r = checkLinearizable(kvModel, h, { timeoutMs: 20_000 });
    const elapsed = Date.now() - start;
    expect(r.ok).toBe(true);
    expect(elapsed).toBeLessThan(20_000);
    console.log(`2001 operations over 10 keys checked in ${elapsed} ms`);
  });

  test("a 2000-operation, 10-key history with one stale read is rejected quickly", () => {
    const [specs] = fc.sample(fc.array(specArb(10), { minLength: 2000, maxLength: 2000 }), {
      numRuns: 1,
      seed: 7,
    });
    const h = execute(specs!, true, 3);
    const last = h[h.length - 1]!;
    last.output = { value: "stale" };
    const start = Date.now();
    const r = checkLinearizable(kvModel, h, { timeoutMs: 20_000 });
    const elapsed = Date.now() - start;
    expect(r.ok).toBe(false);
    expect(elapsed).toBeLessThan(20_000);
    console.log(`2001 operations over 10 keys rejected in ${elapsed} ms`);
  });
});
