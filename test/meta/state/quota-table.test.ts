/**
 * The quota table itself (src/meta/state/quotas.ts's QuotaTable), below the namespace ops (issue 13,
 * the last mutation survivors of quotas.ts): a counter per top-level name that is the floored sum of
 * its charges, limits stored as exactly the limits set, no key for zero usage or absent limits, no
 * write for a charge that changes nothing, and the refusals that keep a corrupt store or snapshot from
 * merging into a live tree. The namespace ops never produce some of these states (a tree with bytes
 * but no names), so they are driven here through the table directly, against a model.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import {
  type QuotaLimits,
  QuotaTable,
  type QuotaUsage,
  quotaKey,
  usageKey,
} from "../../../src/meta/state/quotas.js";
import { encode } from "../../../src/meta/state/records.js";
import { Overlay } from "../../../src/meta/state/store.js";
import { DEFAULT_OPTS, Harness, inline } from "./helpers.js";

const NAMES = ["a", "b", "c"] as const;

/** A table over an overlay of an empty in-memory store (what apply gives an op). */
function table(): { tx: Overlay; q: QuotaTable } {
  const tx = new Overlay(new MemoryStore());
  return { tx, q: new QuotaTable(tx) };
}

/** A stored value's bytes as a plain array (Buffers and views compare by their bytes only then). */
const stored = (v: Uint8Array | undefined): number[] | undefined => (v === undefined ? undefined : [...v]);

/** The limits record as it must be stored: the limits set, bytes first, nothing for one not set. */
const limitsBytes = (l: QuotaLimits): number[] => [
  ...encode({ ...(l.bytes !== undefined && { b: l.bytes }), ...(l.files !== undefined && { f: l.files }) }),
];

type Step =
  | { kind: "charge"; top: string; delta: QuotaUsage }
  | { kind: "limit"; top: string; limits: QuotaLimits }
  | { kind: "clear"; top: string }
  | { kind: "move"; from: string; to: string }
  | { kind: "drop"; top: string };

const topArb = fc.constantFrom(...NAMES);
const limitsArb = fc
  .record({ bytes: fc.nat(40), files: fc.nat(6) }, { requiredKeys: [] })
  .filter((l) => l.bytes !== undefined || l.files !== undefined);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  {
    weight: 5,
    arbitrary: fc.record({
      kind: fc.constant("charge" as const),
      top: topArb,
      delta: fc.record({ bytes: fc.integer({ min: -15, max: 20 }), files: fc.integer({ min: -3, max: 3 }) }),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constant("limit" as const), top: topArb, limits: limitsArb }),
  },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("clear" as const), top: topArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("move" as const), from: topArb, to: topArb }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("drop" as const), top: topArb }) },
);

describe("QuotaTable", () => {
  it("usage is the floored sum of the charges below each name and limits are what was set, against a model (property)", () => {
    fc.assert(
      fc.property(fc.array(stepArb, { minLength: 1, maxLength: 30 }), (steps) => {
        const { tx, q } = table();
        const usage = new Map<string, QuotaUsage>();
        const limits = new Map<string, QuotaLimits>();
        const used = (top: string) => usage.get(top) ?? { bytes: 0, files: 0 };
        for (const s of steps) {
          if (s.kind === "charge") {
            const was = used(s.top);
            const next = {
              bytes: Math.max(0, was.bytes + s.delta.bytes),
              files: Math.max(0, was.files + s.delta.files),
            };
            const lim = limits.get(s.top);
            const over =
              (s.delta.files > 0 && lim?.files !== undefined && next.files > lim.files) ||
              (s.delta.bytes > 0 && lim?.bytes !== undefined && next.bytes > lim.bytes);
            const charge = () => q.charge(`/${s.top}/x`, s.delta);
            if (over) expect(charge).toThrow(`quota of /${s.top} exceeded by /${s.top}/x`);
            else {
              charge();
              usage.set(s.top, next);
            }
          } else if (s.kind === "limit") {
            q.setLimits(s.top, s.limits);
            limits.set(s.top, s.limits);
          } else if (s.kind === "clear") {
            q.clearLimits(s.top);
            limits.delete(s.top);
          } else if (s.kind === "drop") {
            expect(q.dropTop(s.top)).toEqual(used(s.top));
            usage.delete(s.top);
            limits.delete(s.top);
          } else {
            const taken = used(s.to).bytes !== 0 || used(s.to).files !== 0 || limits.has(s.to);
            if (taken) {
              expect(() => q.moveTop(s.from, s.to)).toThrow("assertion failed: free name");
              continue;
            }
            const [u, lim] = [used(s.from), limits.get(s.from)];
            usage.delete(s.from);
            limits.delete(s.from);
            usage.set(s.to, u);
            if (lim !== undefined) limits.set(s.to, lim);
            q.moveTop(s.from, s.to);
          }
          for (const top of NAMES) {
            const u = used(top);
            expect(q.usage(top), `usage of ${top}`).toEqual(u);
            // Zero usage has no key: a usage key is there exactly when something is used.
            expect(tx.get(usageKey(top)) !== undefined, `usage key of ${top}`).toBe(
              u.bytes !== 0 || u.files !== 0,
            );
            const lim = limits.get(top);
            expect(q.limits(top), `limits of ${top}`).toEqual(lim);
            expect(stored(tx.get(quotaKey(top))), `limits record of ${top}`).toEqual(
              lim === undefined ? undefined : limitsBytes(lim),
            );
          }
        }
      }),
      { numRuns: 300 },
    );
  });

  it("a charge at the root, at a top-level entry itself or of nothing writes nothing", () => {
    const { tx, q } = table();
    q.charge("/a/f", { bytes: 4, files: 1 });
    tx.take();
    q.charge("/", { bytes: 1, files: 1 });
    q.charge("/a", { bytes: 5, files: 1 });
    q.charge("/a/f", { bytes: 0, files: 0 });
    q.charge("/b/f", { bytes: 0, files: 0 });
    expect(tx.size).toBe(0);
  });

  it("a top-level rename onto a name that still has a counter or a quota is a bug, not a merge", () => {
    for (const stale of [usageKey("b"), quotaKey("b")]) {
      const { tx, q } = table();
      q.charge("/a/f", { bytes: 3, files: 1 });
      tx.put(stale, encode(stale === usageKey("b") ? { b: 1, f: 1 } : { f: 9 }));
      expect(() => q.moveTop("a", "b"), stale).toThrow("assertion failed: free name");
    }
  });

  it("the limits record holds only the limits set, through setQuota", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/p" });
    h.ok({ type: "setQuota", path: "/p", files: 5 });
    expect(stored(h.fs.store.get(quotaKey("p")))).toEqual([...encode({ f: 5 })]);
    h.ok({ type: "setQuota", path: "/p", bytes: 7 });
    expect(stored(h.fs.store.get(quotaKey("p")))).toEqual([...encode({ b: 7 })]);
  });

  it("a snapshot's quota that limits nothing is refused on restore", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/p/f", content: inline("abc"), createParents: true });
    const snap = h.fs.snapshot();
    expect(() => FsState.restore({ ...snap, quotas: [{ dir: "/p" }] }, DEFAULT_OPTS)).toThrow(
      "assertion failed: a quota limits something",
    );
    expect(FsState.restore({ ...snap, quotas: [{ dir: "/p", files: 2 }] }, DEFAULT_OPTS).quota("/p")).toEqual(
      {
        dir: "/p",
        limits: { files: 2 },
        usage: { bytes: 3, files: 1 },
      },
    );
  });
});
