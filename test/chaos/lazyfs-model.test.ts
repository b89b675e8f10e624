/**
 * The power-loss layer's state (test/support/lazyfs/page-cache.ts) without FUSE, against a reference
 * written plainly (names → inode ids, contents as strings): after any sequence of writes, truncates,
 * renames, unlinks and fsyncs of files and of the directory, reads see every change, and the backing
 * directory — what a power cut leaves — holds exactly the fsynced names with their fsynced contents.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type FileNode, PageCache } from "../support/lazyfs/page-cache.js";

const NAMES = ["a", "b", "c"];

type Op =
  | { op: "write"; name: string; at: number; text: string }
  | { op: "truncate"; name: string; size: number }
  | { op: "rename"; from: string; to: string }
  | { op: "unlink"; name: string }
  | { op: "fsync"; name: string }
  | { op: "fsyncDir" };

const name = fc.constantFrom(...NAMES);
const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    op: fc.constant("write" as const),
    name,
    at: fc.integer({ min: 0, max: 12 }),
    text: fc.string({ minLength: 1, maxLength: 6, unit: fc.constantFrom("x", "y", "z") }),
  }),
  fc.record({ op: fc.constant("truncate" as const), name, size: fc.integer({ min: 0, max: 10 }) }),
  fc.record({ op: fc.constant("rename" as const), from: name, to: name }),
  fc.record({ op: fc.constant("unlink" as const), name }),
  fc.record({ op: fc.constant("fsync" as const), name }),
  fc.constant({ op: "fsyncDir" as const }),
);

/** The reference: what programs see, and what a power cut keeps. */
class Reference {
  names = new Map<string, number>();
  content = new Map<number, string>();
  durableNames = new Map<string, number>();
  durableContent = new Map<number, string>();
  private next = 1;

  constructor(initial: Record<string, string>) {
    for (const [n, text] of Object.entries(initial)) {
      const id = this.next++;
      this.names.set(n, id);
      this.durableNames.set(n, id);
      this.content.set(id, text);
      this.durableContent.set(id, text);
    }
  }

  apply(o: Op): void {
    switch (o.op) {
      case "write": {
        let id = this.names.get(o.name);
        if (id === undefined) {
          id = this.next++;
          this.names.set(o.name, id);
          this.content.set(id, "");
          this.durableContent.set(id, "");
        }
        const old = this.content.get(id)!;
        const padded = old.padEnd(o.at, "\0");
        this.content.set(id, padded.slice(0, o.at) + o.text + padded.slice(o.at + o.text.length));
        return;
      }
      case "truncate": {
        const id = this.names.get(o.name);
        if (id === undefined) return;
        this.content.set(id, this.content.get(id)!.slice(0, o.size).padEnd(o.size, "\0"));
        return;
      }
      case "rename": {
        const id = this.names.get(o.from);
        if (id === undefined || o.from === o.to) return;
        this.names.delete(o.from);
        this.names.set(o.to, id);
        return;
      }
      case "unlink":
        this.names.delete(o.name);
        return;
      case "fsync": {
        const id = this.names.get(o.name);
        if (id !== undefined) this.durableContent.set(id, this.content.get(id)!);
        return;
      }
      case "fsyncDir":
        this.durableNames = new Map(this.names);
    }
  }
}

function applyTo(cache: PageCache, o: Op): void {
  const file = (n: string): FileNode | null => {
    try {
      return cache.resolve(`/${n}`) as FileNode;
    } catch {
      return null;
    }
  };
  switch (o.op) {
    case "write": {
      const f = file(o.name) ?? cache.create(`/${o.name}`, 0o644);
      cache.write(f, Buffer.from(o.text), o.at);
      return;
    }
    case "truncate": {
      const f = file(o.name);
      if (f) cache.truncate(f, o.size);
      return;
    }
    case "rename":
      if (file(o.from) && o.from !== o.to) cache.rename(`/${o.from}`, `/${o.to}`);
      return;
    case "unlink":
      if (file(o.name)) cache.unlink(`/${o.name}`);
      return;
    case "fsync": {
      const f = file(o.name);
      if (f) cache.fsyncFile(f);
      return;
    }
    case "fsyncDir":
      cache.fsyncDir(cache.root);
  }
}

describe("lazyfs page cache against a reference", () => {
  it("reads see every change; the backing directory holds exactly what was fsynced", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 30 }), (ops) => {
        const dir = mkdtempSync(join(tmpdir(), "raftfs-lazyfs-model-"));
        try {
          writeFileSync(join(dir, "a"), "durable-a");
          const cache = new PageCache(dir);
          const ref = new Reference({ a: "durable-a" });
          for (const o of ops) {
            applyTo(cache, o);
            ref.apply(o);
          }
          // What programs see.
          const seen = [...cache.root.entries.keys()].sort();
          expect(seen).toEqual([...ref.names.keys()].sort());
          for (const [n, id] of ref.names) {
            const f = cache.resolve(`/${n}`) as FileNode;
            const buf = Buffer.alloc(64);
            const len = cache.read(f, buf, 64, 0);
            expect(buf.subarray(0, len).toString("latin1")).toBe(ref.content.get(id));
          }
          // What a power cut leaves.
          expect(readdirSync(dir).sort()).toEqual([...ref.durableNames.keys()].sort());
          for (const [n, id] of ref.durableNames) {
            expect(readFileSync(join(dir, n), "latin1"), `backing ${n}`).toBe(ref.durableContent.get(id));
          }
          // And a restart on it serves the same.
          const again = new PageCache(dir);
          expect([...again.root.entries.keys()].sort()).toEqual([...ref.durableNames.keys()].sort());
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      }),
      { numRuns: 300 },
    );
  });
});
