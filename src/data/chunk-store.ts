/**
 * Chunks on disk: `<dir>/chunks/<first 2 hex>/<id>`, immutable and content-addressed (id = SHA-256).
 *
 * A write streams into a temp file in the chunk's own folder while hashing, fsyncs it, checks the hash,
 * renames it into place and fsyncs the folder: after a crash the chunk is there whole or not at all,
 * and the temp files a crash leaves behind are removed at the next open. A read loads the chunk (at
 * most one chunk per request), hashes it and only then serves it; a mismatch deletes the chunk
 * (quarantine) and reports it, so the leader re-replicates it from a good copy.
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
import { join } from "node:path";
import { DfsError } from "../common/errors.js";
import { CHUNK_ID_PATTERN } from "../common/protocol/index.js";

/** The config schema's largest chunk size: a chunk written under an older, larger setting still reads. */
export const MAX_CHUNK_BYTES = 64 * 1024 * 1024;
const TEMP_PATTERN = /^[0-9a-f]{64}\.tmp-[0-9a-f]+$/;

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

export interface ChunkStoreDeps {
  /** Free and total bytes of the file system holding `dir` (default: `fs.statfs`). */
  space?: (dir: string) => Promise<DiskSpace>;
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

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, "r");
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
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
  private used = 0;
  /** Bytes promised to writes in progress, so concurrent writes cannot together overrun the reserve. */
  private reservedBytes = 0;
  /** Chunks found corrupt (on read or by the scrubber) since start. */
  corruptFound = 0;

  private constructor(
    readonly opts: ChunkStoreOptions,
    deps: ChunkStoreDeps,
  ) {
    this.chunksDir = join(opts.dir, "chunks");
    this.space = deps.space ?? diskSpace;
  }

  /** Creates the folders, removes temp files left by a crash and lists the inventory (one walk). */
  static async open(opts: ChunkStoreOptions, deps: ChunkStoreDeps = {}): Promise<ChunkStore> {
    const store = new ChunkStore(opts, deps);
    await store.load();
    return store;
  }

  private async load(): Promise<void> {
    await mkdir(this.chunksDir, { recursive: true });
    // All 256 fan-out folders exist from the start, so a write never creates (and must fsync) a folder.
    for (let i = 0; i < 256; i++)
      await mkdir(this.folderOf(i.toString(16).padStart(2, "0")), { recursive: true });
    await fsyncDir(this.chunksDir);
    await fsyncDir(this.opts.dir);
    for (let i = 0; i < 256; i++) {
      const prefix = i.toString(16).padStart(2, "0");
      const folder = this.folderOf(prefix);
      const names = await readdir(folder);
      await Promise.all(
        names.map(async (name) => {
          if (TEMP_PATTERN.test(name)) return unlink(join(folder, name));
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
    const { freeBytes, capacityBytes } = await this.space(this.opts.dir);
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
    const { freeBytes } = await this.space(this.opts.dir);
    const left = freeBytes - this.reservedBytes - sizeBytes;
    if (left < this.opts.freeSpaceReserveBytes) {
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
    return new ChunkWriter({ id, sizeBytes, tempPath, finalPath: this.pathOf(id), fh }, this);
  }

  /** Called by a writer once its chunk is durable in place (or when it gives up). */
  settleWrite(w: { id: string; sizeBytes: number }, stored: boolean): boolean {
    this.reservedBytes -= w.sizeBytes;
    if (!stored || this.inventory.has(w.id)) return false;
    this.inventory.set(w.id, w.sizeBytes);
    this.used += w.sizeBytes;
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
    const data = await this.load1(id);
    if (createHash("sha256").update(data).digest("hex") !== id) {
      await this.quarantine(id);
      throw new DfsError("CORRUPT", `chunk ${id} failed its checksum on this node and was quarantined`, {
        chunkId: id,
      });
    }
    return data;
  }

  /** Re-reads and hashes a chunk (for the scrubber); a corrupt one is quarantined. */
  async verify(chunkId: string): Promise<{ result: "ok" | "corrupt" | "missing"; bytesRead: number }> {
    const sizeBytes = this.inventory.get(chunkId) ?? 0;
    try {
      await this.read(chunkId);
      return { result: "ok", bytesRead: sizeBytes };
    } catch (err) {
      if (err instanceof DfsError && err.code === "NOT_FOUND") return { result: "missing", bytesRead: 0 };
      if (err instanceof DfsError && err.code === "CORRUPT")
        return { result: "corrupt", bytesRead: sizeBytes };
      throw err;
    }
  }

  private async load1(id: string): Promise<Buffer> {
    if (!this.inventory.has(id))
      throw new DfsError("NOT_FOUND", `no chunk ${id} on this node`, { chunkId: id });
    let fh: FileHandle;
    try {
      fh = await open(this.pathOf(id), "r");
    } catch (err) {
      if (!isNoEntry(err)) throw err;
      // Gone from disk behind our back: the inventory follows the disk.
      this.forget(id, "removed");
      throw new DfsError("NOT_FOUND", `no chunk ${id} on this node`, { chunkId: id });
    }
    try {
      const { size } = await fh.stat();
      if (size > MAX_CHUNK_BYTES) {
        await this.quarantine(id);
        throw new DfsError("CORRUPT", `chunk ${id} is ${size} bytes, larger than any chunk can be`, {
          chunkId: id,
        });
      }
      return await readFile(fh);
    } finally {
      await fh.close();
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
    try {
      await unlink(this.pathOf(id));
    } catch (err) {
      if (!isNoEntry(err)) throw err;
    }
  }

  /** Deletes a chunk (idempotent). Returns whether it was here. */
  async delete(chunkId: string): Promise<boolean> {
    const id = checkId(chunkId);
    const had = this.forget(id, "removed");
    try {
      await unlink(this.pathOf(id));
    } catch (err) {
      if (!isNoEntry(err)) throw err;
    }
    return had;
  }

  /** The on-disk path of a chunk: for tests that damage files and for diagnostics. */
  chunkPath(chunkId: string): string {
    return this.pathOf(checkId(chunkId));
  }
}

/** Bytes gathered before one write call. */
const WRITE_BATCH_BYTES = 1024 * 1024;

/** What is left of `bufs` after a (possibly partial) write of `n` bytes. */
function skipBytes(bufs: Uint8Array[], n: number): Uint8Array[] {
  let left = n;
  let i = 0;
  while (i < bufs.length && left >= bufs[i]!.byteLength) left -= bufs[i++]!.byteLength;
  const rest = bufs.slice(i);
  if (left > 0 && rest[0]) rest[0] = rest[0].subarray(left);
  return rest;
}

export interface ChunkWriterFile {
  id: string;
  sizeBytes: number;
  tempPath: string;
  finalPath: string;
  fh: FileHandle;
}

/** One chunk on its way to disk; see ChunkStore.beginWrite. */
export class ChunkWriter {
  private readonly hash = createHash("sha256");
  private received = 0;
  private state: "open" | "committed" | "aborted" = "open";
  private fileClosed = false;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly f: ChunkWriterFile,
    private readonly store: ChunkStore,
  ) {}

  get bytesReceived(): number {
    return this.received;
  }

  async write(buf: Uint8Array): Promise<void> {
    if (this.state !== "open") throw new DfsError("BAD_REQUEST", "the chunk write is already finished");
    this.received += buf.byteLength;
    if (this.received > this.f.sizeBytes) {
      throw new DfsError("BAD_REQUEST", `the body is longer than the declared ${this.f.sizeBytes} bytes`);
    }
    this.hash.update(buf);
    this.pending.push(buf);
    this.pendingBytes += buf.byteLength;
    if (this.pendingBytes >= WRITE_BATCH_BYTES) await this.flush();
  }

  /** Network reads arrive in ~64 KiB pieces; one write call per piece costs a thread-pool round trip. */
  private async flush(): Promise<void> {
    let bufs = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    while (bufs.length > 0) {
      const { bytesWritten } = await this.f.fh.writev(bufs);
      bufs = skipBytes(bufs, bytesWritten);
    }
  }

  /** Verifies size and hash, makes the chunk durable in place. Returns whether it is new to this node. */
  async commit(): Promise<boolean> {
    const { id, sizeBytes, fh, tempPath, finalPath } = this.f;
    if (this.received !== sizeBytes) {
      await this.abort();
      throw new DfsError("BAD_REQUEST", `the body has ${this.received} bytes, not the declared ${sizeBytes}`);
    }
    await this.flush();
    const digest = this.hash.digest("hex");
    if (digest !== id) {
      await this.abort();
      throw new DfsError(
        "CHECKSUM_MISMATCH",
        `the bytes received hash to ${digest}, not to the chunk id ${id}: refused`,
        { chunkId: id, actual: digest },
      );
    }
    await fh.sync();
    this.fileClosed = true;
    await fh.close();
    await rename(tempPath, finalPath);
    // The rename is durable only once the folder's entry is on disk.
    await fsyncDir(join(finalPath, ".."));
    this.state = "committed";
    return this.store.settleWrite(this.f, true);
  }

  /** Drops the temp file; a no-op after commit or a previous abort. */
  async abort(): Promise<void> {
    if (this.state !== "open") return;
    this.state = "aborted";
    this.store.settleWrite(this.f, false);
    if (!this.fileClosed) {
      this.fileClosed = true;
      await this.f.fh.close();
    }
    try {
      await unlink(this.f.tempPath);
    } catch (err) {
      if (!isNoEntry(err)) throw err;
    }
  }
}
