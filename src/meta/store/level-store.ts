/**
 * The file-system state's StateStore on LevelDB (classic-level), in its own database directory beside
 * the Raft log (`<dataDir>/state`).
 *
 * - Reads are synchronous (`apply` is): writes not yet on disk first (staged, then the batch in flight),
 *   then a bounded LRU cache (hits and misses), then `getSync`.
 * - `commit` stages an entry's write set; one batch at a time goes to LevelDB with `sync: true`, holding
 *   every entry staged meanwhile (group commit), cut at most `groupCommitWindowMs` after its first
 *   entry (at once when a scan, `flushed()` or the backlog bound waits on it). Nothing answers a client
 *   on this write (the Raft log is synced already), so the window costs no write latency; without it a
 *   lone write made two fsyncs on each replica, the log's and this one, and the second held the next
 *   write's log fsync back on the same disk. The meta record in each write set carries its applied
 *   index, so a batch makes the state durable up to exactly that index, atomically: after a crash the
 *   store holds a prefix of whole entries and says which (`durableIndex`).
 * - Keys are JS strings ordered by UTF-16 code unit; stored as UTF-16BE so LevelDB's byte order is the
 *   same order. Scans (listings, GC lists, snapshots) are async iterators over a LevelDB snapshot.
 * - A snapshot installed from a leader is written to `<dir>.new`, synced, and switched by renames;
 *   a `<dir>.new` left by a crash before the switch is discarded on open.
 */
import { mkdir, rename, rm, stat } from "node:fs/promises";
import { dirname } from "node:path";
import { ClassicLevel } from "classic-level";
import { LRUCache } from "lru-cache";
import { assert } from "../../common/assert.js";
import { syncDir } from "../../common/durable-files.js";
import { DfsError } from "../../common/errors.js";
import { type RawOp, writeRawBatch } from "../../common/level-batch.js";
import { decode, META_KEY, type MetaRec } from "../state/records.js";
import type { KeyRange, StateStore, WriteSet } from "../state/store.js";

export interface LevelStoreOptions {
  /** Point records cached (hits and misses). Default 200 000. */
  cacheEntries?: number;
  /** Bytes of cached values and keys. Default 64 MiB. */
  cacheBytes?: number;
  /** Keys one LevelDB batch may hold before the next waits for it (group commit bound). Default 100 000. */
  maxBatchKeys?: number;
  /**
   * How long a batch waits for more entries after its first, unless a reader waits on the disk.
   * Default 10 ms (etcd commits its backend every 100 ms, its log synced per write as ours is).
   */
  groupCommitWindowMs?: number;
  /** LevelDB's memtable (`writeBufferSize`): see WRITE_BUFFER_BYTES. */
  writeBufferBytes?: number;
}

/**
 * LevelDB's memtable, flushed to a table file when full. LevelDB 1.20's default of 4 MiB made the
 * state's write rate fall as the namespace grew (3,496 files/s for the first 100k of 1M, ~2,100 from
 * 300k on): each flush of the state's writes spans the whole key space (the hot keys — the meta
 * record, the tables, a directory's inode — sit between the ranges new files append to), and every
 * create first reads its missing entry key, which consults the flushed file and the level below it.
 * LevelDB charges such reads as "seeks" against the upper file and compacts it after 100 of them:
 * so each flush, within seconds, rewrote every overlapping file of the level below — the whole of L2,
 * 16 MiB at 100k files and growing with the namespace (LOG: "Compacting 1@1 + 8@2 files" over and
 * over, files[0 0 8]). The compaction thread then took more CPU than the replica's main thread, and
 * the replica wrote 8 KiB to the disk per 1 KiB file. Fewer, larger flushes mean fewer such rewrites:
 * at 32 MiB, 8× fewer; the cost is up to two memtables (the full one while it flushes) in memory.
 */
const WRITE_BUFFER_BYTES = 32 * 1024 * 1024;

type Db = ClassicLevel<Buffer, Uint8Array>;

const MISS = new Uint8Array(0);

/** Records one read of a snapshot stream asks LevelDB for (the bytes below bound it first). */
const SNAPSHOT_READ_ROWS = 10_000;
/**
 * Bytes of records one read of a snapshot stream takes from LevelDB (`highWaterMarkBytes`). Not a
 * whole chunk: each read's rows are turned into JS values and packed in one synchronous run, and at
 * 1 MiB that run held the event loop 75-230 ms at load ~35 (heartbeats wait meanwhile; the first
 * streams to wiped followers broke on elections), while the source read 41-100 MiB/s; at 256 KiB,
 * 26-122 ms and 90-215 MiB/s, for the same CPU (323 MiB of 1.1 KiB records, alternated runs). At
 * classic-level's default of 16 KiB each trip to the thread pool carried ~15 records: twice the CPU.
 */
const SNAPSHOT_READ_BYTES = 256 * 1024;
/**
 * An install writes batches of about this many bytes (one writing while the next is parsed): bounded
 * by bytes, not records, so that a state of large inline files holds no larger batches in memory.
 */
const INSTALL_BATCH_BYTES = 4 * 1024 * 1024;

export function encodeKey(key: string): Buffer {
  return Buffer.from(key, "utf16le").swap16();
}

export function decodeKey(bytes: Uint8Array): string {
  return Buffer.from(bytes).swap16().toString("utf16le");
}

/**
 * Whether every key of `rows`, read from LevelDB as UTF-8, is exactly its stored bytes, one character
 * a byte. A byte below 0x80 is a one-byte UTF-8 character, so keys whose bytes are all below 0x80
 * (the UTF-16BE of names in ASCII, and of every key the state makes itself) come back as strings of
 * characters below 0x80; any byte above turns into a character above (a replacement or a decoded
 * sequence). Keys read as strings cost a snapshot stream ~30 % less CPU than as Buffers: classic-level
 * makes a Buffer of its own (an external allocation, then its GC) for every key and value it returns.
 */
function oneByteKeys(rows: readonly (readonly [string, Uint8Array])[]): boolean {
  for (const [k] of rows) if (ABOVE_ASCII.test(k)) return false;
  return true;
}

const ABOVE_ASCII = /[\u0080-\uffff]/;

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
}

function openDb(dir: string, writeBufferBytes = WRITE_BUFFER_BYTES): Db {
  return new ClassicLevel<Buffer, Uint8Array>(dir, {
    keyEncoding: "buffer",
    valueEncoding: "view",
    writeBufferSize: writeBufferBytes,
  });
}

/**
 * The bytes in a buffer of their own. Records are encoded into views of msgpackr's shared output buffer
 * (hundreds of KiB); a cached view would keep the whole buffer alive, so the cache's byte bound would
 * not bound memory (a leader's heap held 195 MB of such buffers behind a 64 MiB cache).
 */
function ownBytes(v: Uint8Array): Uint8Array {
  return v.byteOffset === 0 && v.byteLength === v.buffer.byteLength ? v : new Uint8Array(v);
}

/**
 * LevelDB 1.20 (classic-level 3) creates a database without fsyncing its first MANIFEST, so a power cut
 * soon after leaves CURRENT naming an empty one ("no meta-nextfile entry": the store cannot open). An
 * open of an existing database writes a new MANIFEST and fsyncs it and the folder: one open and close
 * right after creating a database makes it durable.
 */
async function settleManifest(dir: string): Promise<void> {
  const db = openDb(dir);
  await db.open();
  await db.close();
  await syncDir(dir);
}

export class LevelStore implements StateStore {
  private staged: WriteSet = new Map();
  private inflight: WriteSet | null = null;
  private flushing: Promise<void> | null = null;
  private stagedIndex = 0;
  private durable = 0;
  private failed: unknown = null;
  /** True while an installed snapshot replaces the database (see `install`). */
  private switching = false;
  /** Batches handed to LevelDB, and of those the ones on disk. */
  private batchesCut = 0;
  private batchesLanded = 0;
  /** Scans waiting for a batch to be on disk (see `durableAt`). */
  private waiters: { batch: number; resolve: () => void; reject: (err: unknown) => void }[] = [];
  private readonly cache: LRUCache<string, Uint8Array>;
  private readonly maxBatchKeys: number;
  private readonly groupCommitWindowMs: number;
  /** Ends the group-commit window now (set while the flush loop waits in it). */
  private hurry: (() => void) | null = null;
  /** Callers of `flushed()` waiting now: no batch waits out the window while they do. */
  private flushedCallers = 0;
  /** Called before each batch is cut: extra writes that belong with it (the bounded in-memory tables). */
  beforeBatch: (() => WriteSet | null) | null = null;

  private constructor(
    private readonly dir: string,
    private db: Db,
    private readonly opts: LevelStoreOptions,
  ) {
    this.cache = new LRUCache<string, Uint8Array>({
      max: opts.cacheEntries ?? 200_000,
      maxSize: opts.cacheBytes ?? 64 * 1024 * 1024,
      sizeCalculation: (v, k) => v.length + 2 * k.length + 64,
    });
    this.maxBatchKeys = opts.maxBatchKeys ?? 100_000;
    this.groupCommitWindowMs = opts.groupCommitWindowMs ?? 10;
    const meta = this.db.getSync(encodeKey(META_KEY));
    this.durable = meta === undefined ? 0 : decode<MetaRec>(meta).a;
    this.stagedIndex = this.durable;
  }

  /** Opens (or creates) the store in `dir`, finishing or discarding an interrupted snapshot install. */
  static async open(dir: string, opts: LevelStoreOptions = {}): Promise<LevelStore> {
    await mkdir(dirname(dir), { recursive: true });
    const next = `${dir}.new`;
    const old = `${dir}.old`;
    if (!(await exists(dir)) && (await exists(old)) && (await exists(next))) {
      // Crashed between the two renames of a switch: the new copy was complete before the first.
      await rename(next, dir);
    }
    await rm(next, { recursive: true, force: true });
    await rm(old, { recursive: true, force: true });
    await syncDir(dirname(dir));
    const created = !(await exists(dir));
    const db = openDb(dir, opts.writeBufferBytes);
    await db.open();
    if (created) {
      await db.close();
      await settleManifest(dir);
      await db.open();
    }
    return new LevelStore(dir, db, opts);
  }

  /** Synced batches written so far (observability, tests: entries per batch is the group commit's gain). */
  get batchesWritten(): number {
    return this.batchesLanded;
  }

  /** The applied index up to which the state is on disk. */
  get durableIndex(): number {
    return this.durable;
  }

  get(key: string): Uint8Array | undefined {
    const s = this.staged.get(key);
    if (s !== undefined) return s ?? undefined;
    const f = this.inflight?.get(key);
    if (f !== undefined) return f ?? undefined;
    const c = this.cache.get(key);
    if (c !== undefined) return c === MISS ? undefined : c;
    if (this.switching) {
      // Between closing the old database and opening the installed one: a read waits for no one.
      throw new DfsError("UNAVAILABLE", "the replica is installing a snapshot; retry");
    }
    const v = this.db.getSync(encodeKey(key));
    this.cache.set(key, v ?? MISS);
    return v;
  }

  commit(writes: WriteSet, appliedIndex: number): void {
    if (this.failed !== null) throw this.failed;
    assert(appliedIndex >= this.stagedIndex, "entries commit in index order");
    for (const [k, v] of writes) {
      this.staged.set(k, v);
      // The cache holds what the disk will hold once the batch lands; reads see staged first meanwhile.
      this.cache.set(k, v === null ? MISS : ownBytes(v));
    }
    this.stagedIndex = appliedIndex;
    if (this.flushing === null) this.flushing = this.flushLoop();
    else if (this.mustWait) this.hurry?.();
  }

  /** Keys staged and not yet handed to LevelDB: callers slow down past `maxBatchKeys`. */
  get backlogKeys(): number {
    return this.staged.size;
  }

  get mustWait(): boolean {
    return this.staged.size >= this.maxBatchKeys;
  }

  /** Resolves when everything committed so far is durable; rejects if a write failed (fatal). */
  async flushed(): Promise<void> {
    this.flushedCallers++;
    this.hurry?.();
    try {
      while (this.flushing !== null) await this.flushing;
    } finally {
      this.flushedCallers--;
    }
    if (this.failed !== null) throw this.failed;
  }

  private async flushLoop(): Promise<void> {
    try {
      while (this.staged.size > 0) {
        await this.groupWindow();
        const extra = this.beforeBatch?.();
        if (extra) for (const [k, v] of extra) this.staged.set(k, v);
        const batch = this.staged;
        const index = this.stagedIndex;
        this.staged = new Map();
        this.inflight = batch;
        this.batchesCut++;
        // A chained batch, not db.batch(array): abstract-level clones and re-validates every element of
        // an array batch, which measured 3x the CPU per key (9.5 against 3.1 µs) — on every replica, for
        // the ~4 keys of every commit. Its native bytes wait for a GC (unlike the install's batches,
        // common/level-batch.ts), but here every write allocates on the JS heap, so GCs come often:
        // writing these through `_batch` as well measured no CPU gain (0.94-1.06x, bench/RESULTS.md).
        const writes = this.db.batch();
        for (const [k, v] of batch) {
          if (v === null) writes.del(encodeKey(k));
          else writes.put(encodeKey(k), v);
        }
        await writes.write({ sync: true });
        this.inflight = null;
        this.durable = index;
        this.batchesLanded++;
        this.wakeWaiters();
      }
    } catch (err) {
      // LevelDB refuses every write after a failed one: nothing after this may be acknowledged.
      this.failed = err;
      this.wakeWaiters();
    } finally {
      this.flushing = null;
    }
  }

  /** Lets more entries join the next batch: ends after the window, or when someone waits on the disk. */
  private groupWindow(): Promise<void> {
    if (
      this.groupCommitWindowMs <= 0 ||
      this.waiters.length > 0 ||
      this.flushedCallers > 0 ||
      this.mustWait
    ) {
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const end = () => {
        clearTimeout(timer);
        this.hurry = null;
        resolve();
      };
      const timer = setTimeout(end, this.groupCommitWindowMs);
      this.hurry = end;
    });
  }

  /**
   * Resolves once every entry staged before the call is on disk. Unlike `flushed()`, it does not wait
   * for entries staged later, so a scan is not starved by a steady stream of writes.
   */
  durableAt(): Promise<void> {
    if (this.failed !== null) return Promise.reject(this.failed);
    // Staged writes go in the next batch cut; otherwise the one in flight (if any) holds the latest.
    const batch = this.staged.size > 0 ? this.batchesCut + 1 : this.batchesCut;
    if (this.batchesLanded >= batch) return Promise.resolve();
    const waiting = new Promise<void>((resolve, reject) => this.waiters.push({ batch, resolve, reject }));
    this.hurry?.();
    return waiting;
  }

  private wakeWaiters(): void {
    const still: typeof this.waiters = [];
    for (const w of this.waiters) {
      if (this.failed !== null) w.reject(this.failed);
      else if (w.batch <= this.batchesLanded) w.resolve();
      else still.push(w);
    }
    this.waiters = still;
  }

  /**
   * An ordered scan of what is on disk once everything applied before the call is (LevelDB's iterator is
   * a point-in-time view, possibly of later entries too: never of an older state than the call's).
   */
  async *scan(range: KeyRange): AsyncGenerator<[string, Uint8Array]> {
    await this.durableAt();
    for await (const [k, v] of this.db.iterator({ gte: encodeKey(range.gte), lt: encodeKey(range.lt) })) {
      yield [decodeKey(k), v];
    }
  }

  /**
   * A point-in-time view for a snapshot stream: its applied index (read in the view itself, so it is
   * exact even while a batch lands) and its records in key order, encoded in chunks of about `chunkBytes`.
   */
  openSnapshot(chunkBytes = 1 << 20): { index: number; chunks(): AsyncGenerator<Uint8Array>; close(): void } {
    const snap = this.db.snapshot();
    const meta = this.db.getSync(encodeKey(META_KEY), { snapshot: snap });
    assert(meta !== undefined, "a store holds its meta record");
    const db = this.db;
    let closed = false;
    return {
      index: decode<MetaRec>(meta).a,
      async *chunks() {
        // Records packed straight into chunk-sized buffers. LevelDB is read SNAPSHOT_READ_BYTES per
        // call, the next call running while this one's rows are packed; `fillCache: false` keeps a
        // full scan from evicting the replica's hot blocks. Keys come as strings (see oneByteKeys).
        const it = db.iterator<string, Uint8Array>({
          snapshot: snap,
          highWaterMarkBytes: SNAPSHOT_READ_BYTES,
          fillCache: false,
          keyEncoding: "utf8",
        });
        let reading: Promise<[string, Uint8Array][]> | null = null;
        /** The last key packed, as stored: where an exact re-read of the next rows starts. */
        let lastKey: Buffer | null = null;
        try {
          let out = Buffer.allocUnsafe(chunkBytes);
          let size = 0;
          reading = it.nextv(SNAPSHOT_READ_ROWS);
          for (;;) {
            const read = await reading;
            if (read.length === 0) break;
            reading = it.nextv(SNAPSHOT_READ_ROWS);
            // A key with a byte >= 0x80 (a name outside ASCII) does not survive as a string: then the
            // same rows again, from the same view, with their keys as bytes.
            let rows: readonly (readonly [string | Buffer, Uint8Array])[] = read;
            if (!oneByteKeys(read)) {
              rows = await db
                .iterator({
                  snapshot: snap,
                  fillCache: false,
                  limit: read.length,
                  ...(lastKey ? { gt: lastKey } : {}),
                })
                .all();
              assert(rows.length === read.length, "snapshot view: the same rows read twice");
            }
            for (const [k, v] of rows) {
              const need = 8 + k.length + v.length;
              if (size > 0 && size + need > out.length) {
                yield out.subarray(0, size);
                out = Buffer.allocUnsafe(Math.max(chunkBytes, need));
                size = 0;
              }
              if (need > out.length) out = Buffer.allocUnsafe(need);
              out.writeUInt32BE(k.length, size);
              out.writeUInt32BE(v.length, size + 4);
              if (typeof k === "string") out.write(k, size + 8, k.length, "latin1");
              else out.set(k, size + 8);
              out.set(v, size + 8 + k.length);
              size += need;
            }
            const last = rows[rows.length - 1]![0];
            lastKey = typeof last === "string" ? Buffer.from(last, "latin1") : last;
          }
          if (size > 0) yield out.subarray(0, size);
        } finally {
          // A consumer that stopped early leaves one read in flight: the close waits for it, and its
          // outcome no longer matters.
          reading?.catch(() => undefined);
          await it.close();
        }
      },
      close() {
        if (closed) return;
        closed = true;
        void snap.close();
      },
    };
  }

  /**
   * Replaces the whole store with a snapshot stream: written to `<dir>.new`, synced, checked to hold
   * `index`, then switched by renames (old aside, new in place, old removed) with the parent synced.
   */
  async install(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void> {
    await this.flushed();
    const next = `${this.dir}.new`;
    await rm(next, { recursive: true, force: true });
    const fresh = openDb(next);
    await fresh.open();
    let pending = Buffer.alloc(0);
    // Through `writeRawBatch`: each batch's native copy is freed as its write ends, not at a GC.
    let batch: RawOp[] = [];
    let batchBytes = 0;
    // One batch writes while the next is parsed: parsing and LevelDB's writing overlap.
    let writing: Promise<void> = Promise.resolve();
    const cut = async (sync: boolean) => {
      const full = batch;
      batch = [];
      batchBytes = 0;
      await writing;
      writing = writeRawBatch(fresh, full, sync);
      if (sync) await writing;
    };
    try {
      for await (const chunk of chunks) {
        // Keys and values are views into `pending`: a new buffer for every chunk, never overwritten,
        // and the batch copies them into LevelDB's own.
        pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
        let at = 0;
        while (pending.length - at >= 8) {
          const kl = pending.readUInt32BE(at);
          const vl = pending.readUInt32BE(at + 4);
          if (pending.length - at < 8 + kl + vl) break;
          batch.push({
            type: "put",
            key: pending.subarray(at + 8, at + 8 + kl),
            value: pending.subarray(at + 8 + kl, at + 8 + kl + vl),
          });
          at += 8 + kl + vl;
          batchBytes += 8 + kl + vl;
          if (batchBytes >= INSTALL_BATCH_BYTES) await cut(false);
        }
        pending = pending.subarray(at);
      }
      assert(pending.length === 0, "snapshot stream: no partial record at the end");
      await cut(true);
      const meta = fresh.getSync(encodeKey(META_KEY));
      assert(meta !== undefined && decode<MetaRec>(meta).a === index, "snapshot stream: holds its index");
    } finally {
      // A failed stream: the batch in flight settles (its error is the stream's, thrown above) first.
      await writing.catch(() => undefined);
      await fresh.close();
    }
    await settleManifest(next);
    this.switching = true;
    await this.db.close();
    const old = `${this.dir}.old`;
    await rename(this.dir, old);
    await rename(next, this.dir);
    await syncDir(dirname(this.dir));
    await rm(old, { recursive: true, force: true });
    this.db = openDb(this.dir, this.opts.writeBufferBytes);
    await this.db.open();
    this.switching = false;
    this.cache.clear();
    this.durable = index;
    this.stagedIndex = index;
  }

  /**
   * LevelDB's table files, from its "leveldb.stats" (whole MiB, summed over levels): their size now,
   * and the MiB written to them since the store opened (memtable flushes and compactions). The second
   * over the first is the write amplification of a store that was created empty by this process.
   */
  tableMiB(): { size: number; written: number } {
    let size = 0;
    let written = 0;
    for (const line of this.db.getProperty("leveldb.stats").split("\n")) {
      // Level  Files  Size(MB)  Time(sec)  Read(MB)  Write(MB)
      const cols = line.trim().split(/\s+/);
      if (cols.length !== 6 || !/^\d+$/.test(cols[0]!)) continue;
      size += Number(cols[2]);
      written += Number(cols[5]);
    }
    return { size, written };
  }

  async close(): Promise<void> {
    await this.flushed();
    await this.db.close();
  }
}
