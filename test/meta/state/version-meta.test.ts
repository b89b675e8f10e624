/**
 * Version metadata: a small string map a commit carries and that version keeps (S3's Content-Type and
 * x-amz-meta-*). Kept per version, not per file; bounded; carried by snapshots; absent from records
 * written before it existed.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { VERSION_META_MAX_BYTES, VERSION_META_MAX_ENTRIES } from "../../../src/common/protocol/index.js";
import { FsState } from "../../../src/meta/state/index.js";
import { decode, encode, type VersionRec } from "../../../src/meta/state/records.js";
import { chunked, DEFAULT_OPTS, Harness, inline } from "./helpers.js";

type Scan = { scanSync: (r: object) => Iterable<[string, Uint8Array]> };

function versionRecords(h: Harness): [string, Uint8Array][] {
  return [...(h.fs.store as unknown as Scan).scanSync({ gte: "v", lt: "w" })];
}

describe("version metadata", () => {
  it("each version keeps the metadata its commit carried, and only that", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("1"), meta: { "content-type": "text/plain" } });
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10]), meta: { "x-amz-meta-a": "b" } });
    h.ok({ type: "commit", path: "/f", content: inline("3") });
    expect(h.fs.readVersion("/f", 1).meta).toEqual({ "content-type": "text/plain" });
    expect(h.fs.readVersion("/f", 2).meta).toEqual({ "x-amz-meta-a": "b" });
    expect(h.fs.readVersion("/f").meta).toBeUndefined();
  });

  it("refuses metadata past its bounds, or not a map of strings, and changes nothing", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("1") });
    const tooMany = Object.fromEntries(
      Array.from({ length: VERSION_META_MAX_ENTRIES + 1 }, (_, i) => [`k${i}`, ""]),
    );
    const tooBig = { k: "x".repeat(VERSION_META_MAX_BYTES) };
    for (const meta of [tooMany, tooBig, { k: 1 }, [], "s", { "": "v" }, JSON.parse('{"__proto__":"x"}')]) {
      expect(h.err({ type: "commit", path: "/f", content: inline("2"), meta }).code).toBe("BAD_REQUEST");
    }
    expect(h.fs.stat("/f").version).toBe(1);
    // The bound itself is allowed: key and value bytes count, UTF-8.
    const full = { k: `${"é".repeat(100)}${"x".repeat(VERSION_META_MAX_BYTES - 201)}` };
    h.ok({ type: "commit", path: "/f", content: inline("2"), meta: full });
    expect(h.fs.readVersion("/f").meta).toEqual(full);
  });

  it("a version record written before metadata existed reads without it", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x"), meta: { a: "b" } });
    const [key, value] = versionRecords(h)[0]!;
    const { x: _x, ...old } = decode<VersionRec>(value);
    h.fs.store.commit(new Map([[key, encode(old)]]), h.index);
    const v = h.fs.readVersion("/f");
    expect(v.meta).toBeUndefined();
    expect(v.content).toEqual(inline("x"));
  });

  it("property: whatever the keys' order, replicas store the same bytes; snapshots keep the metadata", () => {
    const metaArb = fc.dictionary(
      fc.string({ minLength: 1, maxLength: 20 }).filter((k) => k !== "__proto__"),
      fc.string({ maxLength: 40 }),
      {
        maxKeys: 10,
      },
    );
    fc.assert(
      fc.property(
        fc.array(fc.option(metaArb, { nil: undefined }), { minLength: 1, maxLength: 6 }),
        (metas) => {
          const a = new Harness();
          const b = new Harness();
          for (const [i, meta] of metas.entries()) {
            const m = meta === undefined ? {} : { meta };
            const reversed =
              meta === undefined ? {} : { meta: Object.fromEntries(Object.entries(meta).reverse()) };
            a.ok({ type: "commit", path: "/f", content: inline(String(i)), ...m });
            b.ok({ type: "commit", path: "/f", content: inline(String(i)), ...reversed });
          }
          expect(b.fs.stateHash()).toBe(a.fs.stateHash());
          expect(versionRecords(b)).toEqual(versionRecords(a));
          const restored = FsState.restore(a.fs.snapshot(), DEFAULT_OPTS);
          expect(restored.stateHash()).toBe(a.fs.stateHash());
          for (const v of a.fs.versions("/f")) {
            const want = metas[v.version - 1];
            expect(restored.readVersion("/f", v.version).meta).toEqual(want);
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
