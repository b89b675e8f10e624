import { readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ChunkStore, type InventoryChange } from "../../src/data/chunk-store.js";
import { Scrubber } from "../../src/data/scrubber.js";
import { randomChunk, tempDir, waitFor } from "./helpers.js";

let tmp: Awaited<ReturnType<typeof tempDir>>;
let store: ChunkStore;

async function* once(data: Uint8Array) {
  yield data;
}

async function flipByte(path: string, at: number): Promise<void> {
  const bytes = await readFile(path);
  bytes[at] = (bytes[at] ?? 0) ^ 0x04;
  await writeFile(path, bytes);
}

beforeEach(async () => {
  tmp = await tempDir();
  store = await ChunkStore.open({
    dir: join(tmp.dir, "data-1"),
    chunkSizeBytes: 1 << 20,
    freeSpaceReserveBytes: 0,
  });
});
afterEach(async () => {
  await tmp.remove();
});

describe("scrubber", () => {
  it("finds a flipped byte, quarantines the chunk and reports it as corrupt", async () => {
    const chunks = Array.from({ length: 5 }, () => randomChunk(10_000));
    for (const c of chunks) await store.write(c.id, c.data.length, once(c.data));
    const bad = chunks[2]!;
    await flipByte(store.chunkPath(bad.id), 9_999);
    const changes: InventoryChange[] = [];
    store.onChange((c) => changes.push(c));
    const scrubber = new Scrubber({ bytesPerSecond: 1e12, passIntervalMs: 60_000 }, { store });
    expect(await scrubber.runPass()).toEqual([bad.id]);
    expect(changes).toEqual([{ kind: "corrupt", chunkId: bad.id }]);
    expect(store.has(bad.id)).toBe(false);
    expect(store.chunkCount).toBe(4);
    expect(scrubber.progress()).toMatchObject({ chunksChecked: 5, corruptFound: 1, passes: 1 });
    expect(scrubber.progress().lastPassCompletedAtMs).not.toBeNull();
  });

  it("keeps to its read budget", async () => {
    const chunks = Array.from({ length: 4 }, () => randomChunk(50_000));
    for (const c of chunks) await store.write(c.id, c.data.length, once(c.data));
    // 200 000 bytes at 1 MB/s: the pass cannot finish in under ~200 ms.
    const scrubber = new Scrubber({ bytesPerSecond: 1_000_000, passIntervalMs: 60_000 }, { store });
    const started = performance.now();
    await scrubber.runPass();
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
  });

  it("runs in the background and stops promptly", async () => {
    const c = randomChunk(100);
    await store.write(c.id, 100, once(c.data));
    const scrubber = new Scrubber({ bytesPerSecond: 1e12, passIntervalMs: 10 }, { store });
    scrubber.start();
    await waitFor("two passes", () => scrubber.progress().passes >= 2);
    await scrubber.stop();
    const passes = scrubber.progress().passes;
    await new Promise((r) => setTimeout(r, 50));
    expect(scrubber.progress().passes).toBe(passes);
  });
});
