/**
 * The buffers a data node reads whole-chunk batches into, lent to the GET route and given back once
 * the socket has written them. A fresh 1 MiB buffer per batch made GC 26 % of a data node's busy time
 * while it served a get (bench/RESULTS.md, issue 14, get14): a new mapping, first-touch page faults
 * and external-memory pressure per MiB served. Only a buffer whose write finished may come back, so
 * a pooled buffer is never filled while its bytes are still on their way out.
 */
export class ReadBuffers {
  /** Given back and ready to be filled again (at most `keptBuffers`). */
  private readonly free: Buffer[] = [];
  /**
   * The memory of each buffer lent out: only these are taken back (a view of one counts). Weak: a
   * buffer whose client went away mid-write may never come back, and is collected as usual.
   */
  private readonly lent = new WeakSet<ArrayBufferLike>();

  constructor(
    readonly bufferBytes: number,
    private readonly keptBuffers: number,
  ) {}

  /** A buffer of `bufferBytes` whose contents are undefined; fresh when none is free. */
  take(): Buffer {
    const buf = this.free.pop() ?? Buffer.allocUnsafe(this.bufferBytes);
    // Larger than Node's shared pool takes, so a buffer owns its ArrayBuffer whole.
    this.lent.add(buf.buffer);
    return buf;
  }

  /** Takes back the buffer `piece` is a view of, once nothing reads it; anything else is ignored. */
  give(piece: Uint8Array): void {
    if (!this.lent.delete(piece.buffer)) return;
    if (this.free.length < this.keptBuffers) this.free.push(Buffer.from(piece.buffer, 0, this.bufferBytes));
  }
}
