/**
 * A handle's local copy of a chunked file that is filled one chunk at a time, when a read or write
 * first touches that chunk, instead of whole at the first write: a 4 KiB write into a 64 MiB file
 * reads one chunk of the base version, and its commit stores that chunk and names the others as they
 * are (ChunkPatcher in the client library). The spool file is sparse: chunks never touched take no
 * space.
 *
 * The chunks of the file are fixed-size (`chunkSizeBytes`, the last one shorter), as the library
 * writes them; a base with other boundaries is not patched (`fits`), the handle copies it whole.
 * Chunk i of the new version is the base's chunk i, untouched, when `i < fromBase` and it was never
 * loaded: every change of size first loads the chunk holding the old end and the one holding the new
 * end (their extent changes), and a shrink lowers `fromBase`, so bytes cut off are never brought back
 * from the base by a later growth.
 */
import type { PatchedChunk } from "../client/index.js";
import type { WireChunkRef } from "../common/protocol/index.js";
import type { Spool } from "./spool.js";

export interface PatchBase {
  sizeBytes: number;
  chunks: readonly WireChunkRef[];
}

/** Reads [start, end) of the base version. */
export type LoadRange = (start: number, end: number) => Promise<Buffer>;

export class PatchCopy {
  /** Chunk indexes whose bytes the spool holds (loaded from the base, or written). */
  private readonly local = new Set<number>();
  /** Chunks below this index may still come from the base (see the top). */
  private fromBase: number;
  /** Base chunks read so far (tests count them). */
  loads = 0;

  private constructor(
    private readonly spool: Spool,
    private readonly base: PatchBase,
    private readonly chunkSizeBytes: number,
    private readonly load: LoadRange,
  ) {
    this.fromBase = base.chunks.length;
  }

  /** Whether `base` has the fixed-size chunks a patch keeps (all full but the last). */
  static fits(base: PatchBase, chunkSizeBytes: number): boolean {
    const n = base.chunks.length;
    if (n === 0 || n !== Math.ceil(base.sizeBytes / chunkSizeBytes)) return false;
    return base.chunks.every((c, i) =>
      i < n - 1 ? c.sizeBytes === chunkSizeBytes : c.sizeBytes === base.sizeBytes - i * chunkSizeBytes,
    );
  }

  /** A copy of `base` with nothing loaded yet (the spool is sized, sparse). */
  static async open(
    spool: Spool,
    base: PatchBase,
    chunkSizeBytes: number,
    load: LoadRange,
  ): Promise<PatchCopy> {
    await spool.truncate(base.sizeBytes);
    return new PatchCopy(spool, base, chunkSizeBytes, load);
  }

  get sizeBytes(): number {
    return this.spool.sizeBytes;
  }

  /** The base's chunk ids: new bytes equal to one of them need no store. */
  knownChunks(): ReadonlySet<string> {
    return new Set(this.base.chunks.map((c) => c.id));
  }

  private end(i: number, sizeBytes = this.sizeBytes): number {
    return Math.min(sizeBytes, (i + 1) * this.chunkSizeBytes);
  }

  /** Brings chunk `i` into the spool from the base, unless the spool already holds it. */
  private async ensure(i: number): Promise<void> {
    if (i >= this.fromBase || this.local.has(i)) return;
    const start = i * this.chunkSizeBytes;
    const data = await this.load(start, start + this.base.chunks[i]!.sizeBytes);
    this.loads++;
    await this.spool.write(data, start);
    this.local.add(i);
  }

  /** Before the size changes: the chunks holding the old and the new end change extent. */
  private async resizing(sizeBytes: number): Promise<void> {
    const c = this.chunkSizeBytes;
    // Growing: the old last chunk gets longer. Shrinking: the new last chunk gets shorter. (A chunk
    // wholly past the old end, or cut off whole, needs nothing from the base.)
    if (sizeBytes > this.sizeBytes && this.sizeBytes % c !== 0)
      await this.ensure(Math.floor(this.sizeBytes / c));
    if (sizeBytes < this.sizeBytes && sizeBytes % c !== 0) await this.ensure(Math.floor(sizeBytes / c));
  }

  async read(buf: Buffer, length: number, position: number): Promise<number> {
    if (position >= this.sizeBytes) return 0;
    const end = Math.min(this.sizeBytes, position + length);
    const c = this.chunkSizeBytes;
    for (let i = Math.floor(position / c); i * c < end; i++) await this.ensure(i);
    return this.spool.read(buf, length, position);
  }

  async write(data: Buffer, position: number): Promise<void> {
    const end = position + data.byteLength;
    if (data.byteLength === 0) return;
    const newSize = Math.max(this.sizeBytes, end);
    if (newSize !== this.sizeBytes) await this.resizing(newSize);
    const c = this.chunkSizeBytes;
    for (let i = Math.floor(position / c); i * c < end; i++) {
      // A chunk this write covers whole needs nothing from the base.
      if (!(position <= i * c && end >= this.end(i, newSize))) await this.ensure(i);
    }
    await this.spool.write(data, position);
    for (let i = Math.floor(position / c); i * c < end; i++) this.local.add(i);
  }

  async truncate(sizeBytes: number): Promise<void> {
    if (sizeBytes === this.sizeBytes) return;
    await this.resizing(sizeBytes);
    await this.spool.truncate(sizeBytes);
    const chunks = Math.ceil(sizeBytes / this.chunkSizeBytes);
    this.fromBase = Math.min(this.fromBase, chunks);
    for (const i of this.local) if (i >= chunks) this.local.delete(i);
  }

  /** Loads every chunk still in the base: the spool then holds the whole file. */
  async materialize(): Promise<void> {
    for (let i = 0; i < Math.min(this.fromBase, this.chunkCount()); i++) await this.ensure(i);
  }

  private chunkCount(): number {
    return Math.ceil(this.sizeBytes / this.chunkSizeBytes);
  }

  /** The new version's chunks in order: base chunks kept, the spool's bytes for the others. */
  async *chunks(): AsyncGenerator<PatchedChunk> {
    const c = this.chunkSizeBytes;
    for (let i = 0; i < this.chunkCount(); i++) {
      if (i < this.fromBase && !this.local.has(i)) {
        yield { keep: this.base.chunks[i]! };
        continue;
      }
      const start = i * c;
      const data = Buffer.alloc(this.end(i) - start);
      const n = await this.spool.read(data, data.byteLength, start);
      yield { data: data.subarray(0, n) };
    }
  }
}
