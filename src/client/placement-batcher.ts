/**
 * Placements of concurrent chunk stores, batched as the metadata batcher batches commits: a placement
 * asked while none is in flight goes at once, alone, on the placement route (no added latency); those
 * asked while `requestsInFlight` requests are out wait for a free slot and then leave together in one
 * `POST /v1/chunks/placements` (at most MAX_PLACEMENTS_PER_REQUEST). No timer holds one back.
 *
 * Every 64 KiB file written as a chunk cost the leader a request of its own for the placement (parse,
 * hooks, validation, answer): with 64 small files in flight, one request now places many.
 *
 * A placement that leaves nodes out (a retry after a failed node) always goes alone: it may wait out
 * "too few nodes" differently (`retryAnswers`). A batch that fails for any reason (a replica older than
 * the route answers NOT_FOUND; a chunk that cannot be placed fails the whole batch) is asked again item
 * by item on the placement route, which gives each its own answer; a NOT_FOUND turns batching off.
 */
import { DfsError } from "../common/errors.js";
import {
  MAX_PLACEMENTS_PER_REQUEST,
  META_ROUTES,
  type PlacementResponse,
  type PlacementsResponse,
} from "../common/protocol/index.js";
import type { MetaConnection } from "./meta-connection.js";

export interface PlacementAsk {
  id: string;
  sizeBytes: number;
  exclude: ReadonlySet<number>;
  deadlineMs: number;
  signal?: AbortSignal;
}

interface Waiting {
  ask: PlacementAsk;
  resolve: (p: PlacementResponse) => void;
  reject: (err: unknown) => void;
}

export interface PlacementBatcherDeps {
  meta: Pick<MetaConnection, "call">;
  /** The turn boundary at which a free slot is refilled (tests may run it by hand). */
  defer?: (fn: () => void) => void;
}

export class PlacementBatcher {
  private readonly queue: Waiting[] = [];
  private inFlight = 0;
  private batchRoute = true;
  private refillQueued = false;
  private readonly defer: (fn: () => void) => void;

  constructor(
    private readonly opts: { requestsInFlight: number },
    private readonly deps: PlacementBatcherDeps,
  ) {
    this.defer = deps.defer ?? setImmediate;
  }

  /** R nodes and a ticket for one chunk (see PipelineSteps.place). */
  place(ask: PlacementAsk): Promise<PlacementResponse> {
    if (ask.exclude.size > 0 || !this.batchRoute) return this.alone(ask);
    if (this.inFlight < this.opts.requestsInFlight && this.queue.length === 0) {
      this.inFlight++;
      return this.alone(ask).finally(() => this.release());
    }
    return new Promise<PlacementResponse>((resolve, reject) => {
      this.queue.push({ ask, resolve, reject });
    });
  }

  /** A slot came free: refill it on the next turn, once the callers it woke have asked again. */
  private release(): void {
    this.inFlight--;
    if (this.refillQueued) return;
    this.refillQueued = true;
    this.defer(() => {
      this.refillQueued = false;
      while (this.inFlight < this.opts.requestsInFlight && this.queue.length > 0) this.sendBatch();
    });
  }

  private sendBatch(): void {
    const items = this.queue.splice(0, MAX_PLACEMENTS_PER_REQUEST);
    this.inFlight++;
    void this.runBatch(items).finally(() => this.release());
  }

  private async runBatch(items: Waiting[]): Promise<void> {
    if (items.length === 1 || !this.batchRoute) {
      await Promise.all(items.map((w) => this.alone(w.ask).then(w.resolve, w.reject)));
      return;
    }
    let answer: PlacementsResponse | null = null;
    try {
      answer = await this.deps.meta.call<PlacementsResponse>({
        method: "POST",
        path: META_ROUTES.placements,
        body: { chunks: items.map((w) => ({ chunkId: w.ask.id, sizeBytes: w.ask.sizeBytes })) },
        // The most patient item's budget: each item's own deadline still bounds its store.
        deadlineMs: Math.max(...items.map((w) => w.ask.deadlineMs)),
      });
    } catch (err) {
      if (err instanceof DfsError && err.code === "NOT_FOUND") this.batchRoute = false;
    }
    const placements = answer?.placements;
    if (placements === undefined || placements.length !== items.length) {
      // No usable answer: each item is asked alone, and gets its own error if it has one.
      await Promise.all(items.map((w) => this.alone(w.ask).then(w.resolve, w.reject)));
      return;
    }
    items.forEach((w, i) => {
      const p = placements[i]!;
      if (w.ask.signal?.aborted) w.reject(w.ask.signal.reason);
      else if (p.chunkId !== w.ask.id) w.reject(new DfsError("INTERNAL", "placements answered out of order"));
      else w.resolve(p);
    });
  }

  /** The placement route, for one chunk. */
  private alone(ask: PlacementAsk): Promise<PlacementResponse> {
    return this.deps.meta.call<PlacementResponse>({
      method: "POST",
      path: META_ROUTES.placement,
      body: {
        chunkId: ask.id,
        sizeBytes: ask.sizeBytes,
        ...(ask.exclude.size ? { exclude: [...ask.exclude] } : {}),
      },
      deadlineMs: ask.deadlineMs,
      // Without exclusions, "not enough live nodes" is worth waiting out (nodes re-register with a new
      // leader); with them, it means we excluded too much: forget them and ask again.
      retryAnswers: ask.exclude.size === 0,
      ...(ask.signal ? { signal: ask.signal } : {}),
    });
  }
}
