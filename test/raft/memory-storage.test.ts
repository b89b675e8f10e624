/**
 * The in-memory Storage (src/raft/core/storage.ts): the simulator's disk and the model the LevelDB
 * store mirrors, so the core reads the same log through either. Checked against an array of terms:
 * appends truncate a conflicting suffix and skip what is compacted, compaction keeps the term at the
 * snapshot point, a snapshot from the leader replaces the log unless older, a clone survives later
 * writes to the original; and limitSize, which bounds every batch the core sends or applies.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { Entry } from "../../src/raft/core/index.js";
import { entrySizeBytes, limitSize, MemoryStorage } from "../../src/raft/core/storage.js";

const VOTERS = { voters: [1, 2, 3], learners: [], joining: [] };
const entry = (index: number, term: number, bytes = 1): Entry => ({
  index,
  term,
  data: new Uint8Array(bytes),
});

/** Model: terms[i] is the term of entry i (terms[first - 1] the snapshot's); below first-1, compacted. */
interface Model {
  first: number;
  terms: number[];
}

type Op =
  | { kind: "append"; at: number; count: number; term: number }
  | { kind: "compact"; at: number }
  | { kind: "snapshot"; at: number; term: number };

describe("MemoryStorage", () => {
  test("follows a model of terms through appends, compactions and incoming snapshots (property)", () => {
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constant("append" as const),
        at: fc.nat(30),
        count: fc.integer({ min: 0, max: 4 }),
        term: fc.integer({ min: 1, max: 5 }),
      }),
      fc.record({ kind: fc.constant("compact" as const), at: fc.nat(30) }),
      fc.record({
        kind: fc.constant("snapshot" as const),
        at: fc.nat(40),
        term: fc.integer({ min: 1, max: 5 }),
      }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 25 }), (ops) => {
        const s = new MemoryStorage(VOTERS);
        const m: Model = { first: 1, terms: [0] };
        const last = () => m.terms.length - 1;
        for (const o of ops) {
          if (o.kind === "append") {
            // The core appends contiguously: at most one past the end.
            const at = Math.min(o.at, last() + 1);
            if (at < 1) continue;
            const es = Array.from({ length: o.count }, (_, i) => entry(at + i, o.term));
            s.append(es);
            const lastNew = at + o.count - 1;
            if (o.count > 0 && lastNew >= m.first) {
              const from = Math.max(at, m.first);
              m.terms = m.terms.slice(0, from).concat(es.slice(from - at).map((e) => e.term));
            }
          } else if (o.kind === "compact") {
            if (o.at > last()) {
              expect(() => s.compact(o.at)).toThrow(/past last index/);
              continue;
            }
            s.compact(o.at);
            if (o.at > m.first - 1) m.first = o.at + 1;
          } else {
            const before = s.snapshot().meta.index;
            s.applySnapshot({ meta: { index: o.at, term: o.term, conf: VOTERS } });
            if (o.at > before) {
              m.first = o.at + 1;
              m.terms = [...Array(o.at).fill(undefined), o.term];
            }
          }
          expect(s.firstIndex()).toBe(m.first);
          expect(s.lastIndex()).toBe(last());
          for (let i = 0; i <= last() + 1; i++) {
            expect(s.term(i), `term(${i})`).toBe(i >= m.first - 1 && i <= last() ? m.terms[i] : undefined);
          }
          if (m.first <= last()) {
            const got = s.entries(m.first, last() + 1, Number.MAX_SAFE_INTEGER).map((e) => [e.index, e.term]);
            expect(got).toEqual(m.terms.slice(m.first).map((t, i) => [m.first + i, t]));
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  test("entries() refuses a range it does not hold", () => {
    const s = new MemoryStorage(VOTERS);
    s.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    s.compact(1);
    expect(() => s.entries(1, 3, 100)).toThrow(/out of range/);
    expect(() => s.entries(2, 5, 100)).toThrow(/out of range/);
    expect(() => s.entries(3, 2, 100)).toThrow(/out of range/);
    expect(s.entries(2, 4, 100).map((e) => e.index)).toEqual([2, 3]);
    expect(s.entries(2, 2, 100)).toEqual([]);
    expect(() => s.append([entry(5, 1)])).toThrow(/gap in log/);
  });

  test("createSnapshot records the term and configuration at an index and never goes back", () => {
    const s = new MemoryStorage(VOTERS);
    s.append([entry(1, 1), entry(2, 2), entry(3, 2)]);
    const conf = { voters: [1, 2], learners: [3], joining: [3] };
    expect(s.createSnapshot(2, conf).meta).toEqual({ index: 2, term: 2, conf });
    conf.voters.push(9); // the snapshot keeps its own copy
    expect(s.snapshot().meta.conf).toEqual({ voters: [1, 2], learners: [3], joining: [3] });
    expect(s.createSnapshot(1, VOTERS).meta.index).toBe(2);
    expect(() => s.createSnapshot(4, VOTERS)).toThrow(/past last index/);
    expect(s.initialState().conf).toEqual({ voters: [1, 2], learners: [3], joining: [3] });
    s.compact(3);
    expect(() => s.createSnapshot(2, VOTERS)).not.toThrow();
    // A snapshot needs the term at its index: compacted without one, it is gone.
    const t = new MemoryStorage(VOTERS);
    t.append([entry(1, 1), entry(2, 1), entry(3, 1)]);
    t.compact(2);
    expect(() => t.createSnapshot(1, VOTERS)).toThrow(/snapshot index 1 was compacted/);
  });

  test("a store made without a configuration starts with none (a server that joins later)", () => {
    expect(new MemoryStorage().initialState()).toEqual({
      hardState: { term: 0, vote: 0, commit: 0 },
      conf: { voters: [], learners: [], joining: [] },
    });
  });

  test("a clone keeps the state at the time it was taken", () => {
    const s = new MemoryStorage(VOTERS);
    s.append([entry(1, 1), entry(2, 1)]);
    s.setHardState({ term: 1, vote: 2, commit: 1 });
    const c = s.clone();
    s.append([entry(3, 1)]); // at the end
    s.append([entry(2, 2), entry(3, 2)]); // over a conflict
    s.setHardState({ term: 2, vote: 3, commit: 2 });
    expect(c.lastIndex()).toBe(2);
    expect(c.term(2)).toBe(1);
    expect(c.initialState().hardState).toEqual({ term: 1, vote: 2, commit: 1 });
    expect(s.initialState().hardState).toEqual({ term: 2, vote: 3, commit: 2 });
  });
});

describe("limitSize", () => {
  test("keeps the longest prefix within the budget, and at least one entry (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.nat(100), { maxLength: 8 }), fc.nat(400), (sizes, maxBytes) => {
        const es = sizes.map((b, i) => entry(i + 1, 1, b));
        const out = limitSize(es, maxBytes);
        expect(out).toEqual(es.slice(0, out.length));
        expect(out.length).toBe(Math.min(es.length, Math.max(out.length, 1)));
        const total = out.reduce((sum, e) => sum + entrySizeBytes(e), 0);
        if (out.length > 1) expect(total).toBeLessThanOrEqual(maxBytes);
        if (out.length < es.length) expect(total + entrySizeBytes(es[out.length]!)).toBeGreaterThan(maxBytes);
      }),
      { numRuns: 500 },
    );
  });

  test("an entry costs its bytes and 24 more", () => {
    expect(entrySizeBytes(entry(1, 1, 0))).toBe(24);
    expect(entrySizeBytes(entry(1, 1, 100))).toBe(124);
  });
});
