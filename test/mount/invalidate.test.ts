/** Which kernel notifications a change of the feed calls for (src/mount/invalidate.ts). */
import { describe, expect, it } from "vitest";
import type { WireChange } from "../../src/common/protocol/index.js";
import { invalidationsFor } from "../../src/mount/invalidate.js";
import { encodeInvalEntry, encodeInvalInode } from "../../src/mount/protocol.js";

const known = new Map<string, bigint>([
  ["/", 1n],
  ["/d", 2n],
  ["/d/f", 3n],
  ["/e", 4n],
]);
const inoOf = (p: string) => known.get(p);
const change = (c: Omit<WireChange, "index">): WireChange => ({ index: 7, ...c });

describe("invalidations from the change feed", () => {
  it("a commit drops the file's attributes and pages and its name in the directory", () => {
    expect(invalidationsFor(change({ path: "/d/f", kind: "commit", version: 2 }), inoOf)).toEqual([
      encodeInvalInode(3n, true),
      encodeInvalEntry(2n, "f"),
    ]);
  });

  it("an attribute change drops attributes only", () => {
    expect(invalidationsFor(change({ path: "/d/f", kind: "attrs" }), inoOf)).toEqual([
      encodeInvalInode(3n, false),
      encodeInvalEntry(2n, "f"),
    ]);
  });

  it("a rename drops both names and both directories' attributes; unknown nodes are skipped", () => {
    expect(invalidationsFor(change({ path: "/d/f", kind: "rename", to: "/e/g" }), inoOf)).toEqual([
      encodeInvalInode(3n, false),
      encodeInvalEntry(2n, "f"),
      encodeInvalInode(2n, false),
      encodeInvalEntry(4n, "g"),
      encodeInvalInode(4n, false),
    ]);
    expect(invalidationsFor(change({ path: "/x/y", kind: "delete" }), inoOf)).toEqual([]);
  });

  it("locks change nothing the kernel caches", () => {
    expect(invalidationsFor(change({ path: "/d/f", kind: "lock" }), inoOf)).toEqual([]);
  });

  it("the notification layout: header (len, code, unique 0), then the fields", () => {
    const e = encodeInvalEntry(2n, "name");
    expect([e.readUInt32LE(0), e.readInt32LE(4), e.readBigUInt64LE(8)]).toEqual([e.byteLength, 3, 0n]);
    expect([e.readBigUInt64LE(16), e.readUInt32LE(24), e.subarray(32).toString()]).toEqual([2n, 4, "name\0"]);
    const i = encodeInvalInode(9n, false);
    expect([i.byteLength, i.readInt32LE(4), i.readBigUInt64LE(16), i.readBigInt64LE(24)]).toEqual([
      40,
      2,
      9n,
      -1n,
    ]);
  });
});
