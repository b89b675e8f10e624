import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import { ChunkCache } from "../../src/client/chunk-cache.js";
import { sha256Hex } from "../../src/client/chunking.js";
import { MetaCache, ReadGuard } from "../../src/client/meta-cache.js";
import type { ReadResponse } from "../../src/common/protocol/index.js";

const chunk = (n: number, fill: number) => Buffer.alloc(n, fill);
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("chunk cache", () => {
  test("counts hits and misses, and stays within its byte bound (least recently used out first)", async () => {
    const cache = new ChunkCache({ maxBytes: 3000, dirMaxBytes: 0 });
    const a = chunk(1000, 1);
    const b = chunk(1000, 2);
    const c = chunk(1000, 3);
    const d = chunk(1000, 4);
    expect(await cache.get(sha256Hex(a))).toBeUndefined();
    for (const x of [a, b, c]) await cache.set(sha256Hex(x), x);
    expect(await cache.get(sha256Hex(a))).toEqual(a); // a is now the most recent
    await cache.set(sha256Hex(d), d); // evicts b
    expect(await cache.get(sha256Hex(b))).toBeUndefined();
    const s = cache.stats();
    expect(s).toMatchObject({ hits: 1, misses: 2, entries: 3, bytes: 3000, evictions: 1 });
  });

  test("cacheBytes 0 turns the memory cache off", async () => {
    const cache = new ChunkCache({ maxBytes: 0, dirMaxBytes: 0 });
    const a = chunk(10, 1);
    await cache.set(sha256Hex(a), a);
    expect(await cache.get(sha256Hex(a))).toBeUndefined();
  });

  test("a disk folder survives the process and is verified when read back", async () => {
    const dir = mkdtempSync(join(tmpdir(), "raftfs-cache-"));
    dirs.push(dir);
    const a = chunk(500, 7);
    const b = chunk(500, 8);
    const first = new ChunkCache({ maxBytes: 10_000, dir, dirMaxBytes: 10_000 });
    await first.set(sha256Hex(a), a);
    await first.set(sha256Hex(b), b);
    expect(readdirSync(dir).sort()).toEqual([sha256Hex(a), sha256Hex(b)].sort());
    // A later client (empty memory) finds them on disk; a rotten file is dropped, not served.
    writeFileSync(join(dir, sha256Hex(b)), chunk(500, 9));
    const second = new ChunkCache({ maxBytes: 10_000, dir, dirMaxBytes: 10_000 });
    expect(await second.get(sha256Hex(a))).toEqual(a);
    expect(await second.get(sha256Hex(b))).toBeUndefined();
    expect(second.stats()).toMatchObject({ hits: 1, diskHits: 1, misses: 1, diskErrors: 1 });
    expect(readdirSync(dir)).toEqual([sha256Hex(a)]);
  });

  test("the disk folder is bounded too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "raftfs-cache-"));
    dirs.push(dir);
    const cache = new ChunkCache({ maxBytes: 0, dir, dirMaxBytes: 1000 });
    for (let i = 0; i < 5; i++) {
      const x = chunk(400, i);
      await cache.set(sha256Hex(x), x);
    }
    // Evictions unlink in the background: poll for them rather than sleep.
    await vi.waitFor(() => expect(readdirSync(dir).length).toBe(2), { timeout: 10_000, interval: 10 });
    expect(cache.stats().diskBytes).toBe(800);
  });
});

const read = (path: string, index: number, version = 1): ReadResponse => ({
  path,
  version,
  sizeBytes: 1,
  createdAtMs: 0,
  index,
  content: { kind: "inline", dataBase64: "eA==" },
});

/** A cache on a hand-driven clock, with a proof of freshness at time 0 (as followFeed's first answer). */
function newCache(clock = { ms: 0 }) {
  return new MetaCache({ maxEntries: 100, maxBytes: 1e6, maxStalenessMs: 1000, now: () => clock.ms });
}

describe("metadata cache (watch mode)", () => {
  test("serves only while the feed's last quorum-confirmed answer is younger than maxStalenessMs", () => {
    const clock = { ms: 0 };
    const m = newCache(clock);
    m.apply({ index: 5, changes: [], reset: true }); // unconfirmed: no proof
    m.put(read("/a", 5), m.generation);
    expect(m.get("/a")).toBeUndefined();
    m.apply({ index: 5, changes: [], reset: false, confirmedAfterMs: 200 }, 0); // fresh as of ~198
    expect(m.get("/a")?.index).toBe(5);
    clock.ms = 1150;
    expect(m.get("/a")?.index).toBe(5);
    clock.ms = 1250; // the proof is 1052 ms old: a partitioned feed would look exactly like this
    expect(m.get("/a")).toBeUndefined();
    m.apply({ index: 6, changes: [], reset: false }, 1200); // an answer without proof renews nothing
    expect(m.get("/a")).toBeUndefined();
    m.apply({ index: 6, changes: [], reset: false, confirmedAfterMs: 10 }, 1240);
    expect(m.get("/a")?.index).toBe(5);
  });

  test("serves nothing until the feed is followed", () => {
    const m = newCache();
    m.put(read("/a", 5), m.generation);
    expect(m.get("/a")).toBeUndefined();
    m.apply({ index: 5, changes: [], reset: true, confirmedAfterMs: 0 }, 0);
    m.put(read("/a", 5), m.generation);
    expect(m.get("/a")?.index).toBe(5);
  });

  test("an answer older than the feed position is not cached (a change may have gone by)", () => {
    const m = newCache();
    m.apply({ index: 10, changes: [], reset: false });
    m.put(read("/a", 9), m.generation);
    expect(m.get("/a")).toBeUndefined();
  });

  test("changes drop the path, its subtree, and both sides of a rename; reset drops everything", () => {
    const m = newCache();
    m.apply({ index: 1, changes: [], reset: false, confirmedAfterMs: 0 }, 0);
    for (const p of ["/d/a", "/d/b", "/e", "/f", "/g"]) m.put(read(p, 2), m.generation);
    m.apply({
      index: 3,
      changes: [
        { index: 3, path: "/d", kind: "delete" },
        { index: 3, path: "/x", kind: "rename", to: "/e" },
      ],
      reset: false,
    });
    expect(["/d/a", "/d/b", "/e", "/f"].map((p) => m.get(p) !== undefined)).toEqual([
      false,
      false,
      false,
      true,
    ]);
    m.apply({ index: 4, changes: [], reset: true });
    expect(m.get("/f")).toBeUndefined();
  });

  test("a broken feed suspends the cache", () => {
    const m = newCache();
    m.apply({ index: 1, changes: [], reset: false, confirmedAfterMs: 0 }, 0);
    m.put(read("/a", 2), m.generation);
    expect(m.get("/a")?.index).toBe(2);
    m.suspend();
    expect(m.live).toBe(false);
    expect(m.get("/a")).toBeUndefined();
  });

  test("an answer asked for before one of our own writes is not cached (read-your-writes)", () => {
    const m = newCache();
    m.apply({ index: 1, changes: [], reset: false, confirmedAfterMs: 0 }, 0);
    const askedAt = m.generation;
    m.invalidate("/a"); // our write to /a committed while the read was in flight
    m.put(read("/a", 5, 1), askedAt);
    expect(m.get("/a")).toBeUndefined();
    m.put(read("/a", 6, 2), m.generation);
    expect(m.get("/a")?.version).toBe(2);
  });

  test("ReadGuard refuses an answer older than one already returned for the path", () => {
    const g = new ReadGuard();
    expect(g.accept("/a", 10)).toBe(true);
    expect(g.accept("/a", 12)).toBe(true);
    expect(g.accept("/a", 11)).toBe(false);
    expect(g.accept("/b", 1)).toBe(true);
  });
});
