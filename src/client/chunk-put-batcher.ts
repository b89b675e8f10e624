/**
 * Concurrent small chunk stores of one client to the same pipeline (same nodes in the same order),
 * sent as one group PUT (DATA_ROUTES.chunkGroup) instead of a PUT each. Batched as placements are
 * (placement-batcher.ts): a chunk put while its pipeline has fewer than `requestsInFlight` requests out
 * and none waiting goes at once, alone, on the chunk route (no added latency); those put meanwhile wait
 * for a free slot and leave together, up to MAX_CHUNKS_PER_GROUP chunks and MAX_GROUP_BYTES. No timer
 * holds one back.
 *
 * With 64 small files in flight, each 64 KiB chunk cost each data node of its pipeline an HTTP request
 * in, one out and a folder fsync of its own: most of the data nodes' CPU per file (bench/RESULTS.md,
 * issue 14). Each chunk of a group still has its own outcome: the promise of `put` settles with that
 * chunk's result, so the caller's retries (storeOnPipeline) work chunk by chunk as before. A node that
 * does not know the group route (404) turns grouping off for this client.
 */
import type { Dispatcher } from "undici";
import { putChunk, putChunkGroup } from "../common/chunk-pipeline.js";
import { DfsError } from "../common/errors.js";
import { MAX_CHUNKS_PER_GROUP, MAX_GROUP_BYTES, type NodeAddress } from "../common/protocol/index.js";
import { type DeadNodeWatch, watchedRequest } from "./dead-nodes.js";

/** Chunks larger than this always go alone: a group saves a request, which matters for small chunks. */
export const GROUP_CHUNK_MAX_BYTES = 1024 * 1024;

export interface ChunkPut {
  id: string;
  data: Buffer;
  ticket: string;
  pipeline: NodeAddress[];
}

interface Waiting {
  put: ChunkPut;
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** The requests of one pipeline: how many are out, and the chunks waiting for a slot. */
interface Lane {
  head: NodeAddress;
  pipeline: NodeAddress[];
  inFlight: number;
  queue: Waiting[];
  refillQueued: boolean;
}

export interface ChunkPutBatcherOptions {
  /** Requests out at once per pipeline before chunks wait to go together. */
  requestsInFlight: number;
  /** Silence allowed on one PUT (see ChunkWriterOptions.chunkTimeoutMs). */
  timeoutMs: number;
}

export interface ChunkPutBatcherDeps {
  dispatcher: Dispatcher;
  /** Gives up a PUT whose head the leader judges dead (dead-nodes.ts); without it, the timeout does. */
  deadNodes?: Pick<DeadNodeWatch, "guard">;
  /** The turn boundary at which a free slot is refilled (tests may run it by hand). */
  defer?: (fn: () => void) => void;
}

function laneKey(head: NodeAddress, pipeline: NodeAddress[]): string {
  return [head, ...pipeline].map((n) => `${n.id}@${n.url}`).join(" ");
}

export class ChunkPutBatcher {
  /** Lanes with a request out or a chunk waiting; an idle lane is dropped, so this map stays small. */
  private readonly lanes = new Map<string, Lane>();
  private grouping = true;
  private readonly defer: (fn: () => void) => void;

  constructor(
    private readonly opts: ChunkPutBatcherOptions,
    private readonly deps: ChunkPutBatcherDeps,
  ) {
    this.defer = deps.defer ?? setImmediate;
  }

  /** Stores one chunk on `head` and its pipeline; resolves once every node holds it durably. */
  put(head: NodeAddress, put: ChunkPut, signal?: AbortSignal): Promise<void> {
    if (!this.grouping || put.data.byteLength > GROUP_CHUNK_MAX_BYTES) return this.alone(head, put, signal);
    const key = laneKey(head, put.pipeline);
    let lane = this.lanes.get(key);
    if (lane === undefined) {
      lane = { head, pipeline: put.pipeline, inFlight: 0, queue: [], refillQueued: false };
      this.lanes.set(key, lane);
    }
    if (lane.inFlight < this.opts.requestsInFlight && lane.queue.length === 0) {
      lane.inFlight++;
      return this.alone(head, put, signal).finally(() => this.release(key, lane));
    }
    return new Promise<void>((resolve, reject) => {
      lane.queue.push({ put, signal, resolve, reject });
    });
  }

  /** A slot came free: refill it on the next turn, once the callers it woke have put again. */
  private release(key: string, lane: Lane): void {
    lane.inFlight--;
    if (lane.refillQueued) return;
    lane.refillQueued = true;
    this.defer(() => {
      lane.refillQueued = false;
      while (lane.inFlight < this.opts.requestsInFlight && lane.queue.length > 0) this.sendGroup(key, lane);
      if (lane.inFlight === 0 && lane.queue.length === 0) this.lanes.delete(key);
    });
  }

  private sendGroup(key: string, lane: Lane): void {
    const items: Waiting[] = [];
    let bytes = 0;
    while (lane.queue.length > 0 && items.length < MAX_CHUNKS_PER_GROUP) {
      const next = lane.queue[0]!;
      if (items.length > 0 && bytes + next.put.data.byteLength > MAX_GROUP_BYTES) break;
      lane.queue.shift();
      // A store given up meanwhile (its upload failed or was aborted) is not sent at all.
      if (next.signal?.aborted) {
        next.reject(next.signal.reason);
        continue;
      }
      items.push(next);
      bytes += next.put.data.byteLength;
    }
    if (items.length === 0) return;
    lane.inFlight++;
    void this.runGroup(lane, items).finally(() => this.release(key, lane));
  }

  private async runGroup(lane: Lane, items: Waiting[]): Promise<void> {
    if (items.length === 1 || !this.grouping) {
      await Promise.all(items.map((w) => this.alone(lane.head, w.put, w.signal).then(w.resolve, w.reject)));
      return;
    }
    let results: Awaited<ReturnType<typeof putChunkGroup>>;
    try {
      results = await watchedRequest(
        this.deps.deadNodes,
        lane.head.id,
        (signal) =>
          putChunkGroup(
            this.deps.dispatcher,
            lane.head,
            { chunks: items.map((w) => w.put), pipeline: lane.pipeline, timeoutMs: this.opts.timeoutMs },
            signal,
          ),
        undefined,
      );
    } catch (err) {
      if (err instanceof DfsError && err.code === "NOT_FOUND" && err.details.chunkId === undefined) {
        // A node from before the group route: every chunk goes alone from now on.
        this.grouping = false;
        await Promise.all(items.map((w) => this.alone(lane.head, w.put, w.signal).then(w.resolve, w.reject)));
        return;
      }
      // The group failed as a whole (a dead node, a timeout): each chunk has that error, and its own
      // retry leaves out the node it names.
      for (const w of items) w.reject(err);
      return;
    }
    items.forEach((w, i) => {
      const r = results[i]!;
      if ("error" in r) w.reject(DfsError.fromBody(r.error));
      else w.resolve();
    });
  }

  private async alone(head: NodeAddress, put: ChunkPut, signal: AbortSignal | undefined): Promise<void> {
    await watchedRequest(
      this.deps.deadNodes,
      head.id,
      (s) => putChunk(this.deps.dispatcher, head, { ...put, timeoutMs: this.opts.timeoutMs }, s),
      signal,
    );
  }
}
