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
 * A batch holding inline bytes (InlineBytes) goes as msgpack, the bytes as they are, unless the
 * replicas answered that they take JSON only (older than BATCH_MSGPACK_TYPE): then, and for every lone
 * call, the bytes go as base64 in JSON.
 *
 * Exactly-once is kept item by item: each commit carries the session seq it was given before it was
 * queued, a retried batch resends the same body, and an item answered with a retryable error (its
 * proposal lost to a leader change, say) is sent again alone on its own route with the same body.
 */
import { Packr } from "msgpackr";
import { DfsError } from "../common/errors.js";
import {
  BATCH_MAX_BYTES,
  BATCH_MAX_ITEMS,
  BATCH_MSGPACK_TYPE,
  type BatchResponse,
  type CommitRequest,
  META_ROUTES,
  type StatResponse,
} from "../common/protocol/index.js";
import { BinaryBody, JsonText } from "./http.js";
import { InlineBytes } from "./inline-bytes.js";
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
  /** The item's JSON in the batch body (measured once, sent as is); for inline bytes, made when needed. */
  text: string | null;
  /** The item with its inline bytes as bytes (a msgpack body's form); null: the item has none. */
  binary: { kind: "commit"; body: Record<string, unknown> } | null;
  /** Upper bounds of the item's size in a JSON body and in a msgpack one. */
  bytes: number;
  packedBytes: number;
  /** The same call on the item's own route: for a lone call, and for a retry of a refused item. */
  single: MetaCall;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
  done: boolean;
}

/** The `{"items":[` … `]}` around the items. */
const ENVELOPE_BYTES = 13;

/** Plain maps and arrays, bytes as bytes: what the server's msgpack parser reads back. */
const packr = new Packr({ useRecords: false, moreTypes: false });

/** Room in a body for an item's own fields around its content (`"content":{...}` in JSON). */
const ITEM_SLACK_BYTES = 64;

/** The answer of a replica that does not parse msgpack bodies (fastify's 415, as the server maps it). */
function isUnsupportedType(err: unknown): boolean {
  return (
    err instanceof DfsError && err.code === "BAD_REQUEST" && err.message.includes("Unsupported Media Type")
  );
}

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
  /** The replicas refused a msgpack body (older than it): batches go as JSON. */
  private jsonOnly = false;
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
    const content: unknown = body.content;
    if (!(content instanceof InlineBytes)) {
      return this.submit(JSON.stringify({ kind: "commit", body }), null, single) as Promise<T>;
    }
    // Measured without encoding the bytes: base64 is 4/3 of them, msgpack adds a 5-byte header.
    const rest = Buffer.byteLength(JSON.stringify({ kind: "commit", body: { ...body, content: null } }));
    const binary = { kind: "commit" as const, body: { ...body, content: content.toBinary() } };
    const sizes = {
      bytes: rest + 4 * Math.ceil(content.sizeBytes / 3) + ITEM_SLACK_BYTES,
      packedBytes: rest + content.sizeBytes + ITEM_SLACK_BYTES,
    };
    return this.submit(null, binary, single, sizes) as Promise<T>;
  }

  /** A linearizable stat; answers as the stat route would. */
  stat(path: string): Promise<StatResponse> {
    const single: MetaCall = { method: "GET", path: META_ROUTES.stat, query: { path } };
    return this.submit(JSON.stringify({ kind: "stat", path }), null, single) as Promise<StatResponse>;
  }

  private submit(
    text: string | null,
    binary: Pending["binary"],
    single: MetaCall,
    sizes?: { bytes: number; packedBytes: number },
  ): Promise<unknown> {
    const bytes = sizes?.bytes ?? Buffer.byteLength(text ?? "");
    const packedBytes = sizes?.packedBytes ?? bytes;
    // Too big to share a batch, or nobody to share one with: alone, now.
    if (this.unsupported || Math.min(bytes, packedBytes) + ENVELOPE_BYTES > this.maxBytes) {
      return this.deps.meta.call(single);
    }
    return new Promise((resolve, reject) => {
      const p: Pending = { text, binary, bytes, packedBytes, single, resolve, reject, done: false };
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
        const size = this.jsonOnly ? next.bytes : next.packedBytes;
        if (batch.length > 0 && bytes + 1 + size > this.maxBytes) break;
        bytes += size + (batch.length > 0 ? 1 : 0);
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

  /** The batch's body: msgpack when it carries inline bytes and the replicas take it, else JSON. */
  private body(batch: Pending[]): BinaryBody | JsonText {
    if (!this.jsonOnly && batch.some((p) => p.binary !== null)) {
      const items = batch.map((p) => p.binary ?? JSON.parse(p.text!));
      return new BinaryBody(packr.pack({ items }), BATCH_MSGPACK_TYPE);
    }
    const texts = batch.map((p) => p.text ?? JSON.stringify({ kind: "commit", body: p.single.body }));
    return new JsonText(`{"items":[${texts.join(",")}]}`);
  }

  private async sendBatch(batch: Pending[]): Promise<void> {
    this.stats.batches++;
    this.stats.batchedCalls += batch.length;
    let answer: BatchResponse;
    try {
      const body = this.body(batch);
      try {
        answer = await this.deps.meta.call<BatchResponse>({ method: "POST", path: META_ROUTES.batch, body });
      } catch (err) {
        // A replica older than msgpack bodies refuses the type before reading it: nothing was applied.
        if (!(body instanceof BinaryBody && isUnsupportedType(err))) throw err;
        this.jsonOnly = true;
        answer = await this.deps.meta.call<BatchResponse>({
          method: "POST",
          path: META_ROUTES.batch,
          body: this.body(batch),
        });
      }
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
