/**
 * Chunk arithmetic: ids, cutting a byte stream into fixed-size chunks, and which parts of which
 * chunks a byte range needs. Pure functions, so the edge cases (empty files, ranges ending exactly on
 * a chunk boundary, ranges past the end) are tested without a cluster.
 */
import { DfsError } from "../common/errors.js";
import type { WireChunkRef } from "../common/protocol/index.js";

// One definition with the metadata server's chunk writes.
export { sha256Hex } from "../common/chunk-pipeline.js";

/**
 * Collects incoming buffers into chunks of exactly `chunkSizeBytes` (the last one shorter). Holds at
 * most one partial chunk: that is what bounds a write stream's memory.
 *
 * A full chunk handed out may come back through `release` once nothing reads it any more (its store
 * was acknowledged); up to `keptBuffers` of them are kept and filled again, so a long write allocates
 * a bounded set of chunk buffers instead of one per chunk. A fresh 4 MiB buffer per chunk cost the CLI
 * put a page fault per page inside the copy and much of its GC (20 % of its samples: bench/RESULTS.md,
 * issue 14, put14).
 */
export class ChunkBuffer {
  private partial: Buffer | null = null;
  private filled = 0;
  /** Buffers this chunker handed out and not yet had back: only these may be released. */
  private readonly lent = new Set<Buffer>();
  /** Released buffers waiting to be filled again (at most keptBuffers). */
  private readonly free: Buffer[] = [];

  constructor(
    readonly chunkSizeBytes: number,
    private readonly keptBuffers = 0,
  ) {
    if (!Number.isSafeInteger(chunkSizeBytes) || chunkSizeBytes < 1) {
      throw new DfsError("BAD_REQUEST", `chunk size must be a positive integer, not ${chunkSizeBytes}`);
    }
  }

  /** Bytes held in the partial chunk. */
  get pendingBytes(): number {
    return this.filled;
  }

  /** Adds `data`; returns the chunks it completed (usually none or one). */
  push(data: Uint8Array): Buffer[] {
    const full: Buffer[] = [];
    let offset = 0;
    while (offset < data.byteLength) {
      this.partial ??= this.free.pop() ?? Buffer.allocUnsafe(this.chunkSizeBytes);
      const n = Math.min(this.chunkSizeBytes - this.filled, data.byteLength - offset);
      this.partial.set(data.subarray(offset, offset + n), this.filled);
      this.filled += n;
      offset += n;
      if (this.filled === this.chunkSizeBytes) {
        if (this.keptBuffers > 0) this.lent.add(this.partial);
        full.push(this.partial);
        this.partial = null;
        this.filled = 0;
      }
    }
    return full;
  }

  /**
   * Gives back a full chunk that `push` returned, once no one reads it any more: its bytes will be
   * overwritten by a later push. Anything else (a view of the caller's bytes, the short last chunk)
   * is ignored, so a caller may release every chunk it stored.
   */
  release(chunk: Buffer): void {
    if (!this.lent.delete(chunk)) return;
    if (this.free.length < this.keptBuffers) this.free.push(chunk);
  }

  /** The last, partial chunk (null when the data ended on a boundary). */
  flush(): Buffer | null {
    if (this.partial === null || this.filled === 0) return null;
    const last = this.partial.subarray(0, this.filled);
    this.partial = null;
    this.filled = 0;
    return last;
  }
}

/** Offsets of the chunks a buffer of `sizeBytes` is cut into. */
export function chunkBounds(sizeBytes: number, chunkSizeBytes: number): { start: number; end: number }[] {
  const out: { start: number; end: number }[] = [];
  for (let start = 0; start < sizeBytes; start += chunkSizeBytes) {
    out.push({ start, end: Math.min(sizeBytes, start + chunkSizeBytes) });
  }
  return out;
}

/** A half-open byte range [start, end) of a file. */
export interface ByteSpan {
  start: number;
  end: number;
}

/**
 * fs.createReadStream's `{start, end}` (both inclusive, end defaulting to the last byte) as a
 * half-open span clipped to the file. A start past the end gives an empty span, like a local file.
 */
export function spanOf(sizeBytes: number, range: { start?: number; end?: number }): ByteSpan {
  const start = range.start ?? 0;
  const end = range.end ?? Number.POSITIVE_INFINITY;
  if (!Number.isSafeInteger(start) || start < 0) {
    throw new DfsError("BAD_REQUEST", `start must be a non-negative integer, not ${range.start}`);
  }
  if (end !== Number.POSITIVE_INFINITY && (!Number.isSafeInteger(end) || end < 0)) {
    throw new DfsError("BAD_REQUEST", `end must be a non-negative integer, not ${range.end}`);
  }
  const s = Math.min(start, sizeBytes);
  const e = Math.min(sizeBytes, end === Number.POSITIVE_INFINITY ? sizeBytes : end + 1);
  return { start: s, end: Math.max(s, e) };
}

/** The part [from, to) of one chunk that a range needs. */
export interface ChunkSlice {
  index: number;
  chunk: WireChunkRef;
  /** Offset of the chunk in the file. */
  chunkStart: number;
  from: number;
  to: number;
}

export function isWholeChunk(s: ChunkSlice): boolean {
  return s.from === 0 && s.to === s.chunk.sizeBytes;
}

/** The chunks, in order, that cover `span`, each with the part of it that is needed. */
export function slicesFor(chunks: readonly WireChunkRef[], span: ByteSpan): ChunkSlice[] {
  const out: ChunkSlice[] = [];
  if (span.end <= span.start) return out;
  let chunkStart = 0;
  for (const [index, chunk] of chunks.entries()) {
    const chunkEnd = chunkStart + chunk.sizeBytes;
    if (chunkEnd > span.start && chunkStart < span.end) {
      out.push({
        index,
        chunk,
        chunkStart,
        from: Math.max(span.start, chunkStart) - chunkStart,
        to: Math.min(span.end, chunkEnd) - chunkStart,
      });
    }
    if (chunkStart >= span.end) break;
    chunkStart = chunkEnd;
  }
  return out;
}
