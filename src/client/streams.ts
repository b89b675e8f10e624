/**
 * Node streams over uploads and chunk reads. A write stream commits in `_final`, so 'finish' means
 * "the new version is visible"; `result` carries its version. A read stream pulls the reader's verified
 * pieces one at a time (the reader fetches a bounded number of chunks ahead meanwhile).
 */
import { Readable, Writable } from "node:stream";
import type { ReadResponse } from "../common/protocol/index.js";
import type { Upload, WriteResult } from "./upload.js";

export class RaftfsWriteStream extends Writable {
  /** Resolves with the committed version once the stream finished; rejects if it failed. */
  readonly result: Promise<WriteResult>;
  private settle!: { resolve: (r: WriteResult) => void; reject: (e: unknown) => void };

  constructor(
    readonly path: string,
    private readonly upload: Upload,
    private readonly onClose: () => void,
  ) {
    super({ decodeStrings: true });
    this.result = new Promise((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // The caller may only listen to 'error'/'finish'; `result` must not count as unhandled.
    this.result.catch(() => undefined);
  }

  get bytesWritten(): number {
    return this.upload.bytesWritten;
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.upload.write(chunk).then(() => callback(), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.upload.finish().then(
      (r) => {
        this.settle.resolve(r);
        callback();
      },
      (err: Error) => {
        this.settle.reject(err);
        callback(err);
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onClose();
    if (error === null) {
      callback(null);
      return;
    }
    this.settle.reject(error);
    this.upload.abort().then(
      () => callback(error),
      () => callback(error),
    );
  }
}

export type ChunkSource = (signal: AbortSignal) => {
  file: Promise<ReadResponse>;
  bytes: AsyncGenerator<Buffer>;
};

export class RaftfsReadStream extends Readable {
  /** The version being read, once known (after the 'open' event). */
  file: ReadResponse | null = null;
  private readonly controller = new AbortController();
  private chunks: AsyncGenerator<Buffer> | null = null;
  private pulling = false;

  constructor(
    readonly path: string,
    private readonly source: ChunkSource,
    private readonly onClose: () => void,
  ) {
    super();
  }

  override _read(): void {
    if (this.pulling) return;
    this.pulling = true;
    if (this.chunks === null) {
      const { file, bytes } = this.source(this.controller.signal);
      this.chunks = bytes;
      file.then(
        (f) => {
          this.file = f;
          this.emit("open", f);
        },
        () => undefined, // the same failure reaches us through `bytes`
      );
    }
    this.chunks.next().then(
      (r) => {
        this.pulling = false;
        if (r.done) this.push(null);
        else this.push(r.value);
      },
      (err: Error) => {
        this.pulling = false;
        this.destroy(err);
      },
    );
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.onClose();
    this.controller.abort();
    const it = this.chunks;
    if (it === null || this.pulling) {
      callback(error);
      return;
    }
    it.return(undefined).then(
      () => callback(error),
      () => callback(error),
    );
  }
}
