/**
 * One chunk of a page's upload, stored by the leader on the page's behalf. A browser cannot take the
 * library's path itself: data nodes serve no cross-origin pages, and a page outside a secure context
 * has no SHA-256 to name a chunk by. So the page sends the file one chunk per request (never the whole
 * file, on either side), the leader names each by its hash, places it and streams it down the
 * pipeline as the library does, and the page commits the list through the ordinary commit route with
 * its session — the commit, as always, is the moment the file becomes visible.
 */
import type { Dispatcher } from "undici";
import { putChunk, storeOnPipeline } from "../../common/chunk-pipeline.js";
import { DfsError } from "../../common/errors.js";
import { placeChunk } from "../place-chunk.js";
import type { ReplicaApi } from "../replica-api.js";

/**
 * Attempts for one chunk before the page is told to try again; a placement refused because the
 * failed nodes left too few counts as one, so this allows three PUTs in a cluster of exactly R nodes.
 */
const ATTEMPTS_MAX = 5;
/** Silence allowed on one PUT: its answer comes after the whole pipeline holds the chunk. */
const PUT_TIMEOUT_MS = 30_000;

export interface ChunkUploadDeps {
  replica: ReplicaApi;
  dispatcher: Dispatcher;
  replication: number;
  minReplication?: number | undefined;
}

/**
 * Stores `data` (at most one chunk) on `replication` data nodes as the library does (the same
 * attempt loop), with placements from this leader's own tracker; returns its reference for the commit.
 */
export async function storeChunk(
  deps: ChunkUploadDeps,
  data: Buffer,
): Promise<{ id: string; sizeBytes: number }> {
  const tracker = deps.replica.tracker;
  if (!deps.replica.isLeader() || tracker === null) throw deps.replica.notLeader();
  return storeOnPipeline(
    data,
    {
      place: async ({ id, sizeBytes, exclude }) =>
        placeChunk(tracker, {
          chunkId: id,
          sizeBytes,
          replication: deps.replication,
          minReplication: deps.minReplication,
          exclude,
        }),
      put: async (head, put) => {
        await putChunk(deps.dispatcher, head, { ...put, timeoutMs: PUT_TIMEOUT_MS });
      },
      // The page waits on this request: a failed node is left out at once, no backoff.
      pause: async () => true,
    },
    { attemptsMax: ATTEMPTS_MAX },
  );
}

/** The body of a chunk PUT: a buffer of 1..chunkSizeBytes bytes (the parser already refused a larger one). */
export function assertChunkBody(body: unknown, chunkSizeBytes: number): Buffer {
  if (!Buffer.isBuffer(body)) {
    throw new DfsError("BAD_REQUEST", "the body must be the chunk's bytes (application/octet-stream)");
  }
  if (body.byteLength === 0 || body.byteLength > chunkSizeBytes) {
    throw new DfsError("BAD_REQUEST", `a chunk is 1..${chunkSizeBytes} bytes, not ${body.byteLength}`);
  }
  return body;
}
