/**
 * Per-block checksums of a chunk, so a range read verifies only the blocks it serves instead of
 * loading and hashing the whole chunk (HDFS keeps a CRC per 512 bytes in a `.meta` file beside each
 * block for the same reason). The chunk id (SHA-256 of the whole) stays the proof of content: full
 * reads and the scrubber still check it; the block CRCs catch a disk's damage on partial reads.
 *
 * Sidecar file `<id>.blocks` beside the chunk, written whole and fsynced before the chunk is renamed
 * into place:
 *   magic "RFSBLK1\n" | blockBytes u32 BE | chunkBytes u32 BE | crc32 u32 BE per block | sha256 of all before
 * The trailing hash makes a torn or damaged sidecar read as absent, never as wrong sums. Every crash
 * state is safe: a sidecar without its chunk is removed at the next open; a chunk without a valid
 * sidecar (also every chunk written before sidecars existed) is served by a whole read and verify, and
 * the scrubber writes its sidecar once it has verified the chunk.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import { assert } from "../common/assert.js";

export const BLOCK_BYTES = 64 * 1024;
const MAGIC = Buffer.from("RFSBLK1\n", "latin1");
const HEADER_BYTES = MAGIC.byteLength + 8;
const DIGEST_BYTES = 32;

export interface BlockSums {
  blockBytes: number;
  chunkBytes: number;
  crcs: Uint32Array;
}

/**
 * Whether a chunk of this size gets a block-sums sidecar. A chunk of one block does not: any read of
 * it reads that whole block, which its id (the SHA-256) proves as cheaply as a CRC would, so the
 * sidecar would only cost each small chunk a second file and a second fsync on every replica (of
 * three per store; bench/RESULTS.md, issue 14, small files).
 */
export function hasBlockSums(chunkBytes: number): boolean {
  return chunkBytes > BLOCK_BYTES;
}

export function blockCount(chunkBytes: number, blockBytes = BLOCK_BYTES): number {
  return Math.ceil(chunkBytes / blockBytes);
}

export function encodeBlockSums(s: BlockSums): Buffer {
  assert(s.crcs.length === blockCount(s.chunkBytes, s.blockBytes), "one crc per block");
  const body = Buffer.alloc(HEADER_BYTES + 4 * s.crcs.length);
  MAGIC.copy(body, 0);
  body.writeUInt32BE(s.blockBytes, MAGIC.byteLength);
  body.writeUInt32BE(s.chunkBytes, MAGIC.byteLength + 4);
  for (let i = 0; i < s.crcs.length; i++) body.writeUInt32BE(s.crcs[i]!, HEADER_BYTES + 4 * i);
  return Buffer.concat([body, createHash("sha256").update(body).digest()]);
}

/** The sums in `file`, or null when it is torn, damaged or not a sidecar at all. */
export function decodeBlockSums(file: Buffer): BlockSums | null {
  if (file.byteLength < HEADER_BYTES + DIGEST_BYTES) return null;
  const body = file.subarray(0, file.byteLength - DIGEST_BYTES);
  const digest = file.subarray(file.byteLength - DIGEST_BYTES);
  if (!createHash("sha256").update(body).digest().equals(digest)) return null;
  if (!body.subarray(0, MAGIC.byteLength).equals(MAGIC)) return null;
  const blockBytes = body.readUInt32BE(MAGIC.byteLength);
  const chunkBytes = body.readUInt32BE(MAGIC.byteLength + 4);
  const n = (body.byteLength - HEADER_BYTES) / 4;
  if (blockBytes === 0 || n !== blockCount(chunkBytes, blockBytes)) return null;
  const crcs = new Uint32Array(n);
  for (let i = 0; i < n; i++) crcs[i] = body.readUInt32BE(HEADER_BYTES + 4 * i);
  return { blockBytes, chunkBytes, crcs };
}

export function sameSums(a: BlockSums, b: BlockSums): boolean {
  if (a.blockBytes !== b.blockBytes || a.chunkBytes !== b.chunkBytes || a.crcs.length !== b.crcs.length)
    return false;
  return a.crcs.every((c, i) => c === b.crcs[i]);
}

/** The sums of a whole chunk held in memory. */
export function sumBlocks(data: Uint8Array, blockBytes = BLOCK_BYTES): BlockSums {
  const summer = new BlockSummer(blockBytes);
  summer.update(data);
  return summer.finish();
}

/** Sums blocks as the bytes stream in, whatever the pieces' sizes. */
export class BlockSummer {
  private readonly crcs: number[] = [];
  private crc = 0;
  private fill = 0;
  private total = 0;

  constructor(private readonly blockBytes = BLOCK_BYTES) {}

  update(buf: Uint8Array): void {
    let at = 0;
    while (at < buf.byteLength) {
      const take = Math.min(this.blockBytes - this.fill, buf.byteLength - at);
      this.crc = crc32(buf.subarray(at, at + take), this.crc);
      this.fill += take;
      at += take;
      if (this.fill === this.blockBytes) this.endBlock();
    }
    this.total += buf.byteLength;
  }

  private endBlock(): void {
    this.crcs.push(this.crc);
    this.crc = 0;
    this.fill = 0;
  }

  finish(): BlockSums {
    if (this.fill > 0) this.endBlock();
    return { blockBytes: this.blockBytes, chunkBytes: this.total, crcs: Uint32Array.from(this.crcs) };
  }
}

/** The blocks covering bytes [start, end) of a chunk: their first byte and how many bytes they span. */
export function coveringBlocks(
  s: BlockSums,
  start: number,
  end: number,
): { first: number; last: number; fromByte: number; toByte: number } {
  assert(0 <= start && start < end && end <= s.chunkBytes, "a non-empty range inside the chunk");
  const first = Math.floor(start / s.blockBytes);
  const last = Math.floor((end - 1) / s.blockBytes);
  return {
    first,
    last,
    fromByte: first * s.blockBytes,
    toByte: Math.min(s.chunkBytes, (last + 1) * s.blockBytes),
  };
}

/** The index of the first block of `data` (blocks first..last, read from fromByte) that fails its crc, or -1. */
export function firstBadBlock(s: BlockSums, first: number, data: Uint8Array): number {
  for (let i = 0, b = first; i < data.byteLength; i += s.blockBytes, b++) {
    const block = data.subarray(i, Math.min(data.byteLength, i + s.blockBytes));
    if (crc32(block) !== s.crcs[b]) return b;
  }
  return -1;
}
