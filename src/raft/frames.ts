/**
 * Length-prefixed frames on a byte stream: a 4-byte big-endian length, then that many bytes. The Raft
 * peer streams carry one msgpack message batch per frame.
 */

export const FRAME_HEADER_BYTES = 4;

/** The header and the body of one frame, for a single vectored write. */
export function frame(body: Uint8Array): [Buffer, Uint8Array] {
  const header = Buffer.allocUnsafe(FRAME_HEADER_BYTES);
  header.writeUInt32BE(body.byteLength, 0);
  return [header, body];
}

export class FrameTooLargeError extends Error {
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`frame of ${bytes} bytes exceeds the limit of ${limit}`);
    this.name = "FrameTooLargeError";
  }
}

/**
 * Reassembles frames from chunks as they arrive. Chunks are kept as a list and joined once per frame,
 * so a large frame arriving in many small chunks costs linear time.
 */
export class FrameReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Length of the frame being assembled, once its header is in. */
  private expected = -1;

  constructor(private readonly maxFrameBytes: number) {}

  /** Adds a chunk; returns the frames it completed. Throws FrameTooLargeError on an oversized header. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.byteLength;
    const frames: Buffer[] = [];
    for (;;) {
      if (this.expected < 0) {
        if (this.buffered < FRAME_HEADER_BYTES) break;
        this.expected = this.take(FRAME_HEADER_BYTES).readUInt32BE(0);
        if (this.expected > this.maxFrameBytes)
          throw new FrameTooLargeError(this.expected, this.maxFrameBytes);
      }
      if (this.buffered < this.expected) break;
      frames.push(this.take(this.expected));
      this.expected = -1;
    }
    return frames;
  }

  private take(n: number): Buffer {
    const all = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.byteLength > 0 ? [rest] : [];
    this.buffered = rest.byteLength;
    return out;
  }
}
