import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { SlicedScan } from "../../src/meta/sliced-scan.js";

/** A clock that steps `msPerRead` at every reading: how long a slice runs depends on it alone. */
function steppingClock(msPerRead: number) {
  let ms = 0;
  return () => {
    const t = ms;
    ms += msPerRead;
    return t;
  };
}

describe("sliced scan", () => {
  test("a slice ends when the injected clock passes its budget: (sliceMs + 1) clock reads of items", () => {
    const items = Array.from({ length: 10_000 }, (_, i) => i);
    const scan = new SlicedScan(() => items[Symbol.iterator](), {
      clockMs: steppingClock(1),
      sliceMs: 10,
      itemsPerClockRead: 256,
    });
    const seen: number[] = [];
    expect(scan.run((i) => seen.push(i))).toBe(false);
    expect(seen).toEqual(items.slice(0, 11 * 256));
  });

  test("passes visit every item once, in order, across slices; a restart begins again", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 3000 }),
        fc.integer({ min: 0, max: 20 }),
        fc.integer({ min: 1, max: 300 }),
        (length, sliceMs, itemsPerClockRead) => {
          const items = Array.from({ length }, (_, i) => i);
          const scan = new SlicedScan(() => items[Symbol.iterator](), {
            clockMs: steppingClock(1),
            sliceMs,
            itemsPerClockRead,
          });
          const seen: number[] = [];
          let rounds = 1;
          while (!scan.run((i) => seen.push(i))) rounds++;
          expect(seen).toEqual(items);
          // A pass that ends exactly at a slice's end learns so at the next round.
          expect(rounds).toBe(Math.floor(length / ((sliceMs + 1) * itemsPerClockRead)) + 1);
          scan.restart();
          const again: number[] = [];
          while (!scan.run((i) => again.push(i)));
          expect(again).toEqual(items);
        },
      ),
    );
  });

  test("a clock that does not move never cuts a pass; `visit` returning false stops it at once", () => {
    const items = Array.from({ length: 5000 }, (_, i) => i);
    const still = new SlicedScan(() => items[Symbol.iterator](), {
      clockMs: () => 0,
      sliceMs: 0,
      itemsPerClockRead: 1,
    });
    expect(still.run(() => undefined)).toBe(true);
    const seen: number[] = [];
    expect(
      still.run((i) => {
        seen.push(i);
        return i < 41;
      }),
    ).toBe(false);
    expect(seen).toHaveLength(42);
    expect(still.run((i) => seen.push(i))).toBe(true);
    expect(seen).toEqual(items);
  });
});
