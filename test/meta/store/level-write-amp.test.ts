/**
 * The state store's LevelDB as the namespace grows by creates: what it writes to table files stays a
 * small multiple of what it holds, instead of rewriting the level below after every memtable flush
 * (bench/RESULTS.md, issue 15, steady15: the write rate fell as the file count grew).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, expect, it } from "vitest";
import { encode, entryKey, inodeKey, META_KEY } from "../../../src/meta/state/records.js";
import { LevelStore } from "../../../src/meta/store/level-store.js";

const dirs: string[] = [];

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

it("a namespace grown by 80,000 creates is written to LevelDB's tables at most 3 times over", async () => {
  const dir = await mkdtemp(join(tmpdir(), "raftfs-write-amp-"));
  dirs.push(dir);
  const store = await LevelStore.open(join(dir, "state"));
  // Text-like content (it compresses, as the bench's files do), 1,000 files a directory.
  const content = Buffer.alloc(1024, "x");
  try {
    for (let i = 1; i <= 80_000; i++) {
      // As a create does: the new name is looked up first (a miss that LevelDB answers), then the
      // entry and the new inode (each appended to its key range), the directory's inode and the
      // meta record (hot keys between them) are written.
      const dirInode = 2 + Math.floor(i / 1000);
      const entry = entryKey(dirInode, `f${i}`);
      expect(store.get(entry)).toBeUndefined();
      const writes = new Map<string, Uint8Array>([
        [entry, content],
        [inodeKey(100_000 + i), encode({ t: "f", n: i })],
        [inodeKey(dirInode), encode({ t: "d", n: i % 1000 })],
        [META_KEY, encode({ a: i })],
      ]);
      store.commit(writes, i);
      if (i % 1000 === 0) await store.flushed();
    }
    await store.flushed();
    const tables = store.tableMiB();
    // With LevelDB's default 4 MiB memtable: 37 MiB written for 6 held (each flush spans every range,
    // the misses that follow charge it seeks, and its compaction rewrites the whole level below; more
    // as the namespace grows); with the store's 32 MiB, 9 for 5.
    expect(tables.size).toBeGreaterThan(0);
    expect(tables.written).toBeLessThanOrEqual(3 * tables.size);
  } finally {
    await store.close();
  }
}, 120_000);
