/**
 * A handle's local copy of the file it writes: in memory while small (no local file to create, write
 * and delete per small file, which dominated `cp` of many small files), spilled to a file in the
 * spool folder past `memoryMaxBytes`, so a large file never sits in memory whole.
 */
import { createReadStream, type ReadStream } from "node:fs";
import { type FileHandle, open, rm } from "node:fs/promises";

export class Spool {
  private mem: Buffer | null = Buffer.alloc(0);
  private file: FileHandle | null = null;
  sizeBytes = 0;

  constructor(
    private readonly filePath: string,
    private readonly memoryMaxBytes = 1024 * 1024,
  ) {}

  async read(buf: Buffer, length: number, position: number): Promise<number> {
    const n = Math.max(0, Math.min(length, this.sizeBytes - position));
    if (this.mem) return this.mem.copy(buf, 0, position, position + n);
    return (await this.file!.read(buf, 0, n, position)).bytesRead;
  }

  async write(data: Buffer, position: number): Promise<void> {
    const end = position + data.byteLength;
    if (this.mem && end > this.memoryMaxBytes) await this.spill();
    if (this.mem) {
      if (end > this.mem.byteLength) {
        const grown = Buffer.alloc(Math.min(this.memoryMaxBytes, Math.max(end, this.mem.byteLength * 2)));
        this.mem.copy(grown, 0, 0, this.sizeBytes);
        this.mem = grown;
      }
      // Bytes between the old end and `position` must read as zeros (a sparse write).
      if (position > this.sizeBytes) this.mem.fill(0, this.sizeBytes, position);
      data.copy(this.mem, position);
    } else {
      let done = 0;
      while (done < data.byteLength) {
        done += (await this.file!.write(data, done, data.byteLength - done, position + done)).bytesWritten;
      }
    }
    this.sizeBytes = Math.max(this.sizeBytes, end);
  }

  async truncate(sizeBytes: number): Promise<void> {
    if (this.mem && sizeBytes > this.memoryMaxBytes) await this.spill();
    if (this.mem) {
      if (sizeBytes > this.sizeBytes)
        await this.write(Buffer.alloc(sizeBytes - this.sizeBytes), this.sizeBytes);
    } else await this.file!.truncate(sizeBytes);
    this.sizeBytes = sizeBytes;
  }

  /** The content, for a commit. */
  source(): Buffer | ReadStream {
    if (this.mem) return this.mem.subarray(0, this.sizeBytes);
    return createReadStream(this.filePath, {
      highWaterMark: 1024 * 1024,
      start: 0,
      end: Math.max(0, this.sizeBytes - 1),
    });
  }

  private async spill(): Promise<void> {
    const f = await open(this.filePath, "w+");
    this.file = f;
    const mem = this.mem!;
    this.mem = null;
    let done = 0;
    while (done < this.sizeBytes)
      done += (await f.write(mem, done, this.sizeBytes - done, done)).bytesWritten;
  }

  async close(): Promise<void> {
    this.mem = null;
    if (this.file) {
      await this.file.close();
      this.file = null;
      await rm(this.filePath, { force: true });
    }
  }
}
