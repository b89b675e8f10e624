import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DfsError } from "../../../src/common/errors.js";
import {
  ancestorsOf,
  baseName,
  isAncestor,
  isAncestorOrSelf,
  isNormalPath,
  joinPath,
  MAX_NAME_BYTES,
  MAX_PATH_BYTES,
  normalizePath,
  parentOf,
  pathDepth,
  utf8ByteLength,
} from "../../../src/common/paths.js";

describe("normalizePath", () => {
  it.each([
    ["/", "/"],
    ["/a", "/a"],
    ["/a/b", "/a/b"],
    ["/a/", "/a"],
    ["/a/b/", "/a/b"],
    ["/a b/ç/日本", "/a b/ç/日本"],
    ["/.hidden", "/.hidden"],
    ["/a.b/...", "/a.b/..."],
    ["/😀", "/😀"],
    [`/${"x".repeat(MAX_NAME_BYTES)}`, `/${"x".repeat(MAX_NAME_BYTES)}`],
  ])("accepts %j as %j", (input, expected) => {
    expect(normalizePath(input)).toBe(expected);
  });

  const longPath = `/${Array.from({ length: 20 }, () => "y".repeat(250)).join("/")}`;
  it.each([
    ["", "must start with /"],
    ["a/b", "must start with /"],
    ["//", "empty segment"],
    ["/a//b", "empty segment"],
    ["/a//", "empty segment"],
    ["//a", "empty segment"],
    ["/.", '"." segment'],
    ["/a/./b", '"." segment'],
    ["/..", '".." segment'],
    ["/a/../b", '".." segment'],
    ["/a\u0000b", "control character"],
    ["/a\nb", "control character"],
    ["/a\u007fb", "control character"],
    ["/a\u0085b", "control character"],
    ["/a\ud800b", "lone surrogate"],
    ["/a\udc00", "lone surrogate"],
    [`/${"x".repeat(MAX_NAME_BYTES + 1)}`, "name is longer"],
    [`/${"é".repeat(128)}`, "name is longer"],
    [longPath, "longer than 4096"],
  ])("refuses %j (%s)", (input, reason) => {
    let caught: unknown;
    try {
      normalizePath(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(DfsError);
    expect((caught as DfsError).code).toBe("INVALID_PATH");
    expect((caught as DfsError).message).toContain(reason);
  });

  it("refuses non-strings", () => {
    expect(() => normalizePath(42 as unknown as string)).toThrow(/not a string/);
    expect(() => normalizePath(undefined as unknown as string)).toThrow(DfsError);
  });

  it("accepts a path of exactly the byte limit, with a trailing slash too", () => {
    const segs: string[] = [];
    let len = 0;
    while (len + 201 <= MAX_PATH_BYTES) {
      segs.push("z".repeat(200));
      len += 201;
    }
    const rest = MAX_PATH_BYTES - len - 1;
    const p = `/${segs.join("/")}/${"w".repeat(rest)}`;
    expect(utf8ByteLength(p)).toBe(MAX_PATH_BYTES);
    expect(normalizePath(p)).toBe(p);
    expect(normalizePath(`${p}/`)).toBe(p);
    expect(() => normalizePath(`${p}w`)).toThrow(DfsError);
  });

  it("is idempotent and its output is normal (property)", () => {
    const segment = fc.string({ unit: "grapheme", minLength: 0, maxLength: 6 });
    fc.assert(
      fc.property(fc.array(segment, { maxLength: 5 }), fc.boolean(), (segs, trailing) => {
        const raw = `/${segs.join("/")}${trailing ? "/" : ""}`;
        let normal: string;
        try {
          normal = normalizePath(raw);
        } catch (err) {
          expect(err).toBeInstanceOf(DfsError);
          return;
        }
        expect(normalizePath(normal)).toBe(normal);
        expect(isNormalPath(normal)).toBe(true);
        expect(normal === "/" || !normal.endsWith("/")).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("path helpers", () => {
  it.each([
    ["/", "/", ""],
    ["/a", "/", "a"],
    ["/a/b", "/a", "b"],
    ["/a/b/c", "/a/b", "c"],
  ])("parentOf(%j) = %j, baseName = %j", (p, parent, base) => {
    expect(parentOf(p)).toBe(parent);
    expect(baseName(p)).toBe(base);
    if (p !== "/") expect(joinPath(parentOf(p), baseName(p))).toBe(p);
  });

  it.each([
    ["/", "/a", true],
    ["/", "/", false],
    ["/a", "/a/b", true],
    ["/a", "/a/b/c", true],
    ["/a", "/a", false],
    ["/a", "/ab", false],
    ["/a/b", "/a", false],
    ["/a b", "/a/b", false],
  ])("isAncestor(%j, %j) = %s", (a, b, expected) => {
    expect(isAncestor(a, b)).toBe(expected);
    expect(isAncestorOrSelf(a, b)).toBe(expected || a === b);
  });

  it("lists ancestors root first and counts depth", () => {
    expect(ancestorsOf("/")).toEqual([]);
    expect(ancestorsOf("/a")).toEqual(["/"]);
    expect(ancestorsOf("/a/b/c")).toEqual(["/", "/a", "/a/b"]);
    expect(pathDepth("/")).toBe(0);
    expect(pathDepth("/a/b/c")).toBe(3);
  });

  it("counts UTF-8 bytes", () => {
    expect(utf8ByteLength("a")).toBe(1);
    expect(utf8ByteLength("é")).toBe(2);
    expect(utf8ByteLength("日")).toBe(3);
    expect(utf8ByteLength("😀")).toBe(4);
    expect(utf8ByteLength("\ud800")).toBe(-1);
    fc.assert(
      fc.property(fc.string({ unit: "grapheme" }), (s) => {
        expect(utf8ByteLength(s)).toBe(Buffer.byteLength(s, "utf8"));
      }),
      { numRuns: 1000 },
    );
  });
});
