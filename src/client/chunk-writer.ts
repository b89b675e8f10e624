/**
 * Storing one chunk (HDFS style): ask the leader where it goes, stream it to the first node with the
 * rest of the placement as its pipeline, and take the 201 as "every replica holds it durably". When a
 * node fails, ask for a placement without it and try again, a bounded number of times.
 */
import type { Dispatcher } from "undici";
import { type BackoffOptions, backoffMs, Deadline, sleep } from "../common/backoff.js";
import { DfsError } from "../common/errors.js";
import {
  DATA_ROUTES,
  META_ROUTES,
  type NodeAddress,
  PIPELINE_HEADER,
  type PlacementResponse,
  type PutChunkResponse,
  TICKET_HEADER,
  type WireChunkRef,
} from "../common/protocol/index.js";
import { sha256Hex } from "./chunking.js";
import { attemptSignal, errorFromResponse, isTransportError, transportError } from "./http.js";
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

/** One PUT to the head of a pipeline. */
export async function putChunk(
  dispatcher: Dispatcher,
  target: NodeAddress,
  put: { id: string; data: Buffer; ticket: string; pipeline: NodeAddress[]; timeoutMs: number },
  signal?: AbortSignal,
): Promise<PutChunkResponse> {
  let status: number;
  let text: string;
  try {
    const res = await dispatcher.request({
      origin: target.url,
      path: DATA_ROUTES.chunk.replace(":id", put.id),
      method: "PUT",
      body: put.data,
      headers: {
        "content-type": "application/octet-stream",
        [TICKET_HEADER]: put.ticket,
        [PIPELINE_HEADER]: JSON.stringify(put.pipeline),
      },
      headersTimeout: put.timeoutMs,
      bodyTimeout: put.timeoutMs,
      signal: attemptSignal(put.timeoutMs * 2, signal),
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const mapped = transportError(err, target.url);
    if (mapped === null) throw err;
    throw mapped;
  }
  if (status !== 201) throw errorFromResponse(status, text, target.url);
  return JSON.parse(text) as PutChunkResponse;
}

export class ChunkWriter {
  private readonly random: () => number;

  constructor(
    private readonly opts: ChunkWriterOptions,
    private readonly deps: ChunkWriterDeps,
  ) {
    this.random = deps.random ?? Math.random;
  }

  /** Stores `data` on R nodes; returns its reference for the commit. */
  async store(data: Buffer, signal?: AbortSignal): Promise<WireChunkRef> {
    const id = sha256Hex(data);
    const ref = { id, sizeBytes: data.byteLength };
    const deadline = new Deadline(this.opts.chunkDeadlineMs);
    const exclude = new Set<number>();
    let last: DfsError | null = null;
    for (let attempt = 0; attempt < this.opts.maxAttempts; attempt++) {
      if (attempt > 0) {
        await sleep(
          Math.min(backoffMs(attempt - 1, this.opts.backoff, this.random), deadline.remainingMs()),
          signal,
        );
      }
      if (deadline.expired()) break;
      let placement: PlacementResponse;
      try {
        placement = await this.deps.meta.call<PlacementResponse>({
          method: "POST",
          path: META_ROUTES.placement,
          body: {
            chunkId: id,
            sizeBytes: data.byteLength,
            ...(exclude.size ? { exclude: [...exclude] } : {}),
          },
          deadlineMs: deadline.remainingMs(),
          // Without exclusions, "not enough live nodes" is worth waiting out (nodes re-register with
          // a new leader); with them, it means we excluded too much: forget them and ask again.
          retryAnswers: exclude.size === 0,
          ...(signal ? { signal } : {}),
        });
      } catch (err) {
        if (!(err instanceof DfsError) || err.code !== "UNAVAILABLE" || exclude.size === 0) throw err;
        last = err;
        exclude.clear();
        continue;
      }
      const [head, ...rest] = placement.nodes;
      if (head === undefined) throw new DfsError("UNAVAILABLE", `no data node was placed for chunk ${id}`);
      try {
        await putChunk(
          this.deps.dispatcher,
          head,
          { id, data, ticket: placement.ticket, pipeline: rest, timeoutMs: this.opts.chunkTimeoutMs },
          signal,
        );
        return ref;
      } catch (err) {
        if (!(err instanceof DfsError)) throw err;
        last = err;
        const failed = failedNodeOf(err, head.id);
        if (failed === null) throw err;
        if (failed !== undefined) exclude.add(failed);
      }
    }
    throw new DfsError(
      "UNAVAILABLE",
      `could not store chunk ${id.slice(0, 12)}… on the data nodes${last ? `: ${last.message}` : ""}`,
      { chunkId: id, lastCode: last?.code ?? null },
      { cause: last ?? undefined },
    );
  }
}

/**
 * Which node to leave out next time: the one the pipeline named, or the head we could not reach.
 * `undefined` = retry as is (damage in transit); `null` = not retryable.
 */
export function failedNodeOf(err: DfsError, headId: number): number | undefined | null {
  if (err.code === "UNAVAILABLE" && typeof err.details.failedNode === "number") return err.details.failedNode;
  if (isTransportError(err)) return headId;
  switch (err.code) {
    case "UNAVAILABLE":
    case "TIMEOUT":
    case "NO_SPACE":
    case "INTERNAL":
      return headId;
    case "CHECKSUM_MISMATCH":
      return undefined;
    default:
      return null;
  }
}
