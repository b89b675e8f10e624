/**
 * Chunks on disk: `<dir>/chunks/<first 2 hex>/<id>`, immutable and content-addressed (id = SHA-256).
 *
 * A write streams into a temp file in the chunk's own folder while hashing, fsyncs it, checks the hash,
 * renames it into place and fsyncs the folder: after a crash the chunk is there whole or not at all,
 * and the temp files a crash leaves behind are removed at the next open. A whole read streams the chunk
 * a batch of blocks at a time, each block checked before it leaves (a chunk without block sums is
 * loaded, hashed whole and only then served); a range read reads and checks only the blocks it covers, against the per-block sums written beside the chunk (block-sums.ts). A
 * mismatch deletes the chunk (quarantine) and reports it, so the leader re-replicates it from a good
 * copy.
 *
 * File names come only from ids that match CHUNK_ID_PATTERN: nothing from the network reaches a path
 * unchecked.
 */
import { createHash, randomBytes } from "node:crypto";
import {
  type FileHandle,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  stat,
  statfs,
  unlink,
} from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { syncDir } from "../common/durable-files.js";
import { DfsError } from "../common/errors.js";
import { CHUNK_ID_PATTERN } from "../common/protocol/index.js";
import {
  type BlockSums,
  coveringBlocks,
  decodeBlockSums,
  encodeBlockSums,
  firstBadBlock,
  hasBlockSums,
  sameSums,
  sumBlocks,
} from "./block-sums.js";
import { ChunkWriter } from "./chunk-file-writer.js";
import { ReadBuffers } from "./read-buffers.js";

/** Bytes read and checked per step of a streamed whole read: 16 blocks of 64 KiB. */
export const STREAM_BATCH_BYTES = 1024 * 1024;
/** Read batches kept for reuse (8 MiB): a few streamed GETs at once reuse them all. */
const KEPT_READ_BUFFERS = 8;
/** The config schema's largest chunk size: a chunk written under an older, larger setting still reads. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;
const TEMP_PATTERN = /^[0-9a-f]{64}(\.blocks)?\.tmp-[0-9a-f]+$/;
const SIDECAR_PATTERN = /^([0-9a-f]{64})\.blocks$/;

export interface ChunkStoreOptions {
  /** The node's folder, `<dataDir>/data-<id>`; chunks go to `chunks/` inside it. */
  dir: string;
  /** Largest chunk accepted on write. */
  chunkSizeBytes: number;
  /** Writes are refused while free space minus the incoming chunk would fall below this. */
  freeSpaceReserveBytes: number;
}

export interface DiskSpace {
  freeBytes: number;
  capacityBytes: number;
}

/**
 * Reads `length` bytes of an open chunk file from `position` (fewer only at the end of the file),
 * into `into` when given (at least `length` bytes), else into a new buffer.
 */
export type ChunkFileReader = (
  fh: FileHandle,
  position: number,
  length: number,
  into?: Buffer,
) => Promise<Buffer>;

/**
 * How long one statfs stands in for the free space on the write path (see `freeBytesForWrite`). Other
 * processes' writes within it go unseen: the reserve (`freeSpaceReserveBytes`) is there for them.
 */
export const SPACE_SAMPLE_MS = 1000;

export interface ChunkStoreDeps {
  /** Free and total bytes of the file system holding `dir` (default: `fs.statfs`). */
  space?: (dir: string) => Promise<DiskSpace>;
  /** A monotonic clock in ms, for the age of the free-space sample (default `performance.now`). */
  now?: () => number;
  /** Every byte read from a chunk file goes through this (default: `readAt`); tests count them. */
  readChunkFile?: ChunkFileReader;
}

/** Reads until `length` bytes or the end of the file. */
export async function readAt(
  fh: FileHandle,
  position: number,
  length: number,
  into?: Buffer,
): Promise<Buffer> {
  const buf = into ?? Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

export type InventoryChange = { kind: "added" | "removed" | "corrupt"; chunkId: string };
export type InventoryListener = (change: InventoryChange) => void;

export function isChunkId(id: unknown): id is string {
  return typeof id === "string" && CHUNK_ID_PATTERN.test(id);
}

function checkId(id: unknown): string {
  if (!isChunkId(id)) throw new DfsError("BAD_REQUEST", "a chunk id is 64 lowercase hex characters");
  return id;
}

async function diskSpace(dir: string): Promise<DiskSpace> {
  const s = await statfs(dir);
  return { freeBytes: s.bavail * s.bsize, capacityBytes: s.blocks * s.bsize };
}

function isNoEntry(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
}

export class ChunkStore {
  private readonly chunksDir: string;
  /** Chunk id → size in bytes: the inventory reported to the leader. */
  private readonly inventory = new Map<string, number>();
  private readonly listeners = new Set<InventoryListener>();
  private readonly space: (dir: string) => Promise<DiskSpace>;
  private readonly readChunkFile: ChunkFileReader;
  /** Whole-chunk reads' batches, lent to the reader and given back through `giveBackReadBuffer`. */
  private readonly readBuffers = new ReadBuffers(STREAM_BATCH_BYTES, KEPT_READ_BUFFERS);
  private used = 0;
  /** Bytes promised to writes in progress, so concurrent writes cannot together overrun the reserve. */
  private reservedBytes = 0;
  /** The last statfs's free bytes, when it was taken, and the bytes of chunks this node stored since. */
  private spaceSample: { atMs: number; freeBytes: number; storedSinceBytes: number } | null = null;
  private readonly now: () => number;
  /** Chunks found corrupt (on read or by the scrubber) since start. */
  corruptFound = 0;

  private constructor(
    readonly opts: ChunkStoreOptions,
    deps: ChunkStoreDeps,
  ) {
    this.chunksDir = join(opts.dir, "chunks");
    this.space = deps.space ?? diskSpace;
    this.readChunkFile = deps.readChunkFile ?? readAt;
    this.now = deps.now ?? (() => performance.now());
  }

  /** Creates the folders, removes temp files left by a crash and lists the inventory (one walk). */
  static async open(opts: ChunkStoreOptions, deps: ChunkStoreDeps = {}): Promise<ChunkStore> {
    const store = new ChunkStore(opts, deps);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    const firstCreated = await mkdir(this.chunksDir, { recursive: true });
    // All 256 fan-out folders exist from the start, so a write never creates (and must fsync) a folder.
    for (let i = 0; i < 256; i++)
      await mkdir(this.folderOf(i.toString(16).padStart(2, "0")), { recursive: true });
    // A folder's entry is durable only once its parent is fsynced: up to the parent of the first folder
    // created here, at least the store's own parent (an earlier open may have crashed before this).
    // Else a power cut after the first acknowledged writes lost the whole store (cf. LevelDB 1.20).
    const ownParent = dirname(resolve(this.opts.dir));
    const createdParent = firstCreated === undefined ? ownParent : dirname(resolve(firstCreated));
    const top = createdParent.length < ownParent.length ? createdParent : ownParent;
    for (let d = resolve(this.chunksDir); ; d = dirname(d)) {
      await syncDir(d);
      if (d === top || dirname(d) === d) break;
    }
    for (let i = 0; i < 256; i++) {
      const prefix = i.toString(16).padStart(2, "0");
      const folder = this.folderOf(prefix);
      const names = await readdir(folder);
      const present = new Set(names);
      await Promise.all(
        names.map(async (name) => {
          if (TEMP_PATTERN.test(name)) return unlink(join(folder, name));
          // Block sums whose chunk never landed (a crash between the two renames) or was deleted.
          const sidecarOf = SIDECAR_PATTERN.exec(name)?.[1];
          if (sidecarOf !== undefined) return present.has(sidecarOf) ? undefined : unlink(join(folder, name));
          // Anything else (a foreign file, a chunk in the wrong folder) is left alone and not reported.
          if (!CHUNK_ID_PATTERN.test(name) || !name.startsWith(prefix)) return;
          const s = await stat(join(folder, name));
          this.inventory.set(name, s.size);
          this.used += s.size;
        }),
      );
    }
  }

  private folderOf(prefix: string): string {
    return join(this.chunksDir, prefix);
  }

  private pathOf(id: string): string {
    return join(this.folderOf(id.slice(0, 2)), id);
  }

  private sumsPathOf(id: string): string {
    return `${this.pathOf(id)}.blocks`;
  }

  onChange(listener: InventoryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(kind: InventoryChange["kind"], chunkId: string): void {
    for (const l of this.listeners) l({ kind, chunkId });
  }

  has(id: string): boolean {
    return this.inventory.has(id);
  }

  sizeOf(id: string): number | undefined {
    return this.inventory.get(id);
  }

  ids(): string[] {
    return [...this.inventory.keys()];
  }

  get chunkCount(): number {
    return this.inventory.size;
  }

  get usedBytes(): number {
    return this.used;
  }

  /** The file system's own numbers. */
  diskSpace(): Promise<DiskSpace> {
    return this.space(this.opts.dir);
  }

  /**
   * Room for new chunks: free space minus the reserve and minus writes in progress. This is what the
   * leader is told, so that it does not place chunks on a node that would refuse them.
   */
  async spaceForChunks(): Promise<DiskSpace> {
    const { freeBytes, capacityBytes } = await this.sampleSpace();
    const usable = freeBytes - this.opts.freeSpaceReserveBytes - this.reservedBytes;
    return { freeBytes: Math.max(0, usable), capacityBytes };
  }

  /**
   * Starts a write: checks the id, the size and the free space, and opens the temp file. The caller
   * feeds the bytes with `write`, then `commit` (durable) or `abort` (nothing left behind).
   */
  async beginWrite(chunkId: string, sizeBytes: number): Promise<ChunkWriter> {
    const id = checkId(chunkId);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 0) {
      throw new DfsError("BAD_REQUEST", "the chunk size must be a non-negative integer");
    }
    if (sizeBytes > this.opts.chunkSizeBytes) {
      throw new DfsError(
        "PAYLOAD_TOO_LARGE",
        `a chunk of ${sizeBytes} bytes exceeds the ${this.opts.chunkSizeBytes}-byte chunk size`,
      );
    }
    const freeBytes = await this.freeBytesForWrite(sizeBytes);
    if (freeBytes - this.reservedBytes - sizeBytes < this.opts.freeSpaceReserveBytes) {
      throw new DfsError(
        "NO_SPACE",
        `not enough free space: ${freeBytes} bytes free, ${this.reservedBytes} promised to writes in progress, ` +
          `${sizeBytes} incoming, ${this.opts.freeSpaceReserveBytes} kept in reserve`,
        { freeBytes, reserveBytes: this.opts.freeSpaceReserveBytes },
      );
    }
    const tempPath = `${this.pathOf(id)}.tmp-${randomBytes(8).toString("hex")}`;
    const fh = await open(tempPath, "wx");
    this.reservedBytes += sizeBytes;
    return new ChunkWriter(
      { id, sizeBytes, tempPath, finalPath: this.pathOf(id), sumsPath: this.sumsPathOf(id), fh },
      this,
    );
  }

  /**
   * Free bytes for a write's check: a statfs at most SPACE_SAMPLE_MS old, less the chunks stored here
   * since. A statfs per chunk was a thread-pool call per chunk (a data node's top self frame with small
   * chunks, bench/RESULTS.md issue 14). A write the sample would refuse gets a fresh statfs first, so
   * no write is refused on old numbers.
   */
  private async freeBytesForWrite(sizeBytes: number): Promise<number> {
    const s = this.spaceSample;
    if (s !== null && this.now() - s.atMs < SPACE_SAMPLE_MS) {
      const free = s.freeBytes - s.storedSinceBytes;
      if (free - this.reservedBytes - sizeBytes >= this.opts.freeSpaceReserveBytes) return free;
    }
    return (await this.sampleSpace()).freeBytes;
  }

  /** A fresh statfs, kept as the write path's sample. */
  private async sampleSpace(): Promise<DiskSpace> {
    const space = await this.space(this.opts.dir);
    this.spaceSample = { atMs: this.now(), freeBytes: space.freeBytes, storedSinceBytes: 0 };
    return space;
  }

  /** Called by a writer once its chunk is durable in place (or when it gives up). */
  settleWrite(w: { id: string; sizeBytes: number }, stored: boolean): boolean {
    this.reservedBytes -= w.sizeBytes;
    if (!stored || this.inventory.has(w.id)) return false;
    this.inventory.set(w.id, w.sizeBytes);
    this.used += w.sizeBytes;
    if (this.spaceSample !== null) this.spaceSample.storedSinceBytes += w.sizeBytes;
    this.emit("added", w.id);
    return true;
  }

  /** Writes a whole chunk from an iterable of bytes. Returns whether it is new to this node. */
  async write(chunkId: string, sizeBytes: number, source: AsyncIterable<Uint8Array>): Promise<boolean> {
    const w = await this.beginWrite(chunkId, sizeBytes);
    try {
      for await (const buf of source) await w.write(buf);
      return await w.commit();
    } finally {
      await w.abort();
    }
  }

  /**
   * The whole chunk, verified against its id. NOT_FOUND if absent; on a mismatch the chunk is
   * quarantined and the answer is CORRUPT, so the reader tries another holder.
   */
  async read(chunkId: string): Promise<Buffer> {
    const id = checkId(chunkId);
    const data = await this.withFile(id, async (fh, size) => this.readChunkFile(fh, 0, size));
    if (createHash("sha256").update(data).digest("hex") !== id) throw await this.corrupt(id, "its checksum");
    return data;
  }

  /**
   * Bytes [start, end) of a chunk (0 ≤ start < end ≤ size), reading and checking only the blocks that
   * cover them. A chunk without valid block sums is read and verified whole. CORRUPT (and quarantined)
   * if a covering block fails its sum: never wrong bytes.
   */
  async readRange(chunkId: string, start: number, end: number): Promise<Buffer> {
    const id = checkId(chunkId);
    const sums = await this.blockSums(id);
    if (sums === null) return (await this.read(id)).subarray(start, end);
    const span = coveringBlocks(sums, start, end);
    const data = await this.withFile(id, async (fh, size) => {
      if (size !== sums.chunkBytes) return null;
      return this.readChunkFile(fh, span.fromByte, span.toByte - span.fromByte);
    });
    if (data === null || data.byteLength !== span.toByte - span.fromByte)
      throw await this.corrupt(id, "its length");
    const bad = firstBadBlock(sums, span.first, data);
    if (bad >= 0) throw await this.corrupt(id, `the checksum of block ${bad}`);
    return data.subarray(start - span.fromByte, end - span.fromByte);
  }

  /**
   * The whole chunk as verified pieces of at most STREAM_BATCH_BYTES, read one batch at a time, so the
   * first bytes can be sent before the last are read and a read holds one batch, not one chunk. Each
   * block is checked against its sum before its bytes are yielded; at the first bad block the chunk
   * is quarantined and the iterator throws CORRUPT (nothing of that block was yielded). Null when the
   * chunk has no valid sums: then only `read` (hash of the whole) can prove it. A piece's memory is
   * the store's to reuse once given back through `giveBackReadBuffer`.
   */
  async readStream(chunkId: string): Promise<AsyncGenerator<Buffer> | null> {
    const id = checkId(chunkId);
    if (!this.inventory.has(id))
      throw new DfsError("NOT_FOUND", `no chunk ${id} on this node`, { chunkId: id });
    const sums = await this.blockSums(id);
    return sums === null ? null : this.streamBlocks(id, sums);
  }

  /**
   * Takes back a piece that readStream yielded, once nothing reads it any more (the socket has
   * written it): its memory is filled by a later read. A piece never given back is simply collected.
   */
  giveBackReadBuffer(piece: Buffer): void {
    this.readBuffers.give(piece);
  }

  private async *streamBlocks(id: string, sums: BlockSums): AsyncGenerator<Buffer> {
    // Opened on the first pull (a generator's body runs then), so an iterator dropped unstarted
    // leaves no file handle behind; closed when it ends, fails or is dropped.
    const fh = await this.openChunk(id);
    try {
      const { size } = await fh.stat();
      if (size !== sums.chunkBytes) throw await this.corrupt(id, "its length");
      const batchBlocks = Math.max(1, Math.floor(STREAM_BATCH_BYTES / sums.blockBytes));
      for (let first = 0; first < sums.crcs.length; first += batchBlocks) {
        const fromByte = first * sums.blockBytes;
        const toByte = Math.min(sums.chunkBytes, (first + batchBlocks) * sums.blockBytes);
        // A batch wider than a pooled buffer (blocks over 1 MiB, from a sidecar of another setting) reads
        // into a fresh one.
        const batch = toByte - fromByte <= STREAM_BATCH_BYTES ? this.readBuffers.take() : undefined;
        const data = await this.readChunkFile(fh, fromByte, toByte - fromByte, batch);
        if (data.byteLength !== toByte - fromByte) throw await this.corrupt(id, "its length");
        const bad = firstBadBlock(sums, first, data);
        if (bad >= 0) {
          // The good blocks before the bad one still go out, so the reader sees where it broke;
          // not in the first batch, which is checked before an answer starts: a plain error then.
          const good = (bad - first) * sums.blockBytes;
          if (good > 0 && first > 0) yield data.subarray(0, good);
          throw await this.corrupt(id, `the checksum of block ${bad}`);
        }
        yield data;
      }
    } finally {
      await fh.close();
    }
  }

  /** The chunk's block sums, or null when its sidecar is absent, damaged or not for this chunk. */
  private async blockSums(id: string): Promise<BlockSums | null> {
    if (!hasBlockSums(this.inventory.get(id) ?? 0)) return null; // one block: its id proves it
    let file: Buffer;
    try {
      file = await readFile(this.sumsPathOf(id));
    } catch (err) {
      if (isNoEntry(err)) return null;
      throw err;
    }
    const sums = decodeBlockSums(file);
    return sums !== null && sums.chunkBytes === this.inventory.get(id) ? sums : null;
  }

  private async corrupt(id: string, what: string): Promise<DfsError> {
    await this.quarantine(id);
    return new DfsError("CORRUPT", `chunk ${id} failed ${what} on this node and was quarantined`, {
      chunkId: id,
    });
  }

  /** Re-reads and hashes a chunk (for the scrubber); a corrupt one is quarantined. */
  async verify(chunkId: string): Promise<{ result: "ok" | "corrupt" | "missing"; bytesRead: number }> {
    const sizeBytes = this.inventory.get(chunkId) ?? 0;
    try {
      const data = await this.read(chunkId);
      // A chunk from before block sums (or whose sums were damaged or disagree) gets them once
      // verified whole: range reads trust the sums, so they are made right from proven bytes.
      const want = sumBlocks(data);
      const have = await this.blockSums(chunkId);
      if (hasBlockSums(data.byteLength) && (have === null || !sameSums(have, want)))
        await this.writeBlockSums(chunkId, want);
      return { result: "ok", bytesRead: sizeBytes };
    } catch (err) {
      if (err instanceof DfsError && err.code === "NOT_FOUND") return { result: "missing", bytesRead: 0 };
      if (err instanceof DfsError && err.code === "CORRUPT")
        return { result: "corrupt", bytesRead: sizeBytes };
      throw err;
    }
  }

  /** Writes a chunk's sidecar durably (temp file, fsync, rename). */
  async writeBlockSums(id: string, sums: BlockSums, sumsPath = this.sumsPathOf(id)): Promise<void> {
    const temp = `${sumsPath}.tmp-${randomBytes(8).toString("hex")}`;
    const fh = await open(temp, "wx");
    try {
      await fh.writeFile(encodeBlockSums(sums));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(temp, sumsPath);
  }

  /** Opens a listed chunk's file and runs `use` with it and its size (checked against the bound). */
  private async withFile<T>(id: string, use: (fh: FileHandle, size: number) => Promise<T>): Promise<T> {
    const fh = await this.openChunk(id);
    try {
      const { size } = await fh.stat();
      if (size > MAX_CHUNK_BYTES) {
        await this.quarantine(id);
        throw new DfsError("CORRUPT", `chunk ${id} is ${size} bytes, larger than any chunk can be`, {
          chunkId: id,
        });
      }
      return await use(fh, size);
    } finally {
      await fh.close();
    }
  }

  /** Opens a listed chunk's file; NOT_FOUND (and forgotten) when it is gone from disk. */
  private async openChunk(id: string): Promise<FileHandle> {
    if (!this.inventory.has(id))
      throw new DfsError("NOT_FOUND", `no chunk ${id} on this node`, { chunkId: id });
    try {
      return await open(this.pathOf(id), "r");
    } catch (err) {
      if (!isNoEntry(err)) throw err;
      // Gone from disk behind our back: the inventory follows the disk.
      this.forget(id, "removed");
      throw new DfsError("NOT_FOUND", `no chunk ${id} on this node`, { chunkId: id });
    }
  }

  private forget(id: string, kind: "removed" | "corrupt"): boolean {
    const size = this.inventory.get(id);
    if (size === undefined) return false;
    this.inventory.delete(id);
    this.used -= size;
    this.emit(kind, id);
    return true;
  }

  /** Deletes a chunk that failed its checksum; it is reported as corrupt in the next heartbeat. */
  private async quarantine(id: string): Promise<void> {
    this.corruptFound++;
    this.forget(id, "corrupt");
    await this.unlinkFiles(id);
  }

  /** The chunk first, then its sums: a crash between leaves an orphan sidecar, removed at open. */
  private async unlinkFiles(id: string): Promise<void> {
    for (const path of [this.pathOf(id), this.sumsPathOf(id)]) {
      try {
        await unlink(path);
      } catch (err) {
        if (!isNoEntry(err)) throw err;
      }
    }
  }

  /** Deletes a chunk (idempotent). Returns whether it was here. */
  async delete(chunkId: string): Promise<boolean> {
    const id = checkId(chunkId);
    const had = this.forget(id, "removed");
    await this.unlinkFiles(id);
    return had;
  }

  /** The on-disk path of a chunk: for tests that damage files and for diagnostics. */
  chunkPath(chunkId: string): string {
    return this.pathOf(checkId(chunkId));
  }
}
