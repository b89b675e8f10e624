/**
 * The part boundaries a multipart completion keeps: the sizes survive their encoding, the ranges of
 * parts 1..N tile the object, and a part past the last is InvalidPart.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { S3Error } from "../../src/s3/errors.js";
import {
  decodePartSizes,
  encodePartSizes,
  MAX_PARTS,
  PARTS_META,
  partNumberQuery,
  partRange,
  partSizesOf,
} from "../../src/s3/parts.js";

// Uploads are mostly equal parts and a smaller last one: draw from a few sizes so runs occur.
const sizes = fc.array(fc.constantFrom(0, 1, 5 * 1024 * 1024, 5 * 1024 * 1024 + 1, 7), {
  minLength: 1,
  maxLength: 200,
});

function code(fn: () => unknown): string {
  try {
    fn();
    return "ok";
  } catch (err) {
    return (err as S3Error).code;
  }
}

describe("part sizes", () => {
  it("decode(encode(sizes)) is sizes", () => {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: Number.MAX_SAFE_INTEGER }), { minLength: 1, maxLength: 50 }),
        (s) => {
          expect(decodePartSizes(encodePartSizes(s))).toEqual(s);
        },
      ),
    );
    fc.assert(
      fc.property(sizes, (s) => {
        expect(decodePartSizes(encodePartSizes(s))).toEqual(s);
      }),
    );
  });

  it("10,000 equal parts and a last one encode in a few bytes", () => {
    const s = [...new Array<number>(MAX_PARTS - 1).fill(5 * 1024 * 1024), 12];
    expect(encodePartSizes(s)).toBe("5242880*9999,12");
  });

  it("the parts' ranges tile the object in order; part 0 and N+1 are InvalidPart", () => {
    fc.assert(
      fc.property(sizes, (s) => {
        const total = s.reduce((a, b) => a + b, 0);
        const meta = { [PARTS_META]: encodePartSizes(s) };
        const kept = partSizesOf(meta, total);
        expect(kept).toEqual(s);
        let next = 0;
        for (let n = 1; n <= s.length; n++) {
          const r = partRange(kept!, n);
          expect(r.start).toBe(next);
          expect(r.end - r.start + 1).toBe(s[n - 1]);
          next = r.end + 1;
        }
        expect(next).toBe(total);
        expect(code(() => partRange(kept!, s.length + 1))).toBe("InvalidPart");
        expect(code(() => partRange(kept!, 0))).toBe("InvalidPart");
      }),
    );
  });

  it("sizes that do not describe the object, or are not ours, are no parts (the object is one part)", () => {
    expect(partSizesOf({ [PARTS_META]: "5*2" }, 11)).toBeUndefined();
    expect(partSizesOf({ [PARTS_META]: "5*2" }, 10)).toEqual([5, 5]);
    for (const raw of ["", "x", "5*0", "5**2", "-1", "5,", `1*${MAX_PARTS + 1}`, "1*10000,1"]) {
      expect(decodePartSizes(raw)).toBeUndefined();
    }
    expect(partSizesOf(undefined, 0)).toBeUndefined();
  });

  it("partNumber is 1 to 10000", () => {
    expect(partNumberQuery(undefined)).toBeUndefined();
    expect(partNumberQuery("1")).toBe(1);
    expect(partNumberQuery("10000")).toBe(10_000);
    for (const bad of ["0", "10001", "01", "-1", "1.5", "", "a"]) {
      expect(code(() => partNumberQuery(bad))).toBe("InvalidArgument");
    }
  });
});
