/**
 * One chunk on its way to disk (ChunkStore.beginWrite): bytes hashed, summed per block and written to a
 * temp file as they arrive; `commit` checks size and hash, fsyncs, renames the chunk into place and
 * fsyncs its folder, so a crash leaves the chunk whole or not at all; `abort` leaves nothing behind.
 */
import { createHash } from "node:crypto";
import type { FileHandle } from "node:fs/promises";
import { rename, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import { syncDir } from "../common/durable-files.js";
import { DfsError } from "../common/errors.js";
import { BlockSummer, type BlockSums, hasBlockSums } from "./block-sums.js";

/** What a writer needs of its store: its sidecar written, and its outcome counted. */
export interface ChunkLanding {
  writeBlockSums(id: string, sums: BlockSums, sumsPath: string): Promise<void>;
  /** Called once the chunk is durable in place (or given up); returns whether it is new to the node. */
  settleWrite(w: { id: string; sizeBytes: number }, stored: boolean): boolean;
}

function isNoEntry(err: unknown): boolean {
  return (err as NodeJS.ErrnoException)?.code === "ENOENT";
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
  /** Where the block sums go, renamed into place just before the chunk. */
  sumsPath: string;
  fh: FileHandle;
}

/** One chunk on its way to disk; see ChunkStore.beginWrite. */
export class ChunkWriter {
  private readonly hash = createHash("sha256");
  private readonly blocks = new BlockSummer();
  private received = 0;
  private state: "open" | "landed" | "committed" | "aborted" = "open";
  private fileClosed = false;
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;

  constructor(
    private readonly f: ChunkWriterFile,
    private readonly store: ChunkLanding,
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
    this.blocks.update(buf);
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
    await this.land();
    // The rename is durable only once the folder's entry is on disk.
    await syncDir(this.folder);
    return this.settle();
  }

  /** The folder whose fsync makes the landed chunk's rename durable. */
  get folder(): string {
    return dirname(this.f.finalPath);
  }

  /**
   * All of `commit` but the folder's fsync: the caller fsyncs `folder` (once for every chunk of a
   * group that landed in it), then calls `settle`. Until then the chunk is not counted as stored.
   */
  async land(): Promise<void> {
    const { id, sizeBytes, fh, tempPath, finalPath } = this.f;
    if (this.received !== sizeBytes) {
      await this.abort();
      throw new DfsError(
        "BAD_REQUEST",
        `the body has ${this.received} bytes, not the declared ${sizeBytes}`,
        {
          chunkId: id,
        },
      );
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
    // Sums first: the chunk never appears without them (except from before they existed, and a
    // chunk of one block, which needs none: see hasBlockSums).
    if (hasBlockSums(sizeBytes)) await this.store.writeBlockSums(id, this.blocks.finish(), this.f.sumsPath);
    await rename(tempPath, finalPath);
    this.state = "landed";
  }

  /** After `land` and the folder's fsync: the chunk counts as stored. Returns whether it is new here. */
  settle(): boolean {
    if (this.state !== "landed") throw new DfsError("INTERNAL", "settle before the chunk landed");
    this.state = "committed";
    return this.store.settleWrite(this.f, true);
  }

  /**
   * Drops the temp file; a no-op after commit or a previous abort. A chunk that landed but was never
   * settled (its folder's fsync failed) is given up: in place on disk, not counted as stored.
   */
  async abort(): Promise<void> {
    if (this.state === "landed") {
      this.state = "aborted";
      this.store.settleWrite(this.f, false);
      return;
    }
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
