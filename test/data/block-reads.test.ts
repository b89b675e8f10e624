/**
 * Range reads read and check only the blocks they cover (per-block sums beside each chunk); whole
 * reads and the scrubber still hash the whole chunk.
 */
import { randomBytes } from "node:crypto";
import { readdir, readFile, truncate, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DfsError } from "../../src/common/errors.js";
import { BLOCK_BYTES, BlockSummer, sumBlocks } from "../../src/data/block-sums.js";
import { ChunkStore, readAt } from "../../src/data/chunk-store.js";
import {
  CHUNK_SIZE,
  getChunk,
  pipelineHeaders,
  putChunk,
  randomChunk,
  sha256,
  startNode,
  tempDir,
  ticketFor,
} from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  tmp = await tempDir();
});
afterAll(async () => {
  await tmp.remove();
});

let stores = 0;
/** A store whose chunk-file reads are counted. */
async function countingStore(dir = join(tmp.dir, `s${++stores}`)) {
  const counter = { bytes: 0 };
  const store = await ChunkStore.open(
    { dir, chunkSizeBytes: CHUNK_SIZE, freeSpaceReserveBytes: 0 },
    {
      readChunkFile: async (fh, position, length) => {
        const buf = await readAt(fh, position, length);
        counter.bytes += buf.byteLength;
        return buf;
      },
    },
  );
  return { store, counter, dir };
}

async function put(store: ChunkStore, data: Buffer): Promise<string> {
  const id = sha256(data);
  await store.write(
    id,
    data.length,
    (async function* () {
      yield data;
    })(),
  );
  return id;
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = (bytes[at] ?? 0) ^ 0xff;
  await writeFile(path, bytes);
}

const codeOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return "OK";
  } catch (err) {
    if (err instanceof DfsError) return err.code;
    throw err;
  }
};

describe("range reads through the server", () => {
  it("a range away from a corrupt block is served; a range over it is CORRUPT, never wrong bytes", async () => {
    const node = await startNode({ id: 7, dir: tmp.dir });
    try {
      const { id, data } = randomChunk(4 * BLOCK_BYTES + 100);
      const put = await putChunk(node.url, id, data, pipelineHeaders(ticketFor(id, data.length, [7])));
      expect(put.status).toBe(201);
      await flipByte(node.store.chunkPath(id), 3 * BLOCK_BYTES + 5);

      const good = await getChunk(node.url, id, { range: "bytes=100-199" });
      expect(good.status).toBe(206);
      expect(good.body.equals(data.subarray(100, 200))).toBe(true);
      const lastBlock = await getChunk(node.url, id, { range: `bytes=${4 * BLOCK_BYTES}-` });
      expect(lastBlock.body.equals(data.subarray(4 * BLOCK_BYTES))).toBe(true);

      const bad = await getChunk(node.url, id, { range: `bytes=${3 * BLOCK_BYTES}-${3 * BLOCK_BYTES + 9}` });
      expect(bad.status).toBe(500);
      expect(bad.json().code).toBe("CORRUPT");
      // Quarantined: reported, gone from the inventory.
      expect(node.store.has(id)).toBe(false);
      expect(node.store.corruptFound).toBe(1);
    } finally {
      await node.close();
    }
  });
});

describe("the chunk store's block sums", () => {
  it("a 1-byte range read reads one block, not the chunk; a whole read reads (and hashes) it all", async () => {
    const { store, counter } = await countingStore();
    const { data } = randomChunk(CHUNK_SIZE);
    const id = await put(store, data);
    counter.bytes = 0;
    const one = await store.readRange(id, 2_000_000, 2_000_001);
    expect(one.equals(data.subarray(2_000_000, 2_000_001))).toBe(true);
    expect(counter.bytes).toBe(BLOCK_BYTES);
    counter.bytes = 0;
    // Straddling a block boundary: two blocks.
    await store.readRange(id, BLOCK_BYTES - 1, BLOCK_BYTES + 1);
    expect(counter.bytes).toBe(2 * BLOCK_BYTES);
    counter.bytes = 0;
    expect((await store.read(id)).equals(data)).toBe(true);
    expect(counter.bytes).toBe(CHUNK_SIZE);
  });

  it("property: any range of any chunk reads back exactly its bytes", async () => {
    const { store } = await countingStore();
    const { data } = randomChunk(3 * BLOCK_BYTES + 777);
    const id = await put(store, data);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: data.length - 1 }),
        fc.integer({ min: 1, max: data.length }),
        async (start, len) => {
          const end = Math.min(data.length, start + len);
          expect((await store.readRange(id, start, end)).equals(data.subarray(start, end))).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("property: block sums do not depend on how the bytes arrived", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 3 * 1024 }),
        fc.array(fc.nat({ max: 3 * 1024 })),
        (bytes, cuts) => {
          const summer = new BlockSummer(256);
          const at = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
          let prev = 0;
          for (const c of [...at, bytes.length]) {
            summer.update(bytes.subarray(prev, c));
            prev = c;
          }
          expect(summer.finish()).toEqual(sumBlocks(bytes, 256));
        },
      ),
    );
  });

  it("a chunk without sums (written before them) is read whole and verified; the scrubber adds them", async () => {
    const { store, counter } = await countingStore();
    const { data } = randomChunk(5 * BLOCK_BYTES);
    const id = await put(store, data);
    await unlink(`${store.chunkPath(id)}.blocks`);
    counter.bytes = 0;
    expect((await store.readRange(id, 10, 20)).equals(data.subarray(10, 20))).toBe(true);
    expect(counter.bytes).toBe(data.length);
    expect((await store.verify(id)).result).toBe("ok");
    counter.bytes = 0;
    expect((await store.readRange(id, 10, 20)).equals(data.subarray(10, 20))).toBe(true);
    expect(counter.bytes).toBe(BLOCK_BYTES);
  });

  it("damaged sums read as absent (whole read, right bytes), never as a false CORRUPT", async () => {
    const { store } = await countingStore();
    const { data } = randomChunk(2 * BLOCK_BYTES);
    const id = await put(store, data);
    await flipByte(`${store.chunkPath(id)}.blocks`, 20);
    expect((await store.readRange(id, 0, 5)).equals(data.subarray(0, 5))).toBe(true);
    expect(store.has(id)).toBe(true);
  });

  it("sums that disagree with bytes the whole hash proves good are rewritten by the scrubber's verify", async () => {
    const { store } = await countingStore();
    const { data } = randomChunk(3 * BLOCK_BYTES);
    const id = await put(store, data);
    // Well-formed sums of other bytes (a bug's, say): a range read over them would be refused.
    await store.writeBlockSums(id, sumBlocks(randomChunk(3 * BLOCK_BYTES).data));
    expect((await store.verify(id)).result).toBe("ok");
    expect(
      (await store.readRange(id, BLOCK_BYTES, BLOCK_BYTES + 10)).equals(
        data.subarray(BLOCK_BYTES, BLOCK_BYTES + 10),
      ),
    ).toBe(true);
  });

  it("a truncated chunk file is CORRUPT on a range read", async () => {
    const { store } = await countingStore();
    const { data } = randomChunk(2 * BLOCK_BYTES);
    const id = await put(store, data);
    await truncate(store.chunkPath(id), BLOCK_BYTES);
    expect(await codeOf(store.readRange(id, 0, 5))).toBe("CORRUPT");
    expect(store.has(id)).toBe(false);
  });

  it("open removes sums whose chunk is gone and sums' temp files; delete removes both files", async () => {
    const { store, dir } = await countingStore();
    const { data } = randomChunk(BLOCK_BYTES + 1000); // two blocks: a chunk of one has no sums
    const id = await put(store, data);
    const folder = join(store.chunkPath(id), "..");
    // Sums of a chunk in the same folder that is not there (a crash between the two renames).
    await writeFile(join(folder, `${id.slice(0, 2)}${"c".repeat(62)}.blocks`), "x");
    await writeFile(join(folder, `${id}.blocks.tmp-${randomBytes(4).toString("hex")}`), "x");
    const reopened = await ChunkStore.open({ dir, chunkSizeBytes: CHUNK_SIZE, freeSpaceReserveBytes: 0 });
    expect((await readdir(folder)).sort()).toEqual([id, `${id}.blocks`].sort());
    expect((await reopened.readRange(id, 1, 2)).equals(data.subarray(1, 2))).toBe(true);
    await reopened.delete(id);
    expect(await readdir(folder)).toEqual([]);
  });

  it("property: a chunk of one block gets no sidecar, and every read of it is still checked", async () => {
    const { store } = await countingStore();
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: BLOCK_BYTES }), fc.nat(), fc.nat(), async (size, a, b) => {
        const { data } = randomChunk(size);
        const id = await put(store, data);
        expect(await readdir(join(store.chunkPath(id), ".."))).not.toContain(`${id}.blocks`);
        const [from, to] = [a % size, b % size].sort((x, y) => x - y) as [number, number];
        expect((await store.readRange(id, from, to + 1)).equals(data.subarray(from, to + 1))).toBe(true);
        expect((await store.verify(id)).result).toBe("ok");
        expect(await readdir(join(store.chunkPath(id), ".."))).not.toContain(`${id}.blocks`);
        await flipByte(store.chunkPath(id), b % size);
        expect(await codeOf(store.readRange(id, from, to + 1))).toBe("CORRUPT");
      }),
      { numRuns: 25 },
    );
  });
});
