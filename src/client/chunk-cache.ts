/**
 * Chunks by id: a memory LRU bounded by bytes, and optionally a folder on disk (also bounded) behind
 * it. Chunks are immutable and content-addressed, so a cached chunk is never stale; a chunk read back
 * from the disk folder is hashed again, since a local disk can rot like any other. The disk cache is
 * an optimisation: its failures are counted, never thrown.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, stat, unlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { LRUCache } from "lru-cache";
import { CHUNK_ID_PATTERN } from "../common/protocol/index.js";
import { sha256Hex } from "./chunking.js";

export interface ChunkCacheOptions {
  maxBytes: number;
  dir?: string;
  dirMaxBytes: number;
}

export interface CacheStats {
  /** Chunk reads served from memory or the disk folder. */
  hits: number;
  /** Chunk reads that went to a data node. */
  misses: number;
  diskHits: number;
  /** Bytes held in memory, and how many chunks. */
  bytes: number;
  entries: number;
  evictions: number;
  diskBytes: number;
  diskErrors: number;
  /** Metadata served from the watch-mode cache without asking a replica. */
  metaHits: number;
  metaMisses: number;
}

export class ChunkCache {
  private readonly memory: LRUCache<string, Buffer> | null;
  private readonly disk: LRUCache<string, number> | null;
  private diskReady: Promise<void> | null = null;
  private readonly counters = { hits: 0, misses: 0, diskHits: 0, evictions: 0, diskErrors: 0 };

  constructor(private readonly opts: ChunkCacheOptions) {
    this.memory =
      opts.maxBytes > 0
        ? new LRUCache<string, Buffer>({
            maxSize: opts.maxBytes,
            sizeCalculation: (b) => Math.max(1, b.byteLength),
            dispose: (_v, _k, reason) => {
              if (reason === "evict") this.counters.evictions++;
            },
          })
        : null;
    this.disk =
      opts.dir !== undefined && opts.dirMaxBytes > 0
        ? new LRUCache<string, number>({
            maxSize: opts.dirMaxBytes,
            sizeCalculation: (n) => Math.max(1, n),
            dispose: (_size, id, reason) => {
              if (reason === "evict") void this.unlinkQuietly(id);
            },
          })
        : null;
  }

  /** A cached chunk, or undefined; counts a hit or a miss. */
  async get(id: string): Promise<Buffer | undefined> {
    const inMemory = this.memory?.get(id);
    if (inMemory !== undefined) {
      this.counters.hits++;
      return inMemory;
    }
    const fromDisk = await this.readDisk(id);
    if (fromDisk !== undefined) {
      this.counters.hits++;
      this.counters.diskHits++;
      this.memory?.set(id, fromDisk);
      return fromDisk;
    }
    this.counters.misses++;
    return undefined;
  }

  /** Looks without counting (a range read checks whether a whole chunk happens to be here). */
  peek(id: string): Buffer | undefined {
    return this.memory?.peek(id);
  }

  /** Whether a chunk of this size would be kept at all (in memory or in the folder). */
  keeps(byteLength: number): boolean {
    return (
      (this.memory !== null && byteLength <= this.opts.maxBytes) ||
      (this.disk !== null && byteLength <= this.opts.dirMaxBytes)
    );
  }

  /** Stores a chunk whose hash the caller has verified. */
  async set(id: string, data: Buffer): Promise<void> {
    this.memory?.set(id, data);
    await this.writeDisk(id, data);
  }

  stats(): Omit<CacheStats, "metaHits" | "metaMisses"> {
    return {
      ...this.counters,
      bytes: this.memory?.calculatedSize ?? 0,
      entries: this.memory?.size ?? 0,
      diskBytes: this.disk?.calculatedSize ?? 0,
    };
  }

  clear(): void {
    this.memory?.clear();
  }

  // ---------------------------------------------------------------- disk folder

  private ensureDisk(): Promise<void> {
    const dir = this.opts.dir;
    if (this.disk === null || dir === undefined) return Promise.resolve();
    // Adopt what earlier runs left, oldest first so that the newest survive the bound.
    this.diskReady ??= (async () => {
      await mkdir(dir, { recursive: true });
      const found: { id: string; size: number; mtimeMs: number }[] = [];
      for (const name of await readdir(dir)) {
        if (!CHUNK_ID_PATTERN.test(name)) continue;
        const s = await stat(join(dir, name));
        found.push({ id: name, size: s.size, mtimeMs: s.mtimeMs });
      }
      found.sort((a, b) => a.mtimeMs - b.mtimeMs);
      for (const f of found) this.disk?.set(f.id, f.size);
    })().catch((err: unknown) => {
      this.counters.diskErrors++;
      this.diskReady = null;
      throw err;
    });
    return this.diskReady;
  }

  private async readDisk(id: string): Promise<Buffer | undefined> {
    if (this.disk === null || this.opts.dir === undefined) return undefined;
    try {
      await this.ensureDisk();
      if (!this.disk.has(id)) return undefined;
      const data = await readFile(join(this.opts.dir, id));
      if (sha256Hex(data) !== id) {
        this.counters.diskErrors++;
        this.disk.delete(id);
        await this.unlinkQuietly(id);
        return undefined;
      }
      this.disk.get(id); // touch: most recently used
      return data;
    } catch (err) {
      this.diskFailure(err);
      this.disk.delete(id);
      return undefined;
    }
  }

  private async writeDisk(id: string, data: Buffer): Promise<void> {
    const dir = this.opts.dir;
    if (this.disk === null || dir === undefined || this.disk.has(id)) return;
    if (data.byteLength > this.opts.dirMaxBytes) return;
    const tmp = join(dir, `${id}.tmp-${randomBytes(4).toString("hex")}`);
    try {
      await this.ensureDisk();
      // Temp file then rename: a crash never leaves a half chunk under a chunk's name.
      await writeFile(tmp, data);
      await rename(tmp, join(dir, id));
      this.disk.set(id, data.byteLength);
    } catch (err) {
      this.diskFailure(err);
      await this.unlinkQuietly(`${tmp.slice(dir.length + 1)}`);
    }
  }

  private diskFailure(err: unknown): void {
    // Only file-system errors degrade to a miss; anything else is a bug and must surface.
    if (typeof (err as NodeJS.ErrnoException)?.code !== "string") throw err;
    this.counters.diskErrors++;
  }

  private async unlinkQuietly(name: string): Promise<void> {
    if (this.opts.dir === undefined) return;
    try {
      await unlink(join(this.opts.dir, name));
    } catch (err) {
      if ((err as NodeJS.ErrnoException)?.code !== "ENOENT") this.diskFailure(err);
    }
  }
}
