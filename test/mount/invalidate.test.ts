/** Which kernel notifications a change of the feed calls for (src/mount/invalidate.ts). */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { WireChange } from "../../src/common/protocol/index.js";
import { invalidationsFor, invalidationsForBatch } from "../../src/mount/invalidate.js";
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
  it("a commit drops the file's attributes and pages; its name still stands", () => {
    expect(invalidationsFor(change({ path: "/d/f", kind: "commit", version: 2 }), inoOf)).toEqual([
      encodeInvalInode(3n, true),
    ]);
  });

  it("an attribute change drops attributes only", () => {
    expect(invalidationsFor(change({ path: "/d/f", kind: "attrs" }), inoOf)).toEqual([
      encodeInvalInode(3n, false),
    ]);
  });

  it("a rename drops the old name and both directories' attributes; unknown nodes are skipped", () => {
    expect(invalidationsFor(change({ path: "/d/f", kind: "rename", to: "/e/g" }), inoOf)).toEqual([
      encodeInvalInode(3n, false),
      encodeInvalEntry(2n, "f"),
      encodeInvalInode(2n, false),
      encodeInvalInode(4n, false),
    ]);
    expect(invalidationsFor(change({ path: "/x/y", kind: "delete" }), inoOf)).toEqual([]);
  });

  it("only a name that went away loses its entry: a directory someone works in keeps it", () => {
    // Regression: an entry notice unhashes the kernel's dentry even while a process has its working
    // directory there; `git init` in a directory just made through the mount then failed ("unable to
    // get current working directory") when the mkdir's own change came back from the feed.
    const kinds: WireChange["kind"][] = ["create", "mkdir", "commit", "attrs", "rename", "delete"];
    fc.assert(
      fc.property(fc.constantFrom(...kinds), (kind) => {
        const c = change({ path: "/d", kind, ...(kind === "rename" ? { to: "/e" } : {}) });
        const entries = invalidationsFor(c, inoOf).filter((b) => b.readInt32LE(4) === 3);
        const gone = kind === "delete" || kind === "rename" ? [encodeInvalEntry(1n, "d")] : [];
        expect(entries).toEqual(gone);
        // The renamed-onto name holds another node's bytes now: its cached pages go.
        if (kind === "rename") expect(invalidationsFor(c, inoOf)).toContainEqual(encodeInvalInode(4n, true));
      }),
    );
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

describe("invalidations for a batch of changes", () => {
  const dirs = ["/d", "/e", "/d/s"];
  const arbChange = fc.record({
    dir: fc.constantFrom(...dirs),
    name: fc.integer({ min: 0, max: 9 }).map((i) => `n${i}`),
    kind: fc.constantFrom<WireChange["kind"]>(
      "create",
      "commit",
      "delete",
      "attrs",
      "mkdir",
      "rename",
      "lock",
    ),
    toDir: fc.constantFrom(...dirs),
  });
  const asChange = (x: { dir: string; name: string; kind: WireChange["kind"]; toDir: string }): WireChange =>
    change({
      path: `${x.dir}/${x.name}`,
      kind: x.kind,
      ...(x.kind === "rename" ? { to: `${x.toDir}/${x.name}x` } : {}),
    });

  /** The start (header and node id) of an inode notice for `ino`, in hex. */
  const inodeHeadOf = (ino: bigint) => encodeInvalInode(ino, false).subarray(0, 24).toString("hex");

  it("covers every notice of every change, once; below a bulk directory, those of the nodes the kernel holds", () => {
    fc.assert(
      fc.property(
        fc.array(arbChange, { maxLength: 60 }),
        fc.integer({ min: 1, max: 12 }),
        fc.func(fc.boolean()),
        (raw, bulkPerDir, knows) => {
          const changes = raw.map(asChange);
          let next = 10n;
          const table = new Map<string, bigint>([["/", 1n]]);
          const inoOf = (p: string) => {
            if (!table.has(p) && knows(p)) table.set(p, next++);
            return table.get(p);
          };
          const { notices, bulkDirs } = invalidationsForBatch(changes, inoOf, bulkPerDir);
          const keys = notices.map((b) => b.toString("hex"));
          expect(new Set(keys).size).toBe(keys.length);
          const bulk = new Set(bulkDirs);
          for (const d of bulkDirs) expect(keys).toContain(encodeInvalInode(inoOf(d)!, true).toString("hex"));
          const allowed = new Set(bulkDirs.map((d) => encodeInvalInode(inoOf(d)!, true).toString("hex")));
          for (const c of changes) {
            const own = invalidationsFor(c, inoOf).map((b) => b.toString("hex"));
            for (const k of own) allowed.add(k);
            const paths = c.to === undefined ? [c.path] : [c.path, c.to];
            const covered = paths.every((p) => bulk.has(p.slice(0, p.lastIndexOf("/")) || "/"));
            // Below a bulk directory, a node the kernel holds still loses its attributes.
            const needed = covered
              ? own.filter((k) =>
                  paths.some((p) => inoOf(p) !== undefined && k.startsWith(inodeHeadOf(inoOf(p)!))),
                )
              : own;
            for (const k of needed) expect(keys).toContain(k);
          }
          for (const k of keys) expect(allowed.has(k)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a thousand files changed in one directory: one notice, plus one per file the kernel holds", () => {
    const table = new Map<string, bigint>([
      ["/", 1n],
      ["/big", 2n],
    ]);
    const changes: WireChange[] = [];
    for (let i = 0; i < 1000; i++) changes.push(change({ path: `/big/f${i}`, kind: "commit", version: 2 }));
    // The kernel holds 10 of the files (looked up, not forgotten).
    for (let i = 0; i < 10; i++) table.set(`/big/f${i}`, BigInt(100 + i));
    const inoOf = (p: string) => table.get(p);
    // Each commit alone: an inode notice for each held file (a commit leaves names and listing as they were).
    expect(changes.flatMap((c) => invalidationsFor(c, inoOf))).toHaveLength(10);
    expect(invalidationsForBatch(changes, inoOf)).toEqual({
      notices: [
        encodeInvalInode(2n, true),
        ...[...Array(10).keys()].map((i) => encodeInvalInode(BigInt(100 + i), true)),
      ],
      bulkDirs: ["/big"],
    });
    // A deleted file the kernel holds also loses its name.
    const del = [...changes.slice(0, 99), change({ path: "/big/f0", kind: "delete" })];
    expect(invalidationsForBatch(del, inoOf).notices).toContainEqual(encodeInvalEntry(2n, "f0"));
    // Below the threshold every file keeps its own notices; the directory's are not repeated.
    const few = changes.slice(0, 3).map((c) => ({ ...c, kind: "delete" as const }));
    expect(invalidationsForBatch(few, inoOf).notices).toEqual([
      encodeInvalInode(100n, true),
      encodeInvalEntry(2n, "f0"),
      encodeInvalInode(2n, false),
      encodeInvalInode(101n, true),
      encodeInvalEntry(2n, "f1"),
      encodeInvalInode(102n, true),
      encodeInvalEntry(2n, "f2"),
    ]);
  });
});
