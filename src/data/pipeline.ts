/**
 * The write pipeline (HDFS style): a chunk arrives from the client or the previous node and, while it
 * streams to the local disk, streams on to the next node of the pipeline with the rest of the list.
 * The answer leaves only when this node holds the chunk durably and the downstream answered 201, so
 * the client's ack means "every replica has it". A downstream failure answers UNAVAILABLE naming the
 * failed node, so the client can ask the leader for a placement without it; the local copy stays (it
 * is either used by the retry or collected as garbage by the leader).
 *
 * Everything that can be checked without the body — id, size, ticket, pipeline, free space — is
 * checked before a byte of it is read.
 */
import { PassThrough } from "node:stream";
import Type from "typebox";
import Value from "typebox/value";
import type { Dispatcher } from "undici";
import { DfsError } from "../common/errors.js";
import {
  DATA_ROUTES,
  MAX_PIPELINE_TARGETS,
  type NodeAddress,
  PIPELINE_HEADER,
  type PutChunkResponse,
  TICKET_HEADER,
} from "../common/protocol/index.js";
import { type TicketClaims, verifyTicket } from "../common/tickets.js";
import type { ChunkStore } from "./chunk-store.js";

/** Replication is at most 16 in the config: this node plus 15 downstream. */
export const MAX_PIPELINE_NODES = MAX_PIPELINE_TARGETS;
/** Bytes buffered toward the downstream node before the upstream read waits for it. */
const FORWARD_BUFFER_BYTES = 1024 * 1024;
/** A downstream answer is a small JSON object; anything bigger is not one. */
const MAX_ANSWER_BYTES = 64 * 1024;

const PipelineSchema = Type.Array(
  Type.Object(
    { id: Type.Integer({ minimum: 1 }), url: Type.String({ minLength: 1, maxLength: 2048 }) },
    { additionalProperties: false },
  ),
  { maxItems: MAX_PIPELINE_NODES },
);

export interface PipelineOptions {
  nodeId: number;
  secret: string;
  chunkSizeBytes: number;
  /** How long a downstream node may stay silent (while we send, or before it answers) before it failed. */
  downstreamTimeoutMs: number;
}

export interface PipelineDeps {
  store: ChunkStore;
  dispatcher: Dispatcher;
  now: () => number;
  /**
   * The address of a data node by id, from the cluster config, so that a pipeline header cannot send
   * this node's traffic anywhere else. `undefined` = unknown node (refused). Without it (tests whose
   * nodes listen on port 0) the header's URL is used.
   */
  peerUrl?: (id: number) => string | undefined;
}

/** A PUT that passed every check that does not need the body. */
export interface AdmittedPut {
  chunkId: string;
  sizeBytes: number;
  ticket: string;
  downstream: NodeAddress[];
}

/** A downstream's answer: what its 201 said (`value`), or which node failed and how. */
export type Outcome<T> = { ok: true; value: T } | { ok: false; failedNode: number; message: string };

/** The downstream request of one pipeline hop: the route and headers; its body is what `write` feeds. */
export interface DownstreamRequest<T> {
  path: string;
  headers: Record<string, string>;
  /** The 201's JSON answer as T, or null when it is not one (the node is then the failed one). */
  accept: (answer: unknown) => T | null;
}

function unavailable(failed: { failedNode: number; message: string }, storedHere: number): DfsError {
  return new DfsError("UNAVAILABLE", `pipeline failed: ${failed.message}`, {
    failedNode: failed.failedNode,
    storedOn: [storedHere],
  });
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return [e?.code, e?.message].filter(Boolean).join(": ") || String(err);
}

/** Normalizes a node URL to its origin (`http://host:port`); refuses anything but plain http(s). */
function originOf(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new DfsError("BAD_REQUEST", `pipeline: ${JSON.stringify(url.slice(0, 100))} is not a URL`);
  }
  if ((u.protocol !== "http:" && u.protocol !== "https:") || u.username || u.password) {
    throw new DfsError("BAD_REQUEST", "pipeline: node URLs must be http(s) without credentials");
  }
  return u.origin;
}

/** One downstream PUT fed while the local write goes on. Its `result` never rejects. */
export class Downstream<T> {
  private readonly body = new PassThrough({ highWaterMark: FORWARD_BUFFER_BYTES });
  private failure: { failedNode: number; message: string } | null = null;
  /**
   * undici destroys the body when its request fails (a refused connection, a reset), and that error
   * event comes before the request's own rejection. It only stops our writes: the failure recorded
   * is the request's, which says why (a bare "body aborted" hid an ECONNREFUSED to a node that was
   * still starting).
   */
  private bodyBroken = false;
  /** Ends the request itself, not only its body (a body sent whole leaves undici waiting for headers). */
  private readonly cancel = new AbortController();
  readonly result: Promise<Outcome<T>>;

  constructor(
    readonly target: NodeAddress,
    put: DownstreamRequest<T>,
    opts: { dispatcher: Dispatcher; timeoutMs: number },
  ) {
    // A failed downstream destroys the body; that must not surface as an unhandled stream error.
    this.body.on("error", () => {
      this.bodyBroken = true;
    });
    this.result = this.run(put, opts);
  }

  get failed(): boolean {
    return this.failure !== null || this.bodyBroken;
  }

  private fail(failedNode: number, message: string): Outcome<T> {
    this.failure ??= { failedNode, message };
    this.body.destroy();
    return { ok: false, ...this.failure };
  }

  private async run(
    put: DownstreamRequest<T>,
    opts: { dispatcher: Dispatcher; timeoutMs: number },
  ): Promise<Outcome<T>> {
    const { target } = this;
    try {
      const res = await opts.dispatcher.request({
        origin: target.url,
        path: put.path,
        method: "PUT",
        body: this.body,
        headers: { "content-type": "application/octet-stream", ...put.headers },
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
        signal: this.cancel.signal,
      });
      const text = await readSmall(res.body);
      const answer = parseJson(text);
      if (res.statusCode === 201) {
        const value = put.accept(answer);
        if (value !== null) return { ok: true, value };
        return this.fail(target.id, `node ${target.id} answered 201 with an answer that is not one`);
      }
      const err = DfsError.fromBody(answer, res.statusCode);
      // A failure further down names the node that really failed; pass it on unchanged.
      const deeper = err.code === "UNAVAILABLE" ? err.details.failedNode : undefined;
      const failedNode = typeof deeper === "number" && Number.isSafeInteger(deeper) ? deeper : target.id;
      return this.fail(failedNode, `node ${target.id} answered ${err.code}: ${err.message}`);
    } catch (err) {
      return this.fail(target.id, `node ${target.id} (${target.url}) failed: ${describe(err)}`);
    }
  }

  /** Sends one piece on; waits while the downstream is behind (bounded buffer), never once it failed. */
  async write(buf: Uint8Array): Promise<void> {
    if (this.failed || this.body.write(buf)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        this.body.off("drain", done);
        this.body.off("close", done);
        resolve();
      };
      this.body.on("drain", done);
      this.body.on("close", done);
    });
  }

  end(): void {
    if (!this.failed) this.body.end();
  }

  /** The upstream broke off: the downstream sees a short body and drops its temp file. */
  abort(reason: string): void {
    this.fail(this.target.id, reason);
  }

  /** The target is gone (the leader judges it dead): fail now, naming it, whatever was sent. */
  abandon(reason: string): void {
    this.fail(this.target.id, reason);
    this.cancel.abort(new Error(reason));
  }
}

async function readSmall(body: AsyncIterable<Uint8Array> & { destroy?: () => void }): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const part of body) {
    total += part.byteLength;
    if (total > MAX_ANSWER_BYTES) {
      body.destroy?.();
      throw new Error(`the answer is larger than ${MAX_ANSWER_BYTES} bytes`);
    }
    parts.push(Buffer.from(part));
  }
  return Buffer.concat(parts).toString("utf8");
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return null;
  }
}

/** Throws unless the ticket's claims name every node the chunk is to be sent on to. */
export function checkDownstream(chunkId: string, claims: TicketClaims, downstream: NodeAddress[]): void {
  for (const n of downstream) {
    if (!claims.nodeIds.includes(n.id)) {
      throw new DfsError("FORBIDDEN", `the pipeline names node ${n.id}, which the ticket does not`, {
        chunkId,
      });
    }
  }
}

export class Pipeline {
  /** Downstream requests under way (forwards and repair copies), so a dead target's can be failed. */
  private readonly running = new Set<Downstream<unknown>>();

  constructor(
    private readonly opts: PipelineOptions,
    private readonly deps: PipelineDeps,
  ) {}

  /**
   * Fails the downstream requests under way to these nodes, which the leader judges dead (each
   * heartbeat answer says which), so that the client retries elsewhere and a repair copy frees its
   * slot, rather than after `downstreamTimeoutMs` of silence. New ones are not refused: a node that
   * comes back is placed by the leader before the other nodes' next answers say it is alive. Returns
   * how many it failed.
   */
  failForwardsTo(nodeIds: readonly number[]): number {
    let failed = 0;
    for (const d of this.running) {
      if (!nodeIds.includes(d.target.id) || d.failed) continue;
      d.abandon(`node ${d.target.id} (${d.target.url}) is dead in the leader's view`);
      failed++;
    }
    return failed;
  }

  /** Checks size, ticket and pipeline from the headers alone. Throws a 4xx DfsError. */
  admit(input: {
    chunkId: string;
    contentLength: string | undefined;
    ticket: string | undefined;
    pipeline: string | undefined;
  }): AdmittedPut {
    const { chunkId } = input;
    if (input.contentLength === undefined || !/^[0-9]{1,16}$/.test(input.contentLength)) {
      throw new DfsError("BAD_REQUEST", "content-length is required: the ticket binds the chunk's size");
    }
    const sizeBytes = Number(input.contentLength);
    if (sizeBytes > this.opts.chunkSizeBytes) {
      throw new DfsError(
        "PAYLOAD_TOO_LARGE",
        `a chunk of ${sizeBytes} bytes exceeds the ${this.opts.chunkSizeBytes}-byte chunk size`,
      );
    }
    if (!input.ticket) throw new DfsError("UNAUTHORIZED", `a chunk write needs a ${TICKET_HEADER} header`);
    const claims = this.verifyChunkTicket({ chunkId, sizeBytes, ticket: input.ticket });
    const downstream = this.parsePipeline(input.pipeline);
    checkDownstream(chunkId, claims, downstream);
    return { chunkId, sizeBytes, ticket: input.ticket, downstream };
  }

  /** The ticket's claims; throws unless it lets this node store this chunk now. */
  verifyChunkTicket(chunk: { chunkId: string; sizeBytes: number; ticket: string }): TicketClaims {
    const { chunkId, sizeBytes } = chunk;
    const check = verifyTicket(this.opts.secret, chunk.ticket, {
      chunkId,
      sizeBytes,
      nodeId: this.opts.nodeId,
      nowMs: this.deps.now(),
    });
    if (!check.ok) {
      const forged = check.reason === "malformed ticket" || check.reason === "bad signature";
      throw new DfsError(forged ? "UNAUTHORIZED" : "FORBIDDEN", `chunk write refused: ${check.reason}`, {
        reason: check.reason,
        chunkId,
      });
    }
    return check.claims;
  }

  /** Validates a pipeline list: distinct nodes, not this one, each with a usable address. */
  parsePipeline(header: string | undefined): NodeAddress[] {
    if (header === undefined || header === "") return [];
    let raw: unknown;
    try {
      raw = JSON.parse(header);
    } catch {
      throw new DfsError("BAD_REQUEST", `${PIPELINE_HEADER} must be a JSON array of {id, url}`);
    }
    return this.checkTargets(raw, PIPELINE_HEADER);
  }

  checkTargets(raw: unknown, what: string): NodeAddress[] {
    if (!Value.Check(PipelineSchema, raw)) {
      throw new DfsError(
        "BAD_REQUEST",
        `${what} must be a JSON array of at most ${MAX_PIPELINE_NODES} {id, url} objects`,
      );
    }
    const seen = new Set<number>([this.opts.nodeId]);
    return raw.map((n) => {
      if (seen.has(n.id))
        throw new DfsError("BAD_REQUEST", `${what} names node ${n.id} twice (or this node)`);
      seen.add(n.id);
      if (!this.deps.peerUrl) return { id: n.id, url: originOf(n.url) };
      const known = this.deps.peerUrl(n.id);
      if (known === undefined)
        throw new DfsError("FORBIDDEN", `${what} names node ${n.id}, unknown to the config`);
      return { id: n.id, url: known };
    });
  }

  /** Streams the body to disk and to the next node; resolves once both hold the chunk. */
  async receive(put: AdmittedPut, body: AsyncIterable<Uint8Array>): Promise<PutChunkResponse> {
    // beginWrite checks the free space: still before the body is read.
    const writer = await this.deps.store.beginWrite(put.chunkId, put.sizeBytes);
    const [next, ...rest] = put.downstream;
    const down = next ? this.forward(next, { ...put, rest }) : null;
    try {
      try {
        for await (const buf of body) {
          await Promise.all([writer.write(buf), down?.write(buf)]);
        }
      } catch (err) {
        down?.abort(`the upstream body broke off: ${describe(err)}`);
        throw err;
      }
      down?.end();
      let outcome: Outcome<number[]> | undefined;
      try {
        [, outcome] = await Promise.all([writer.commit(), down?.result]);
      } catch (err) {
        // The local write refused the chunk (a short body, a wrong hash): the downstream must not be
        // left waiting for bytes that will never come, holding its request open until a timeout.
        down?.abort(`node ${this.opts.nodeId} refused the chunk: ${describe(err)}`);
        throw err;
      }
      if (outcome && !outcome.ok) throw unavailable(outcome, this.opts.nodeId);
      return {
        id: put.chunkId,
        sizeBytes: put.sizeBytes,
        stored: [this.opts.nodeId, ...(outcome?.value ?? [])],
      };
    } finally {
      await writer.abort();
    }
  }

  /**
   * Pushes a local chunk through a pipeline of other nodes (a repair copy ordered by the leader). The
   * ticket names the targets. Resolves with the targets' answer.
   */
  async push(cmd: {
    chunkId: string;
    sizeBytes: number;
    targets: NodeAddress[];
    ticket: string;
  }): Promise<PutChunkResponse> {
    const targets = this.checkTargets(cmd.targets, "targets");
    const [next, ...rest] = targets;
    if (!next) throw new DfsError("BAD_REQUEST", "replicate needs at least one target");
    const data = await this.deps.store.read(cmd.chunkId);
    if (data.byteLength !== cmd.sizeBytes) {
      throw new DfsError(
        "BAD_REQUEST",
        `chunk ${cmd.chunkId} has ${data.byteLength} bytes here, not the ${cmd.sizeBytes} of the command`,
      );
    }
    const down = this.forward(next, {
      chunkId: cmd.chunkId,
      sizeBytes: cmd.sizeBytes,
      ticket: cmd.ticket,
      rest,
    });
    await down.write(data);
    down.end();
    const outcome = await down.result;
    if (!outcome.ok) {
      throw new DfsError("UNAVAILABLE", `replication failed: ${outcome.message}`, {
        failedNode: outcome.failedNode,
      });
    }
    return { id: cmd.chunkId, sizeBytes: cmd.sizeBytes, stored: outcome.value };
  }

  private forward(
    next: NodeAddress,
    put: { chunkId: string; sizeBytes: number; ticket: string; rest: NodeAddress[] },
  ): Downstream<number[]> {
    return this.forwardTo(next, {
      path: DATA_ROUTES.chunk.replace(":id", put.chunkId),
      headers: {
        "content-length": String(put.sizeBytes),
        [TICKET_HEADER]: put.ticket,
        [PIPELINE_HEADER]: JSON.stringify(put.rest),
      },
      accept: (answer) => {
        const stored = (answer as Partial<PutChunkResponse> | null)?.stored;
        return Array.isArray(stored) && stored.every((n) => Number.isSafeInteger(n)) ? stored : null;
      },
    });
  }

  /** A PUT to the next node of a pipeline, fed by the caller (see Downstream). */
  forwardTo<T>(next: NodeAddress, request: DownstreamRequest<T>): Downstream<T> {
    const d = new Downstream(next, request, {
      dispatcher: this.deps.dispatcher,
      timeoutMs: this.opts.downstreamTimeoutMs,
    });
    this.running.add(d);
    void d.result.then(() => this.running.delete(d));
    return d;
  }
}
