/**
 * Natural batching of metadata calls, as a log does group commit: a call made while nothing else is
 * in flight goes at once, alone, on its own route (no added latency); calls made while requests are
 * in flight wait until one of `requestsInFlight` slots is free and then leave together in one
 * `POST /v1/fs/batch` (at most BATCH_MAX_ITEMS items and BATCH_MAX_BYTES of body). No timer ever
 * holds a call back to wait for company: a slot is refilled on the turn of the event loop it frees
 * up, after the callers woken by its answer have made their next calls (setImmediate), so those join.
 *
 * The leader's CPU per write was the bound of the library's write rate (bench/RESULTS.md, issue 14):
 * one request per call costs a parse, hooks, validation and an answer per call; a batch pays them once.
 *
 * Exactly-once is kept item by item: each commit carries the session seq it was given before it was
 * queued, a retried batch resends the same body, and an item answered with a retryable error (its
 * proposal lost to a leader change, say) is sent again alone on its own route with the same body.
 */
import { DfsError } from "../common/errors.js";
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_ITEMS,
  type BatchResponse,
  type CommitRequest,
  META_ROUTES,
  type StatResponse,
} from "../common/protocol/index.js";
import { JsonText } from "./http.js";
import type { MetaCall, MetaConnection } from "./meta-connection.js";

export interface MetaBatcherOptions {
  /** Requests (batches or lone calls) in flight at once through the batcher; at least 1. */
  requestsInFlight: number;
  maxItems?: number;
  maxBytes?: number;
}

export interface MetaBatcherDeps {
  meta: Pick<MetaConnection, "call">;
  /** The client's own signal: the connection already ends every request on it (no listener per call). */
  clientSignal?: AbortSignal;
  /** The turn boundary at which a free slot is refilled (tests may run it by hand). */
  defer?: (fn: () => void) => void;
}

interface Pending {
  /** The item's JSON in the batch body (measured once, sent as is). */
  text: string;
  bytes: number;
  /** The same call on the item's own route: for a lone call, and for a retry of a refused item. */
  single: MetaCall;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  done: boolean;
}

/** The `{"items":[` … `]}` around the items. */
const ENVELOPE_BYTES = 13;

/** Item errors that say nothing about the item itself: it is sent again on its own route. */
function retryable(code: string): boolean {
  return code === "NOT_LEADER" || code === "UNAVAILABLE" || code === "TIMEOUT";
}

export class MetaBatcher {
  private readonly queue: Pending[] = [];
  private inFlight = 0;
  private scheduled = false;
  /** The replicas answered 404 for the batch route (older than it): every call goes alone. */
  private unsupported = false;
  private readonly maxItems: number;
  private readonly maxBytes: number;
  private readonly defer: (fn: () => void) => void;

  constructor(
    private readonly opts: MetaBatcherOptions,
    private readonly deps: MetaBatcherDeps,
  ) {
    this.maxItems = Math.min(opts.maxItems ?? BATCH_MAX_ITEMS, BATCH_MAX_ITEMS);
    this.maxBytes = Math.min(opts.maxBytes ?? BATCH_MAX_BYTES, BATCH_MAX_BYTES);
    this.defer = deps.defer ?? setImmediate;
    if (!(Number.isSafeInteger(opts.requestsInFlight) && opts.requestsInFlight >= 1)) {
      throw new DfsError(
        "BAD_REQUEST",
        `requestsInFlight must be an integer ≥ 1, not ${opts.requestsInFlight}`,
      );
    }
  }

  /** Batch requests sent, and the calls they carried (observability: calls ÷ batches is the gain). */
  readonly stats = { batches: 0, batchedCalls: 0 };

  /** Batch requests and lone calls in flight now (observability, tests). */
  get requestsInFlight(): number {
    return this.inFlight;
  }

  /** A commit (its body carries its session seq already); answers as the commit route would. */
  commit<T>(body: CommitRequest, call: Partial<MetaCall> = {}): Promise<T> {
    const single: MetaCall = { ...call, method: "POST", path: META_ROUTES.commit, body };
    return this.submit(JSON.stringify({ kind: "commit", body }), single) as Promise<T>;
  }

  /** A linearizable stat; answers as the stat route would. */
  stat(path: string): Promise<StatResponse> {
    const single: MetaCall = { method: "GET", path: META_ROUTES.stat, query: { path } };
    return this.submit(JSON.stringify({ kind: "stat", path }), single) as Promise<StatResponse>;
  }

  private submit(text: string, single: MetaCall): Promise<unknown> {
    const bytes = Buffer.byteLength(text);
    // Too big to share a batch, or nobody to share one with: alone, now.
    if (this.unsupported || bytes + ENVELOPE_BYTES > this.maxBytes) return this.deps.meta.call(single);
    return new Promise((resolve, reject) => {
      const p: Pending = { text, bytes, single, resolve, reject, done: false };
      this.watchAbort(p);
      if (p.done) return; // its signal had already aborted
      if (this.inFlight === 0 && this.queue.length === 0) this.send([p]);
      else {
        this.queue.push(p);
        this.kick();
      }
    });
  }

  /** A call with a signal of its own (not the client's) ends when it aborts, wherever it is. */
  private watchAbort(p: Pending): void {
    const signal = p.single.signal;
    if (signal === undefined || signal === this.deps.clientSignal) return;
    const onAbort = () => this.settle(p, signal.reason, true);
    if (signal.aborted) {
      onAbort();
      return;
    }
    signal.addEventListener("abort", onAbort, { once: true });
    const { resolve, reject } = p;
    const detach = () => signal.removeEventListener("abort", onAbort);
    p.resolve = (v) => {
      detach();
      resolve(v);
    };
    p.reject = (e) => {
      detach();
      reject(e);
    };
  }

  private settle(p: Pending, outcome: unknown, failed: boolean): void {
    if (p.done) return;
    p.done = true;
    if (failed) p.reject(outcome);
    else p.resolve(outcome);
  }

  /** Refills free slots on the next turn, once the callers woken this turn have made their calls. */
  private kick(): void {
    if (this.scheduled || this.queue.length === 0 || this.inFlight >= this.opts.requestsInFlight) return;
    this.scheduled = true;
    this.defer(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    while (this.queue.length > 0 && this.inFlight < this.opts.requestsInFlight) {
      const batch: Pending[] = [];
      let bytes = ENVELOPE_BYTES;
      while (batch.length < this.maxItems && this.queue.length > 0) {
        const next = this.queue[0]!;
        if (next.done) {
          this.queue.shift(); // aborted while it waited
          continue;
        }
        if (batch.length > 0 && bytes + 1 + next.bytes > this.maxBytes) break;
        bytes += next.bytes + (batch.length > 0 ? 1 : 0);
        batch.push(this.queue.shift()!);
      }
      if (batch.length > 0) this.send(batch);
    }
  }

  private send(batch: Pending[]): void {
    this.inFlight++;
    const sent = batch.length === 1 || this.unsupported ? this.sendAlone(batch) : this.sendBatch(batch);
    void sent.finally(() => {
      this.inFlight--;
      this.kick();
    });
  }

  private sendAlone(batch: Pending[]): Promise<unknown> {
    return Promise.all(
      batch.map((p) =>
        this.deps.meta.call(p.single).then(
          (v) => this.settle(p, v, false),
          (err) => this.settle(p, err, true),
        ),
      ),
    );
  }

  private async sendBatch(batch: Pending[]): Promise<void> {
    this.stats.batches++;
    this.stats.batchedCalls += batch.length;
    const body = new JsonText(`{"items":[${batch.map((p) => p.text).join(",")}]}`);
    let answer: BatchResponse;
    try {
      answer = await this.deps.meta.call<BatchResponse>({ method: "POST", path: META_ROUTES.batch, body });
    } catch (err) {
      if (err instanceof DfsError && err.code === "NOT_FOUND" && err.message.startsWith("no route")) {
        // A replica older than the batch route: nothing of this batch was applied; send each alone.
        this.unsupported = true;
        await this.sendAlone(batch);
        return;
      }
      for (const p of batch) this.settle(p, err, true);
      return;
    }
    const results: unknown = (answer as Partial<BatchResponse> | null)?.results;
    if (!Array.isArray(results) || results.length !== batch.length) {
      // Not an answer the route gives: whatever happened to the items is unknown, as after a timeout.
      const err = new DfsError("INTERNAL", `the batch answer does not hold ${batch.length} results`);
      for (const p of batch) this.settle(p, err, true);
      return;
    }
    const retries: Pending[] = [];
    for (const [i, p] of batch.entries()) {
      const r = results[i] as BatchResponse["results"][number] | null;
      if (typeof r !== "object" || r === null) {
        this.settle(p, new DfsError("INTERNAL", `the batch answer's item ${i} is not a result`), true);
      } else if (r.error !== undefined) {
        const err = DfsError.fromBody(r.error);
        if (retryable(err.code)) retries.push(p);
        else this.settle(p, err, true);
      } else {
        this.settle(p, r.value, false);
      }
    }
    // Same body, same seq: if the first proposal was applied after all, the answer is its result.
    if (retries.length > 0) await this.sendAlone(retries);
  }
}
