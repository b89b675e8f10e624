import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { isDfsError } from "../../src/common/errors.js";
import { ChunkStore, type InventoryChange, SPACE_SAMPLE_MS } from "../../src/data/chunk-store.js";
import { parseRange } from "../../src/data/range.js";
import { randomChunk, sha256, tempDir } from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
const open = (over: Partial<{ chunkSizeBytes: number; freeSpaceReserveBytes: number }> = {}) =>
  ChunkStore.open({
    dir: join(tmp.dir, "data-1"),
    chunkSizeBytes: 64 * 1024,
    freeSpaceReserveBytes: 0,
    ...over,
  });

async function* once(data: Uint8Array) {
  yield data;
}

beforeEach(async () => {
  tmp = await tempDir();
});
afterEach(async () => {
  await tmp.remove();
});

describe("chunk store", () => {
  it("stores a chunk under chunks/<first 2 hex>/<id> and reads it back verified", async () => {
    const store = await open();
    const { id, data } = randomChunk(1000);
    expect(await store.write(id, data.length, once(data))).toBe(true);
    expect(store.chunkPath(id)).toBe(join(tmp.dir, "data-1", "chunks", id.slice(0, 2), id));
    expect(await readFile(store.chunkPath(id))).toEqual(data);
    expect(await store.read(id)).toEqual(data);
    expect(store.usedBytes).toBe(1000);
    // A second write of the same chunk is idempotent: not new, same accounting.
    expect(await store.write(id, data.length, once(data))).toBe(false);
    expect(store.chunkCount).toBe(1);
    expect(store.usedBytes).toBe(1000);
  });

  it("refuses bytes that do not hash to the id and leaves no file behind", async () => {
    const store = await open();
    const { id } = randomChunk(100);
    const other = randomChunk(100).data;
    const err = await store.write(id, 100, once(other)).catch((e) => e);
    expect(isDfsError(err, "CHECKSUM_MISMATCH")).toBe(true);
    expect(store.has(id)).toBe(false);
    expect(await readdir(join(tmp.dir, "data-1", "chunks", id.slice(0, 2)))).toEqual([]);
  });

  it("refuses a body shorter or longer than declared", async () => {
    const store = await open();
    const { id, data } = randomChunk(100);
    expect(isDfsError(await store.write(id, 101, once(data)).catch((e) => e), "BAD_REQUEST")).toBe(true);
    expect(isDfsError(await store.write(id, 99, once(data)).catch((e) => e), "BAD_REQUEST")).toBe(true);
    expect(store.chunkCount).toBe(0);
  });

  it("never builds a path from an unchecked id", async () => {
    const store = await open();
    for (const bad of ["../../etc/passwd", "AB".repeat(32), "a".repeat(63), `${"a".repeat(64)}/x`, ""]) {
      expect(
        isDfsError(await store.write(bad, 0, once(Buffer.alloc(0))).catch((e) => e), "BAD_REQUEST"),
      ).toBe(true);
      expect(isDfsError(await store.read(bad).catch((e) => e), "BAD_REQUEST")).toBe(true);
      expect(isDfsError(await store.delete(bad).catch((e) => e), "BAD_REQUEST")).toBe(true);
    }
  });

  it("lists its inventory at open and removes the temp files a crash left", async () => {
    const first = await open();
    const a = randomChunk(10);
    const b = randomChunk(20);
    await first.write(a.id, 10, once(a.data));
    await first.write(b.id, 20, once(b.data));
    const folder = join(tmp.dir, "data-1", "chunks", a.id.slice(0, 2));
    const stale = `${a.id}.tmp-0123abcd`;
    await writeFile(join(folder, stale), "half a chunk");
    const again = await open();
    expect(again.ids().sort()).toEqual([a.id, b.id].sort());
    expect(again.usedBytes).toBe(30);
    expect(await readdir(folder)).not.toContain(stale);
  });

  it("quarantines a chunk whose bytes changed on disk, and reports it as corrupt", async () => {
    const store = await open();
    const { id, data } = randomChunk(5000);
    await store.write(id, data.length, once(data));
    const changes: InventoryChange[] = [];
    store.onChange((c) => changes.push(c));
    const onDisk = await readFile(store.chunkPath(id));
    onDisk[1234] = (onDisk[1234] ?? 0) ^ 0x01;
    await writeFile(store.chunkPath(id), onDisk);
    expect(isDfsError(await store.read(id).catch((e) => e), "CORRUPT")).toBe(true);
    expect(store.has(id)).toBe(false);
    expect(store.corruptFound).toBe(1);
    expect(changes).toEqual([{ kind: "corrupt", chunkId: id }]);
    expect(isDfsError(await store.read(id).catch((e) => e), "NOT_FOUND")).toBe(true);
  });

  it("refuses writes with NO_SPACE while the reserve is larger than the free space", async () => {
    const store = await open({ freeSpaceReserveBytes: Number.MAX_SAFE_INTEGER });
    const { id, data } = randomChunk(10);
    const err = await store.write(id, 10, once(data)).catch((e) => e);
    expect(isDfsError(err, "NO_SPACE")).toBe(true);
    expect(err.httpStatus).toBe(507);
    expect(store.chunkCount).toBe(0);
  });

  it("counts writes in progress against the free space", async () => {
    const free = 1000;
    const store = await ChunkStore.open(
      { dir: join(tmp.dir, "data-1"), chunkSizeBytes: 1000, freeSpaceReserveBytes: 100 },
      { space: async () => ({ freeBytes: free, capacityBytes: 10_000 }) },
    );
    const a = randomChunk(500);
    const b = randomChunk(500);
    expect((await store.spaceForChunks()).freeBytes).toBe(900);
    const w = await store.beginWrite(a.id, 500);
    // What the leader hears: free space less the reserve and the write in progress.
    expect((await store.spaceForChunks()).freeBytes).toBe(400);
    expect(isDfsError(await store.beginWrite(b.id, 500).catch((e) => e), "NO_SPACE")).toBe(true);
    await w.abort();
    const w2 = await store.beginWrite(b.id, 500);
    await w2.abort();
  });

  it("checks free space from one statfs a SPACE_SAMPLE_MS less its own stored chunks; a refusal takes a fresh one", async () => {
    let statfsCalls = 0;
    let freedElsewhere = 0;
    let nowMs = 0;
    const store = await ChunkStore.open(
      { dir: join(tmp.dir, "data-1"), chunkSizeBytes: 1000, freeSpaceReserveBytes: 100 },
      {
        // A disk of 1000 free bytes that fills as this node stores chunks.
        space: async () => {
          statfsCalls++;
          return { freeBytes: 1000 - store.usedBytes + freedElsewhere, capacityBytes: 10_000 };
        },
        now: () => nowMs,
      },
    );
    const put = async () => {
      const c = randomChunk(100);
      return store.write(c.id, 100, once(c.data)).then(
        () => "stored",
        (e: unknown) => (isDfsError(e, "NO_SPACE") ? "NO_SPACE" : e),
      );
    };
    // Nine chunks fit above the 100-byte reserve, as with a statfs per write; one sample served them.
    for (let i = 0; i < 9; i++) expect(await put()).toBe("stored");
    expect(statfsCalls).toBe(1);
    // The tenth would go below the reserve: refused, after a fresh statfs confirmed it.
    expect(await put()).toBe("NO_SPACE");
    expect(statfsCalls).toBe(2);
    // Room made by someone else: a write the sample would refuse takes a fresh statfs and is stored.
    freedElsewhere = 500;
    expect(await put()).toBe("stored");
    expect(statfsCalls).toBe(3);
    expect(await put()).toBe("stored");
    expect(statfsCalls).toBe(3);
    // An old sample is not used.
    nowMs += SPACE_SAMPLE_MS;
    expect(await put()).toBe("stored");
    expect(statfsCalls).toBe(4);
  });

  it("deletes idempotently", async () => {
    const store = await open();
    const { id, data } = randomChunk(1);
    await store.write(id, 1, once(data));
    expect(await store.delete(id)).toBe(true);
    expect(await store.delete(id)).toBe(false);
    expect(store.usedBytes).toBe(0);
  });

  it("stores the empty chunk", async () => {
    const store = await open();
    const empty = Buffer.alloc(0);
    const id = sha256(empty);
    await store.write(id, 0, once(empty));
    expect((await store.read(id)).length).toBe(0);
  });
});

describe("range parsing", () => {
  it("follows RFC 9110 for one range", () => {
    expect(parseRange(undefined, 10)).toBeNull();
    expect(parseRange("bytes=0-3", 10)).toEqual({ start: 0, end: 3 });
    expect(parseRange("bytes=5-", 10)).toEqual({ start: 5, end: 9 });
    expect(parseRange("bytes=-3", 10)).toEqual({ start: 7, end: 9 });
    expect(parseRange("bytes=-30", 10)).toEqual({ start: 0, end: 9 });
    expect(parseRange("bytes=8-100", 10)).toEqual({ start: 8, end: 9 });
    // Not understood: ignored, the whole chunk is served.
    expect(parseRange("bytes=0-1,3-4", 10)).toBeNull();
    expect(parseRange("items=0-1", 10)).toBeNull();
    expect(parseRange("bytes=5-2", 10)).toBeNull();
    expect(() => parseRange("bytes=10-", 10)).toThrow(/outside/);
    expect(() => parseRange("bytes=-0", 10)).toThrow(/outside/);
  });
});
