/**
 * A chunk store opened on a fresh folder, on a power-loss disk (test/support/lazyfs): a chunk whose
 * write returned must survive a power cut right after it. The chunk file, its sidecar and its folder
 * entry were fsynced, but the folders the store had just created (its own, and any parent `mkdir -p`
 * made) were not entered durably in their parents, so a cut lost the whole store — the hole LevelDB
 * 1.20 has with a new database's first MANIFEST. The data power-loss test hid it with a sync(1).
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ChunkStore } from "../../src/data/chunk-store.js";
import { fuseUnavailable, LazyFs } from "../support/lazyfs/index.js";
import { randomChunk } from "./helpers.js";

const why = fuseUnavailable();
if (why) console.warn(`chunk store power-loss test skipped: ${why}`);

const CHUNK = 64 * 1024;

describe.skipIf(why !== null)("a new chunk store through a power cut", () => {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-store-power-"));
  let disk: LazyFs | undefined;

  afterAll(async () => {
    await disk?.unmount();
    rmSync(dir, { recursive: true, force: true });
  });

  it("keeps a chunk written into folders it had just created", { timeout: 60_000 }, async () => {
    disk = await LazyFs.mount(join(dir, "backing"), join(dir, "mnt"));
    // Two levels that do not exist yet, as on a node's first start under a fresh data folder.
    const opts = { dir: join(dir, "mnt", "data", "data-1"), chunkSizeBytes: CHUNK, freeSpaceReserveBytes: 0 };
    const store = await ChunkStore.open(opts);
    const { id, data } = randomChunk(CHUNK - 5);
    await store.write(
      id,
      data.byteLength,
      (async function* () {
        yield data;
      })(),
    );
    // The store holds no open file now; the power goes (and the machine with it).
    await disk.cut();
    await disk.mount();
    const after = await ChunkStore.open(opts);
    expect(after.has(id), `the acknowledged chunk was lost by the cut\n${disk.logs()}`).toBe(true);
    expect((await after.read(id)).equals(data)).toBe(true);
  });
});
