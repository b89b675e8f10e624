/**
 * Storing one chunk (HDFS style): ask the leader where it goes, stream it to the first node with the
 * rest of the placement as its pipeline, and take the 201 as "every replica holds it durably". When a
 * node fails, ask for a placement without it and try again, a bounded number of times. The attempt
 * loop is common/chunk-pipeline.ts (the dashboard's uploads store chunks the same way); this class
 * adds the library's parts: placements asked of the leader, backoff, and one deadline per chunk.
 */
import type { Dispatcher } from "undici";
import { type BackoffOptions, backoffMs, Deadline, sleep } from "../common/backoff.js";
import { putChunk, storeOnPipeline } from "../common/chunk-pipeline.js";
import { META_ROUTES, type PlacementResponse, type WireChunkRef } from "../common/protocol/index.js";
import type { MetaConnection } from "./meta-connection.js";

export interface ChunkWriterOptions {
  /** Budget for storing one chunk, placements and retries included. */
  chunkDeadlineMs: number;
  /** Silence allowed on one PUT (the answer comes after the whole pipeline has stored the chunk). */
  chunkTimeoutMs: number;
  maxAttempts: number;
  backoff: BackoffOptions;
}

export interface ChunkWriterDeps {
  meta: MetaConnection;
  dispatcher: Dispatcher;
  random?: () => number;
}

export class ChunkWriter {
  private readonly random: () => number;

  constructor(
    private readonly opts: ChunkWriterOptions,
    private readonly deps: ChunkWriterDeps,
  ) {
    this.random = deps.random ?? Math.random;
  }

  /**
   * Stores `data` on R nodes; returns its reference for the commit. `id`: the chunk's SHA-256 when the
   * caller has it already (not hashed again).
   */
  async store(data: Buffer, signal?: AbortSignal, id?: string): Promise<WireChunkRef> {
    const deadline = new Deadline(this.opts.chunkDeadlineMs);
    return storeOnPipeline(
      data,
      {
        place: ({ id, sizeBytes, exclude }) =>
          this.deps.meta.call<PlacementResponse>({
            method: "POST",
            path: META_ROUTES.placement,
            body: { chunkId: id, sizeBytes, ...(exclude.size ? { exclude: [...exclude] } : {}) },
            deadlineMs: deadline.remainingMs(),
            // Without exclusions, "not enough live nodes" is worth waiting out (nodes re-register with
            // a new leader); with them, it means we excluded too much: forget them and ask again.
            retryAnswers: exclude.size === 0,
            ...(signal ? { signal } : {}),
          }),
        put: async (head, put) => {
          await putChunk(this.deps.dispatcher, head, { ...put, timeoutMs: this.opts.chunkTimeoutMs }, signal);
        },
        pause: async (attempt) => {
          await sleep(
            Math.min(backoffMs(attempt - 1, this.opts.backoff, this.random), deadline.remainingMs()),
            signal,
          );
          return !deadline.expired();
        },
      },
      { attemptsMax: this.opts.maxAttempts, ...(id !== undefined ? { id } : {}) },
    );
  }
}
