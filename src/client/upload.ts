/**
 * One file write from start to commit. Bytes stay in memory only while the file could still be small
 * enough to commit inline; past that they are cut into chunks, and up to `chunksInFlight` full chunks
 * are stored at once (each pipelined to its R holders) while the next one fills: at most
 * `chunksInFlight + 2` chunks in memory (one full chunk may wait for a slot while the next fills),
 * whatever the file's size (24 MiB at the defaults), in buffers filled again once stored. One chunk at
 * a time left the pipeline idle between chunks (a placement round trip, the last node's fsync and the
 * ack's way back), which is most of a chunk's time on a fast disk.
 *
 * The commit is the moment the new version becomes visible, all or nothing: it is sent only once every
 * chunk's store succeeded, and lists them in file order whatever order they finished in. The first
 * failed store (after the writer's own retries on other holders) cancels the others and fails the
 * write; the stored chunks are abandoned.
 *
 * A commit refused with CHUNK_GONE names chunks the cluster collected after they were stored (the
 * write stalled past the garbage grace period). When the caller handed over the whole file at once
 * (`source`: writeFile of a buffer or a string), the upload stores every chunk again from it, once,
 * and commits again; a stream's bytes are gone by then, so a stream's write fails with CHUNK_GONE.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { assert } from "../common/assert.js";
import { DfsError, isDfsError } from "../common/errors.js";
import {
  type CommitResponse,
  MAX_CHUNKS_PER_FILE,
  MAX_UPLOAD_AGE_MS,
  type WireChunkRef,
} from "../common/protocol/index.js";
import type { ChunkWriter } from "./chunk-writer.js";
import { ChunkBuffer, chunkBounds, sha256Hex } from "./chunking.js";
import { type CommitContent, InlineBytes } from "./inline-bytes.js";

/** Commit attempts after a CHUNK_GONE, with backoff from 100 ms to 1 s: about 3.5 s in all. */
const CHUNK_GONE_RETRIES = 6;
/** Default chunk stores in flight per upload (the raw-HTTP bench saw 2 → 4 add ~15 % on one disk). */
export const CHUNKS_IN_FLIGHT = 4;

export interface UploadDeps {
  writer: ChunkWriter;
  commit: (content: CommitContent) => Promise<CommitResponse>;
  /** Best effort: tells the leader these chunks will never be referenced by this write. */
  abandon: (chunkIds: string[]) => Promise<void>;
  inlineThresholdBytes: number;
  chunkSizeBytes: number;
  /** Chunk stores at once (default CHUNKS_IN_FLIGHT); memory is bounded by this plus two chunks. */
  chunksInFlight?: number;
  signal?: AbortSignal;
  /**
   * Chunks the cluster already holds and the commit's base version references (a rewrite of a few
   * bytes in a large file): a chunk equal to one of them is listed without being stored again, so
   * the write sends only the chunks it changed (fixed-size chunks: untouched ones hash the same). A
   * base collected meanwhile fails the commit's compare-and-set or answers CHUNK_GONE, never a
   * version naming a missing chunk.
   */
  knownChunks?: ReadonlySet<string>;
  /**
   * The whole file, when the caller gave it at once and it is the only thing written: after a
   * CHUNK_GONE the chunks are cut from it again and stored once more (see the file's comment).
   */
  source?: Uint8Array;
  /** A monotonic clock in ms (tests replace it). */
  now?: () => number;
}

export interface WriteResult {
  version: number;
  sizeBytes: number;
}

export class Upload {
  private inline: Buffer[] | null = [];
  private chunker: ChunkBuffer | null = null;
  /** References by chunk index; a hole is a chunk whose store has not succeeded (yet). */
  private readonly stored: (WireChunkRef | undefined)[] = [];
  private chunksQueued = 0;
  private readonly inFlight = new Set<Promise<void>>();
  /** The first failed store: every later write and the finish throw it. */
  private failure: { error: unknown } | null = null;
  /** Cancels the stores still running once one failed or the upload is aborted. */
  private readonly cancel = new AbortController();
  /** The caller's signal and `cancel` together; made at the first chunk store (see storeSignal). */
  private combinedSignal: AbortSignal | null = null;
  private readonly window: number;
  private sizeBytes = 0;
  /** Known chunks listed without a store: never abandoned (the base version references them). */
  private readonly reused = new Set<string>();
  /**
   * This upload's chunks by id: the indexes (file positions) waiting on the store under way, then the
   * reference once it succeeded. One store per distinct chunk (see storeAll).
   */
  private readonly byId = new Map<string, number[] | WireChunkRef>();
  /** The largest file a commit can list (MAX_CHUNKS_PER_FILE chunks). */
  private readonly maxSizeBytes: number;
  private done = false;
  private readonly now: () => number;
  private readonly startedMs: number;

  constructor(private readonly deps: UploadDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.startedMs = this.now();
    this.window = deps.chunksInFlight ?? CHUNKS_IN_FLIGHT;
    this.maxSizeBytes = MAX_CHUNKS_PER_FILE * deps.chunkSizeBytes;
    assert(Number.isSafeInteger(this.window) && this.window >= 1, "at least one chunk store in flight");
  }

  /**
   * What a chunk store listens to. Made on first use, not per upload: most writes are small and
   * inline, store no chunk, and an AbortSignal.any per write (tied to the client's long-lived signal)
   * showed in the library's 64-in-flight profile for nothing.
   */
  private get storeSignal(): AbortSignal {
    this.combinedSignal ??= this.deps.signal
      ? AbortSignal.any([this.deps.signal, this.cancel.signal])
      : this.cancel.signal;
    return this.combinedSignal;
  }

  get bytesWritten(): number {
    return this.sizeBytes;
  }

  /** Takes the next bytes; resolves when the caller may send more (the memory bound). */
  async write(data: Uint8Array): Promise<void> {
    if (this.done) throw new DfsError("BAD_REQUEST", "write after the upload finished");
    this.throwIfFailed();
    if (this.sizeBytes + data.byteLength > this.maxSizeBytes) {
      // Refused before a byte of this write is stored: a whole buffer (writeFile) stores nothing at
      // all, a stream stops at the first write past the bound. Recorded so that no finish() can
      // commit the part written so far as if it were the file.
      const error = new DfsError(
        "PAYLOAD_TOO_LARGE",
        `a file may have at most ${MAX_CHUNKS_PER_FILE} chunks: ${this.maxSizeBytes} bytes at the ${this.deps.chunkSizeBytes}-byte chunk size, and this one is ${this.sizeBytes + data.byteLength} bytes or more (a cluster with a larger chunkSizeBytes takes larger files)`,
        {
          maxChunksPerFile: MAX_CHUNKS_PER_FILE,
          chunkSizeBytes: this.deps.chunkSizeBytes,
          maxSizeBytes: this.maxSizeBytes,
        },
      );
      this.failure ??= { error };
      throw error;
    }
    if (
      data === this.deps.source &&
      this.sizeBytes === 0 &&
      data.byteLength > this.deps.inlineThresholdBytes
    ) {
      // The whole file at once (writeFile of a buffer): its chunks are views of it, not copies. The
      // caller's buffer is held until finish() returns, as it is by fs.promises.writeFile. The copy into
      // the chunker showed in the client's profile of 64 KiB chunked files (ChunkBuffer.push, and GC
      // at 21 % of its samples: bench/RESULTS.md, issue 14).
      this.sizeBytes = data.byteLength;
      this.inline = null;
      this.chunker = this.newChunker();
      await this.storeAll(this.viewsOf(data));
      return;
    }
    this.sizeBytes += data.byteLength;
    if (this.inline !== null) {
      if (this.sizeBytes <= this.deps.inlineThresholdBytes) {
        // Copy: the caller may reuse its buffer once we resolve.
        this.inline.push(Buffer.from(data));
        return;
      }
      // Too big for inline: switch to chunks. What was held is at most the threshold.
      const held = this.inline;
      this.inline = null;
      this.chunker = this.newChunker();
      for (const h of held) await this.storeAll(this.chunker.push(h));
    }
    // The chunker copies what it keeps, so `data` is free for the caller afterwards.
    await this.storeAll(this.chunker!.push(data));
  }

  /** Stores what is left, commits, and returns the new version. */
  async finish(): Promise<WriteResult> {
    if (this.done) throw new DfsError("BAD_REQUEST", "the upload already finished");
    this.done = true;
    try {
      this.throwIfFailed();
      if (this.inline !== null) {
        const data = Buffer.concat(this.inline);
        try {
          return await this.commit(new InlineBytes(data));
        } catch (err) {
          // The cluster's threshold is lower than we assumed (endpoints-only clients): use chunks.
          if (!isDfsError(err, "PAYLOAD_TOO_LARGE")) throw err;
          this.inline = null;
          this.chunker = this.newChunker();
          await this.storeAll(this.chunker.push(data));
        }
      }
      const last = this.chunker!.flush();
      if (last !== null) await this.storeAll([last]);
      const chunks = await this.storedList();
      if (this.now() - this.startedMs > MAX_UPLOAD_AGE_MS) {
        // The cluster forgets collected chunks' tombstones after a while: a commit this late could be
        // acknowledged for chunks collected meanwhile, so it is not sent at all.
        throw new DfsError(
          "CHUNK_GONE",
          `this write began more than ${MAX_UPLOAD_AGE_MS / 3_600_000} h ago: its chunks may have been collected; write the file again`,
          { maxUploadAgeMs: MAX_UPLOAD_AGE_MS },
        );
      }
      try {
        // With the bytes at hand, a refusal is answered by storing them again at once (that is also
        // what revives the chunks) rather than by waiting for a revival that may never come.
        const waits = this.deps.source === undefined ? CHUNK_GONE_RETRIES : 0;
        return await this.commit({ kind: "chunks", chunks, sizeBytes: this.sizeBytes }, waits);
      } catch (err) {
        if (!isDfsError(err, "CHUNK_GONE") || this.deps.source === undefined) throw err;
        return await this.commit({
          kind: "chunks",
          chunks: await this.storeAgain(err),
          sizeBytes: this.sizeBytes,
        });
      }
    } catch (err) {
      await this.abandon();
      throw err;
    }
  }

  /** Gives up: nothing is committed; stored chunks are abandoned. */
  async abort(): Promise<void> {
    this.done = true;
    this.cancel.abort(new Error("the upload was aborted"));
    await this.settle(); // their failures are moot: we are giving up anyway
    await this.abandon();
  }

  private async commit(content: CommitContent, retries = CHUNK_GONE_RETRIES): Promise<WriteResult> {
    // CHUNK_GONE: the cluster had collected content equal to a chunk we just stored, and revives it
    // once the data nodes report our copy (a heartbeat or two). Past that, the chunks really are gone
    // (this upload stalled beyond the grace period) and the caller must write the file again.
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.deps.commit(content);
        return { version: r.version, sizeBytes: this.sizeBytes };
      } catch (err) {
        if (!isDfsError(err, "CHUNK_GONE") || attempt >= retries) throw err;
        await sleep(Math.min(1000, 100 * 2 ** attempt), undefined, { signal: this.deps.signal });
      }
    }
  }

  /**
   * Cuts the file into chunks again from `source` and stores every one of them (the refusal lists at
   * most a few of the collected ids, and a rare path need not be frugal). Answers the new list, which
   * must name the same chunks: a source changed since the write would commit other bytes, so that
   * fails with the original refusal instead.
   */
  private async storeAgain(gone: DfsError): Promise<WireChunkRef[]> {
    const source = this.deps.source!;
    const before = this.stored.slice(0, this.chunksQueued).map((r) => r?.id);
    if (source.byteLength !== this.sizeBytes) throw gone;
    this.stored.length = 0;
    this.chunksQueued = 0;
    this.reused.clear();
    this.byId.clear();
    await this.storeAll(this.viewsOf(source));
    const chunks = await this.storedList();
    if (chunks.length !== before.length || chunks.some((c, i) => c.id !== before[i])) throw gone;
    return chunks;
  }

  /**
   * The chunker of a write too big for inline. It keeps the buffers of the `window` chunks in flight,
   * of a full one waiting for a slot and of the next one filling (a write that completes a chunk and
   * starts the next), each filled again once its store is acknowledged (see storeAll). Keeping one
   * fewer dropped a buffer whenever all were free at once and allocated a new one soon after.
   */
  private newChunker(): ChunkBuffer {
    return new ChunkBuffer(this.deps.chunkSizeBytes, this.window + 2);
  }

  /** The chunks of a whole file, as views of its bytes. */
  private viewsOf(whole: Uint8Array): Buffer[] {
    return chunkBounds(whole.byteLength, this.deps.chunkSizeBytes).map((b) =>
      Buffer.from(whole.buffer, whole.byteOffset + b.start, b.end - b.start),
    );
  }

  /** Waits for the stores, then lists every chunk in file order (the commit's list). */
  private async storedList(): Promise<WireChunkRef[]> {
    await this.settle();
    this.throwIfFailed();
    const chunks: WireChunkRef[] = [];
    for (let i = 0; i < this.chunksQueued; i++) {
      const ref = this.stored[i];
      assert(ref !== undefined, "every chunk stored before the commit names it");
      chunks.push(ref);
    }
    return chunks;
  }

  /**
   * Starts each chunk's store as soon as one of the `window` slots is free, in file order. A chunk equal
   * to one this upload already stores (or stored) takes no slot and no store of its own: it waits for
   * that one. Separate stores of one id were separate placements, each free to pick other nodes, and
   * left up to 2R copies (a zero-filled file) until the leader trimmed them.
   */
  private async storeAll(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      this.throwIfFailed();
      // Hashed once here: the id goes to the store, which would otherwise hash the chunk again.
      const id = sha256Hex(chunk);
      if (this.deps.knownChunks?.has(id)) {
        this.stored[this.chunksQueued++] = { id, sizeBytes: chunk.byteLength };
        this.reused.add(id);
        this.chunker?.release(chunk);
        continue;
      }
      const same = this.byId.get(id);
      if (same !== undefined) {
        const index = this.chunksQueued++;
        if (Array.isArray(same)) same.push(index);
        else this.stored[index] = same;
        this.chunker?.release(chunk);
        continue;
      }
      // The stores below never reject (they record their failure), so the race only waits for a slot.
      while (this.inFlight.size >= this.window) await Promise.race(this.inFlight);
      this.throwIfFailed();
      const waiting = [this.chunksQueued++];
      this.byId.set(id, waiting);
      const p: Promise<void> = this.deps.writer.store(chunk, this.storeSignal, id).then(
        (ref) => {
          this.byId.set(id, ref);
          for (const index of waiting) this.stored[index] = ref;
          // Acknowledged: every holder has the bytes and the request's body was sent whole (the 201
          // comes after the last node's fsync), so the buffer may be filled again. A failed store's
          // buffer is never reused: its request may have been cut off mid-write, and the upload
          // fails anyway.
          this.chunker?.release(chunk);
        },
        (error: unknown) => {
          if (this.failure === null) {
            this.failure = { error };
            this.cancel.abort(error);
          }
        },
      );
      this.inFlight.add(p);
      void p.finally(() => this.inFlight.delete(p));
    }
  }

  /** Waits until no store is running (each records its own outcome). */
  private async settle(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
  }

  private throwIfFailed(): void {
    if (this.failure !== null) throw this.failure.error;
  }

  private async abandon(): Promise<void> {
    await this.settle(); // a store still running would otherwise land after the abandon
    const ids = [
      ...new Set(this.stored.filter((r) => r !== undefined && !this.reused.has(r.id)).map((r) => r!.id)),
    ];
    if (ids.length === 0) return;
    // Best effort: unreferenced chunks are collected after the grace period in any case.
    await this.deps.abandon(ids).catch(() => undefined);
  }
}
