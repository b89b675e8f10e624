/**
 * Storing one chunk (HDFS style): ask the leader where it goes, stream it to the first node with the
 * rest of the placement as its pipeline, and take the 201 as "every replica holds it durably". When a
 * node fails, ask for a placement without it and try again, a bounded number of times. The attempt
 * loop is common/chunk-pipeline.ts (the dashboard's uploads store chunks the same way); this class
 * adds the library's parts: placements asked of the leader, backoff, and one deadline per chunk.
 */
import type { Dispatcher } from "undici";
import { type BackoffOptions, backoffMs, Deadline, sleep } from "../common/backoff.js";
import { storeOnPipeline } from "../common/chunk-pipeline.js";
import type { WireChunkRef } from "../common/protocol/index.js";
import { ChunkPutBatcher } from "./chunk-put-batcher.js";
import type { DeadNodeWatch } from "./dead-nodes.js";
import type { MetaConnection } from "./meta-connection.js";
import { PlacementBatcher } from "./placement-batcher.js";

/** Placement requests of one client at once; placements asked meanwhile wait and go together. */
const PLACEMENT_REQUESTS_IN_FLIGHT = 2;
/** Chunk PUTs of one client at once per pipeline; small chunks stored meanwhile go together. */
const PUT_REQUESTS_IN_FLIGHT_PER_PIPELINE = 2;

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
  /** Gives up a PUT whose head the leader judges dead (dead-nodes.ts). */
  deadNodes?: Pick<DeadNodeWatch, "guard">;
  random?: () => number;
}

export class ChunkWriter {
  private readonly random: () => number;
  /** One client's concurrent chunk stores share placement requests (placement-batcher.ts). */
  private readonly placements: PlacementBatcher;
  /** One client's concurrent small chunks to one pipeline share a PUT (chunk-put-batcher.ts). */
  private readonly puts: ChunkPutBatcher;

  constructor(
    private readonly opts: ChunkWriterOptions,
    deps: ChunkWriterDeps,
  ) {
    this.random = deps.random ?? Math.random;
    this.placements = new PlacementBatcher({ requestsInFlight: PLACEMENT_REQUESTS_IN_FLIGHT }, deps);
    this.puts = new ChunkPutBatcher(
      { requestsInFlight: PUT_REQUESTS_IN_FLIGHT_PER_PIPELINE, timeoutMs: opts.chunkTimeoutMs },
      { dispatcher: deps.dispatcher, ...(deps.deadNodes ? { deadNodes: deps.deadNodes } : {}) },
    );
  }

  /**
   * Stores `data` on R nodes; returns its reference for the commit. `id`: the chunk's SHA-256 when the
   * caller has it already (not hashed again). Nothing reads `data` once the promise resolves (the
   * request's body was sent whole), so the caller may fill it again: an upload reuses its chunk
   * buffers that way (upload.ts).
   */
  async store(data: Buffer, signal?: AbortSignal, id?: string): Promise<WireChunkRef> {
    const deadline = new Deadline(this.opts.chunkDeadlineMs);
    return storeOnPipeline(
      data,
      {
        place: ({ id, sizeBytes, exclude }) =>
          this.placements.place({
            id,
            sizeBytes,
            exclude,
            deadlineMs: deadline.remainingMs(),
            ...(signal ? { signal } : {}),
          }),
        put: (head, put) => this.puts.put(head, put, signal),
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
