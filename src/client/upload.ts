/**
 * One file write from start to commit. Bytes stay in memory only while the file could still be small
 * enough to commit inline; past that they are cut into chunks, and each full chunk is stored while the
 * next one fills: at most two chunks in memory, whatever the file's size. The commit is the moment the
 * new version becomes visible, all or nothing; if it does not happen, the stored chunks are abandoned.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { DfsError, isDfsError } from "../common/errors.js";
import {
  type CommitResponse,
  MAX_UPLOAD_AGE_MS,
  type WireChunkRef,
  type WireContent,
} from "../common/protocol/index.js";
import type { ChunkWriter } from "./chunk-writer.js";
import { ChunkBuffer } from "./chunking.js";

/** Commit attempts after a CHUNK_GONE, with backoff from 100 ms to 1 s: about 3.5 s in all. */
const CHUNK_GONE_RETRIES = 6;

export interface UploadDeps {
  writer: ChunkWriter;
  commit: (content: WireContent) => Promise<CommitResponse>;
  /** Best effort: tells the leader these chunks will never be referenced by this write. */
  abandon: (chunkIds: string[]) => Promise<void>;
  inlineThresholdBytes: number;
  chunkSizeBytes: number;
  signal?: AbortSignal;
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
  private readonly stored: WireChunkRef[] = [];
  private inFlight: Promise<void> | null = null;
  private sizeBytes = 0;
  private done = false;
  private readonly now: () => number;
  private readonly startedMs: number;

  constructor(private readonly deps: UploadDeps) {
    this.now = deps.now ?? (() => performance.now());
    this.startedMs = this.now();
  }

  get bytesWritten(): number {
    return this.sizeBytes;
  }

  /** Takes the next bytes; resolves when the caller may send more (the memory bound). */
  async write(data: Uint8Array): Promise<void> {
    if (this.done) throw new DfsError("BAD_REQUEST", "write after the upload finished");
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
      this.chunker = new ChunkBuffer(this.deps.chunkSizeBytes);
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
      if (this.inline !== null) {
        const data = Buffer.concat(this.inline);
        try {
          return await this.commit({ kind: "inline", dataBase64: data.toString("base64") });
        } catch (err) {
          // The cluster's threshold is lower than we assumed (endpoints-only clients): use chunks.
          if (!isDfsError(err, "PAYLOAD_TOO_LARGE")) throw err;
          this.inline = null;
          this.chunker = new ChunkBuffer(this.deps.chunkSizeBytes);
          await this.storeAll(this.chunker.push(data));
        }
      }
      const last = this.chunker!.flush();
      if (last !== null) await this.storeAll([last]);
      await this.inFlight;
      if (this.now() - this.startedMs > MAX_UPLOAD_AGE_MS) {
        // The cluster forgets collected chunks' tombstones after a while: a commit this late could be
        // acknowledged for chunks collected meanwhile, so it is not sent at all.
        throw new DfsError(
          "CHUNK_GONE",
          `this write began more than ${MAX_UPLOAD_AGE_MS / 3_600_000} h ago: its chunks may have been collected; write the file again`,
          { maxUploadAgeMs: MAX_UPLOAD_AGE_MS },
        );
      }
      return await this.commit({ kind: "chunks", chunks: this.stored, sizeBytes: this.sizeBytes });
    } catch (err) {
      await this.abandon();
      throw err;
    }
  }

  /** Gives up: nothing is committed; stored chunks are abandoned. */
  async abort(): Promise<void> {
    this.done = true;
    await this.inFlight?.catch(() => undefined); // its failure is moot: we are giving up anyway
    await this.abandon();
  }

  private async commit(content: WireContent): Promise<WriteResult> {
    // CHUNK_GONE: the cluster had collected content equal to a chunk we just stored, and revives it
    // once the data nodes report our copy (a heartbeat or two). Past that, the chunks really are gone
    // (this upload stalled beyond the grace period) and the caller must write the file again.
    for (let attempt = 0; ; attempt++) {
      try {
        const r = await this.deps.commit(content);
        return { version: r.version, sizeBytes: this.sizeBytes };
      } catch (err) {
        if (!isDfsError(err, "CHUNK_GONE") || attempt >= CHUNK_GONE_RETRIES) throw err;
        await sleep(Math.min(1000, 100 * 2 ** attempt), undefined, { signal: this.deps.signal });
      }
    }
  }

  /** Chunks are stored one at a time, in order; the next waits for the previous one. */
  private async storeAll(chunks: Buffer[]): Promise<void> {
    for (const chunk of chunks) {
      await this.inFlight;
      const index = this.stored.length;
      this.inFlight = this.deps.writer.store(chunk, this.deps.signal).then((ref) => {
        this.stored[index] = ref;
      });
      // Surfaces at the next await of inFlight; until then it must not count as unhandled.
      this.inFlight.catch(() => undefined);
    }
  }

  private async abandon(): Promise<void> {
    const ids = this.stored.filter((r) => r !== undefined).map((r) => r.id);
    if (ids.length === 0) return;
    // Best effort: unreferenced chunks are collected after the grace period in any case.
    await this.deps.abandon(ids).catch(() => undefined);
  }
}
