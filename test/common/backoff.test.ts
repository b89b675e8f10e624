import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { backoffMs, Deadline } from "../../src/common/backoff.js";

describe("backoff", () => {
  test("every pause lies in [ceiling/2, ceiling] and never exceeds the cap", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 200 }),
        fc.integer({ min: 1, max: 1000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        (attempt, baseMs, extra, r) => {
          const maxMs = baseMs + extra;
          const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempt, 30));
          const ms = backoffMs(attempt, { baseMs, maxMs }, () => r);
          expect(ms).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(ms).toBeLessThanOrEqual(ceiling);
          expect(ms).toBeLessThanOrEqual(maxMs);
        },
      ),
    );
  });

  test("grows exponentially until the cap, then stays there", () => {
    const mid = () => 0.5;
    const opts = { baseMs: 10, maxMs: 1000 };
    expect([0, 1, 2, 3, 4, 5, 6, 7, 20].map((a) => backoffMs(a, opts, mid))).toEqual([
      7, 15, 30, 60, 120, 240, 480, 750, 750,
    ]);
  });

  test("jitter spreads retries: two clients rarely pick the same pause", () => {
    const pauses = new Set(Array.from({ length: 50 }, () => backoffMs(6, { baseMs: 25, maxMs: 1000 })));
    expect(pauses.size).toBeGreaterThan(10);
  });

  test("a deadline counts down with the injected clock", () => {
    let now = 1000;
    const d = new Deadline(500, () => now);
    expect(d.remainingMs()).toBe(500);
    now = 1400;
    expect(d.remainingMs()).toBe(100);
    expect(d.expired()).toBe(false);
    now = 1600;
    expect(d.remainingMs()).toBe(0);
    expect(d.expired()).toBe(true);
  });
});
