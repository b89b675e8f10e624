/**
 * The leader's live chunk tables (issue 13, mutation testing of chunk-mirror.ts). What a replica
 * relies on: over LevelDB (a store that scans only asynchronously) `loadChunkTables()` builds the
 * reference counts, the garbage list and the tombstones before the first entry, equal to what the
 * store holds; building them reads the three chunk tables' rows only, so opening a replica of a
 * million inline files costs nothing here (the module's promise); tables built before the writes are
 * kept current by each entry's write set; and the invariant check compares them whatever order the
 * chunks arrived in. And, for any write set (not only those apply makes), the mirror stays equal to a
 * recount of the store it follows.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { ChunkMirror } from "../../../src/meta/state/chunk-mirror.js";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { encode } from "../../../src/meta/state/records.js";
import type { KeyRange, StateStore, WriteSet } from "../../../src/meta/state/store.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness, inline } from "./helpers.js";

/** A store that, like the LevelDB one, scans only asynchronously; it counts the rows its scans yield. */
class AsyncOnlyStore implements StateStore {
  rowsScanned = 0;
  constructor(private readonly inner: MemoryStore) {}
  get(key: string): Uint8Array | undefined {
    return this.inner.get(key);
  }
  commit(writes: WriteSet, appliedIndex: number): void {
    this.inner.commit(writes, appliedIndex);
  }
  async *scan(range: KeyRange): AsyncGenerator<[string, Uint8Array]> {
    for await (const row of this.inner.scan(range)) {
      this.rowsScanned++;
      yield row;
    }
  }
}

/** An in-memory store that counts the rows its synchronous scans yield. */
class CountingStore extends MemoryStore {
  rowsScanned = 0;
  override *scanSync(range: KeyRange): Generator<[string, Uint8Array]> {
    for (const row of super.scanSync(range)) {
      this.rowsScanned++;
      yield row;
    }
  }
}

const ALL: KeyRange = { gte: "", lt: "\uffff" };

/** Two chunked files, a garbage chunk and a tombstone, beside `inlineFiles` inline files in a directory. */
function populated(inlineFiles: number): Harness {
  const h = new Harness();
  h.ok({ type: "mkdir", path: "/d" });
  for (let i = 0; i < inlineFiles; i++) h.ok({ type: "commit", path: `/d/f${i}`, content: inline(`${i}`) });
  h.ok({ type: "commit", path: "/f", content: chunked([1, 10], [2, 10]) });
  h.ok({ type: "commit", path: "/g", content: chunked([1, 10]) });
  h.ok({ type: "abandonChunks", chunkIds: [chunkId(3), chunkId(4)] });
  h.advance(10);
  h.ok({ type: "collectGarbage", chunkIds: [chunkId(4)], beforeMs: h.nowMs });
  return h;
}

/** A copy of the harness's rows in a new store of the given kind, as a replica reopening them. */
function reopened<S extends MemoryStore>(h: Harness, into: S): S {
  into.commit(new Map((h.fs.store as MemoryStore).scanSync(ALL)), h.index);
  return into;
}

/** Rows of the chunk tables: references (c), garbage (g), tombstones (t). */
function chunkRows(h: Harness): number {
  return [...(h.fs.store as MemoryStore).scanSync(ALL)].filter(([k]) => "cgt".includes(k[0] as string))
    .length;
}

function expectTables(fs: FsState, of: FsState): void {
  expect(new Map(fs.referencedChunks())).toEqual(new Map(of.referencedChunks()));
  expect(fs.garbageChunks()).toEqual(of.garbageChunks());
  expect(fs.tombstones()).toEqual(of.tombstones());
}

describe("the chunk tables of a replica over an async-only store", () => {
  it("are built by loadChunkTables before the first entry, equal to the store's", async () => {
    const h = populated(3);
    const store = new AsyncOnlyStore(reopened(h, new MemoryStore()));
    const fs = new FsState(DEFAULT_OPTS, store);
    await fs.loadChunkTables();
    expect(new Map(fs.referencedChunks())).toEqual(
      new Map([
        [chunkId(1), 2],
        [chunkId(2), 1],
      ]),
    );
    expect(fs.garbageChunks().map((g) => g.chunkId)).toEqual([chunkId(3)]);
    expect(fs.tombstones().map((t) => t.chunkId)).toEqual([chunkId(4)]);
    expectTables(fs, h.fs);
    // And kept current by the entries applied after opening.
    h.fs = fs; // the indexes go on over the reopened replica (its sessions are not in these rows)
    h.ok({ type: "delete", path: "/g" }, h.openSession());
    expect(new Map(fs.referencedChunks())).toEqual(
      new Map([
        [chunkId(1), 1],
        [chunkId(2), 1],
      ]),
    );
  });

  it("read only the chunk tables' rows, however many inline files the namespace holds", async () => {
    const h = populated(200);
    const store = new AsyncOnlyStore(reopened(h, new MemoryStore()));
    const fs = new FsState(DEFAULT_OPTS, store);
    store.rowsScanned = 0;
    await fs.loadChunkTables();
    expect(store.rowsScanned).toBe(chunkRows(h));
    expect(chunkRows(h)).toBeLessThan(10);
  });
});

describe("the chunk tables of an in-memory replica", () => {
  it("are built on first use from the chunk tables' rows only", () => {
    const h = populated(200);
    const store = reopened(h, new CountingStore());
    const fs = new FsState(DEFAULT_OPTS, store);
    store.rowsScanned = 0;
    expectTables(fs, h.fs);
    expect(store.rowsScanned).toBe(chunkRows(h));
  });

  it("built before the writes, follow every entry: references, garbage and tombstones", () => {
    const h = new Harness();
    expect(h.fs.referencedChunks().size).toBe(0); // built now, before any chunk exists
    const recount = (): FsState => new FsState(DEFAULT_OPTS, reopened(h, new MemoryStore()));
    const steps: [string, () => void][] = [
      ["commit", () => h.ok({ type: "commit", path: "/f", content: chunked([5, 10], [6, 10]) })],
      ["second reference", () => h.ok({ type: "commit", path: "/g", content: chunked([5, 10]) })],
      ["delete", () => h.ok({ type: "delete", path: "/f" })],
      ["abandon", () => h.ok({ type: "abandonChunks", chunkIds: [chunkId(7)] })],
      [
        "collect",
        () => {
          h.advance(10);
          h.ok({ type: "collectGarbage", chunkIds: [chunkId(6), chunkId(7)], beforeMs: h.nowMs });
        },
      ],
    ];
    for (const [name, step] of steps) {
      step();
      const fresh = recount();
      expect(new Map(h.fs.referencedChunks()), name).toEqual(new Map(fresh.referencedChunks()));
      expect(h.fs.garbageChunks(), name).toEqual(fresh.garbageChunks());
      expect(h.fs.tombstones(), name).toEqual(fresh.tombstones());
      h.fs.checkInvariants();
    }
    expect(new Map(h.fs.referencedChunks())).toEqual(new Map([[chunkId(5), 1]]));
    expect(h.fs.tombstones().map((t) => t.chunkId)).toEqual([chunkId(6), chunkId(7)]);
  });

  it("pass the invariant check when chunks arrived out of key order", () => {
    const h = new Harness();
    h.fs.referencedChunks(); // the live tables fill in arrival order; a recount fills in key order
    h.ok({ type: "commit", path: "/b", content: chunked([9, 10]) });
    h.ok({ type: "commit", path: "/a", content: chunked([1, 10]) });
    h.ok({ type: "abandonChunks", chunkIds: [chunkId(8)] });
    h.ok({ type: "abandonChunks", chunkIds: [chunkId(2)] });
    h.advance(10);
    h.ok({ type: "collectGarbage", chunkIds: [chunkId(8)], beforeMs: h.nowMs });
    h.ok({ type: "collectGarbage", chunkIds: [chunkId(2)], beforeMs: h.nowMs });
    expect([...h.fs.referencedChunks().keys()]).toEqual([chunkId(9), chunkId(1)]);
    expect(() => h.fs.checkInvariants()).not.toThrow();
  });
});

describe("ChunkMirror.update", () => {
  /** A row of one of the chunk tables, or of another table (inodes): put or deleted. */
  const write = fc.tuple(
    fc.constantFrom("c", "t", "g", "i"),
    fc.integer({ min: 1, max: 4 }),
    fc.option(fc.integer({ min: 0, max: 3 }), { nil: null }),
  );
  const value = (table: string, n: number): Uint8Array =>
    table === "c" ? encode({ r: n, s: 10 }) : table === "t" ? encode({ s: n, p: null, x: null }) : encode(n);
  const tables = (m: ChunkMirror) => ({
    refs: [...m.refs].sort(),
    tombstones: [...m.tombstones].sort(),
    garbage: [...m.garbage].sort(),
  });

  it("keeps the tables equal to a recount of the store after any sequence of write sets", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.array(write, { maxLength: 8 }), { maxLength: 8 }), async (batches) => {
        const store = new MemoryStore();
        const mirror = ChunkMirror.fromSync(store);
        for (const [i, batch] of batches.entries()) {
          const writes = new Map(
            batch.map(([table, id, n]) => [`${table}${chunkId(id)}`, n === null ? null : value(table, n)]),
          );
          mirror.update(writes);
          store.commit(writes, i + 1);
          expect(tables(mirror)).toEqual(tables(ChunkMirror.fromSync(store)));
          expect(() => mirror.checkAgainst(store)).not.toThrow();
        }
        expect(tables(await ChunkMirror.fromScan(store))).toEqual(tables(mirror));
      }),
      { numRuns: 200 },
    );
  });
});
