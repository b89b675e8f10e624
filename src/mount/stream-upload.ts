/**
 * A file written from its start to its end in order (`dd`, `cp`, a download) is uploaded while it is
 * written, as the library's own write stream does, instead of spooled whole and uploaded at close:
 * the close then waits for the last chunks and the commit only. Nothing is visible before the commit
 * (close-to-open holds): the upload stores chunks, and its commit waits for `finish`.
 *
 * The writes are queued for the upload, at most `maxQueuedBytes` at a time (a writer faster than
 * the cluster waits here, so memory stays bounded). The handle keeps its spool as well: reads of what
 * was written, and the fallback when the writes stop being in order or the upload fails, come from
 * it (handles.ts).
 */
import type { WriteResult } from "../client/index.js";

export type StartUpload = (data: AsyncIterable<Buffer>) => Promise<WriteResult>;

export class StreamingUpload {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private ended = false;
  private aborted = false;
  private failure: unknown = null;
  /** The upload waits for data (or the end). */
  private dataReady: (() => void) | null = null;
  /** A write waits for room in the queue. */
  private roomReady: (() => void) | null = null;
  private readonly result: Promise<WriteResult>;

  constructor(
    start: StartUpload,
    /** What the upload was started for: a commit under another path or lock must not use it. */
    readonly key: string,
    private readonly maxQueuedBytes = 8 * 1024 * 1024,
  ) {
    this.result = start(this.feed());
    this.result.catch((err: unknown) => {
      this.failure = err;
      this.wakeWriter();
    });
  }

  /** True once the upload has failed: the handle commits from its spool instead. */
  get failed(): boolean {
    return this.failure !== null;
  }

  /** Queues `data` (the next bytes of the file), waiting while the queue is full. */
  async push(data: Buffer): Promise<void> {
    if (this.ended || this.aborted) throw new Error("upload already ended");
    while (this.queuedBytes >= this.maxQueuedBytes && !this.failed && !this.aborted) {
      await new Promise<void>((r) => {
        this.roomReady = r;
      });
    }
    if (this.failed || this.aborted) return;
    this.queue.push(data);
    this.queuedBytes += data.byteLength;
    this.wakeUpload();
  }

  /** No more bytes: the upload stores what is left and commits. */
  finish(): Promise<WriteResult> {
    this.ended = true;
    this.wakeUpload();
    return this.result;
  }

  /** Gives the upload up (nothing is committed); resolves once it has stopped. */
  async abort(): Promise<void> {
    this.aborted = true;
    this.wakeUpload();
    this.wakeWriter();
    await this.result.catch(() => undefined);
  }

  private async *feed(): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.aborted) throw new Error("upload abandoned: the writes left sequential order");
      const next = this.queue.shift();
      if (next !== undefined) {
        this.queuedBytes -= next.byteLength;
        this.wakeWriter();
        yield next;
      } else if (this.ended) return;
      else
        await new Promise<void>((r) => {
          this.dataReady = r;
        });
    }
  }

  private wakeUpload(): void {
    const r = this.dataReady;
    this.dataReady = null;
    r?.();
  }

  private wakeWriter(): void {
    const r = this.roomReady;
    this.roomReady = null;
    r?.();
  }
}
