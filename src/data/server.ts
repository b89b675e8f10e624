/**
 * The data node's HTTP API (routes and shapes in common/protocol/data.ts), built by a factory so tests
 * drive it with real sockets or `inject`. Every route has a schema; every error is `{code, message}`
 * with the status of its code; bad input never gets a 5xx.
 *
 * The chunk PUT lives in its own plugin scope without body parsers: its body is read by the pipeline,
 * as a stream, and only after the ticket and the free space were checked from the headers.
 */
import { timingSafeEqual } from "node:crypto";
import type { ServerResponse } from "node:http";
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from "@fastify/type-provider-typebox";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { Agent, type Dispatcher } from "undici";
import { DfsError } from "../common/errors.js";
import {
  DATA_ROUTES,
  DATA_SCHEMAS,
  type DataNodeStatus,
  GROUP_MANIFEST_BYTES_HEADER,
  PIPELINE_HEADER,
  SECRET_HEADER,
  TICKET_HEADER,
  VERIFIED_TRAILER,
} from "../common/protocol/index.js";
import { verifyReadTicket } from "../common/tickets.js";
import type { ChunkStore } from "./chunk-store.js";
import { GroupReceiver } from "./group-receive.js";
import type { DataMetrics } from "./metrics.js";
import { Pipeline } from "./pipeline.js";
import { parseRange } from "./range.js";
import type { ScrubProgress } from "./scrubber.js";

export interface DataServerOptions {
  nodeId: number;
  /** This node's advertised address (status). */
  url: string;
  zone: string;
  secret: string;
  chunkSizeBytes: number;
  /** Downstream silence (sending, or waiting for its answer) after which a pipeline node failed. */
  downstreamTimeoutMs?: number;
  /** Body limit of the internal JSON routes. */
  jsonBodyLimitBytes?: number;
  /** PEM trusted by the server's own downstream Agent (when no `dispatcher` is given) under TLS. */
  tlsCa?: string | Buffer;
  /**
   * Chunk GETs served at once (each may hold a whole chunk in memory until its client has it); beyond,
   * the node answers 503 UNAVAILABLE with Retry-After at once instead of queueing. Default 64.
   */
  maxConcurrentReads?: number;
  logger?: boolean;
}

export interface DataServerDeps {
  store: ChunkStore;
  /** A fastify instance to build on (main.ts passes one with its logger); default: a new one. */
  app?: FastifyInstance;
  /** Default: the pipeline is built here from `dispatcher`, `peerUrl` and `now`. */
  pipeline?: Pipeline;
  /** For downstream PUTs. Default: an Agent owned (and closed) by the server. */
  dispatcher?: Dispatcher;
  peerUrl?: (id: number) => string | undefined;
  now?: () => number;
  scrubber?: { progress(): ScrubProgress };
  link?: { readonly registeredWith: number | null };
  metrics?: DataMetrics;
}

function secretMatches(given: unknown, secret: string): boolean {
  if (typeof given !== "string") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(secret);
  return a.length === b.length && timingSafeEqual(a, b);
}

function errorCode(err: unknown): string {
  return err instanceof DfsError ? err.code : "INTERNAL";
}

/**
 * Fastify's own early refusals (a badly encoded URL, an over-long parameter) in the `{code, message}`
 * shape. A fastify option, so whoever creates the instance passes it (main.ts does).
 */
export function frameworkErrors(err: FastifyError, _req: FastifyRequest, reply: FastifyReply): void {
  reply.status(400).send({ code: "BAD_REQUEST", message: err.message });
}

export function buildDataServer(opts: DataServerOptions, deps: DataServerDeps): FastifyInstance {
  const base =
    deps.app ??
    Fastify({
      logger: opts.logger ?? false,
      bodyLimit: opts.jsonBodyLimitBytes ?? 1024 * 1024,
      frameworkErrors,
    });
  base.setValidatorCompiler(TypeBoxValidatorCompiler);
  const app = base.withTypeProvider<TypeBoxTypeProvider>();
  const { store, metrics } = deps;
  const ownDispatcher = deps.dispatcher
    ? null
    : new Agent({
        connectTimeout: 5000,
        keepAliveTimeout: 10_000,
        connections: 64,
        ...(opts.tlsCa ? { connect: { ca: opts.tlsCa } } : {}),
      });
  const pipeline =
    deps.pipeline ??
    new Pipeline(
      {
        nodeId: opts.nodeId,
        secret: opts.secret,
        chunkSizeBytes: opts.chunkSizeBytes,
        downstreamTimeoutMs: opts.downstreamTimeoutMs ?? 30_000,
      },
      {
        store,
        dispatcher: deps.dispatcher ?? ownDispatcher!,
        now: deps.now ?? Date.now,
        ...(deps.peerUrl ? { peerUrl: deps.peerUrl } : {}),
      },
    );
  const groups = new GroupReceiver(
    { nodeId: opts.nodeId, chunkSizeBytes: opts.chunkSizeBytes },
    { pipeline, store },
  );
  if (ownDispatcher) app.addHook("onClose", async () => ownDispatcher.destroy());

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof DfsError) return reply.status(err.httpStatus).send(err.toJSON());
    const e = err as { statusCode?: number; message?: string; validation?: unknown };
    if (e.validation || (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500)) {
      const tooLarge = e.statusCode === 413;
      return reply
        .status(tooLarge ? 413 : 400)
        .send({ code: tooLarge ? "PAYLOAD_TOO_LARGE" : "BAD_REQUEST", message: e.message ?? "bad request" });
    }
    // The client went away in the middle of its upload: nobody is left to answer.
    if (req.raw.destroyed || req.raw.errored)
      return reply.status(400).send({ code: "BAD_REQUEST", message: "aborted" });
    app.log.error({ err }, "unexpected error");
    return reply.status(500).send({ code: "INTERNAL", message: "internal error" });
  });
  app.setNotFoundHandler((req, reply) =>
    reply.status(404).send({ code: "NOT_FOUND", message: `no route ${req.method} ${req.url.split("?")[0]}` }),
  );

  // ---------------------------------------------------------------- chunk writes (streamed body)

  app.register(async (scope) => {
    // No parser reads the body: the handler streams it, after checking the headers.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", (_req, _payload, done) => done(null, undefined));
    scope
      .withTypeProvider<TypeBoxTypeProvider>()
      .put(DATA_ROUTES.chunk, { schema: DATA_SCHEMAS.putChunk }, async (req, reply) => {
        const end = metrics?.putSeconds.startTimer();
        try {
          const admitted = pipeline.admit({
            chunkId: req.params.id,
            contentLength: req.headers["content-length"],
            ticket: req.headers[TICKET_HEADER],
            pipeline: req.headers[PIPELINE_HEADER],
          });
          const result = await pipeline.receive(admitted, req.raw);
          metrics?.writes.inc({ result: "OK" });
          metrics?.bytesWritten.inc(admitted.sizeBytes);
          return reply.status(201).send(result);
        } catch (err) {
          metrics?.writes.inc({ result: errorCode(err) });
          throw err;
        } finally {
          end?.();
        }
      })
      .put(DATA_ROUTES.chunkGroup, { schema: DATA_SCHEMAS.putChunkGroup }, async (req, reply) => {
        const end = metrics?.putSeconds.startTimer();
        try {
          const result = await groups.receive(
            {
              manifestBytes: req.headers[GROUP_MANIFEST_BYTES_HEADER],
              contentLength: req.headers["content-length"],
              pipeline: req.headers[PIPELINE_HEADER],
            },
            req.raw,
          );
          for (const c of result.chunks) {
            metrics?.writes.inc({ result: "error" in c ? c.error.code : "OK" });
            if (!("error" in c)) metrics?.bytesWritten.inc(c.sizeBytes);
          }
          return reply.status(201).send(result);
        } catch (err) {
          metrics?.writes.inc({ result: errorCode(err) });
          throw err;
        } finally {
          end?.();
        }
      });
  });

  // ---------------------------------------------------------------- chunk reads

  const now = deps.now ?? Date.now;
  /**
   * A chunk is served only with a read ticket for it from a metadata replica, or to the cluster's own
   * processes (the cluster secret): knowing a chunk's id is not a right to its bytes. Checked on
   * arrival, before any disk work.
   */
  const authorizeRead = async (req: FastifyRequest<{ Params: { id: string } }>) => {
    if (secretMatches(req.headers[SECRET_HEADER], opts.secret)) return;
    const ticket = req.headers[TICKET_HEADER];
    if (typeof ticket !== "string") {
      metrics?.reads.inc({ result: "UNAUTHORIZED" });
      throw new DfsError("UNAUTHORIZED", "a chunk read needs a read ticket from a metadata replica");
    }
    const check = verifyReadTicket(opts.secret, ticket, { chunkId: req.params.id, nowMs: now() });
    if (!check.ok) {
      metrics?.reads.inc({ result: "UNAUTHORIZED" });
      throw new DfsError("UNAUTHORIZED", `read ticket refused: ${check.reason}`, { reason: check.reason });
    }
  };

  // Reads in flight, from admission until their answer is sent or their client is gone.
  const maxReads = opts.maxConcurrentReads ?? 64;
  let readsInFlight = 0;

  app.get(
    DATA_ROUTES.chunk,
    { schema: DATA_SCHEMAS.getChunk, exposeHeadRoute: false, onRequest: authorizeRead },
    async (req, reply) => {
      if (readsInFlight >= maxReads) {
        metrics?.reads.inc({ result: "UNAVAILABLE" });
        const busy = new DfsError("UNAVAILABLE", `node ${opts.nodeId} is serving ${maxReads} reads: retry`, {
          readsInFlight,
        });
        return reply.status(503).header("retry-after", "1").send(busy.toJSON());
      }
      // The slot is held until both the handler is done with the chunk and the answer is sent or its
      // client gone: a client that hangs up early does not free memory the handler still holds.
      readsInFlight++;
      metrics?.readsInFlight.set(readsInFlight);
      let pending = 2;
      const done = () => {
        if (--pending > 0) return;
        readsInFlight--;
        metrics?.readsInFlight.set(readsInFlight);
      };
      if (reply.raw.destroyed || reply.raw.writableFinished) done();
      else reply.raw.once("close", done);
      try {
        return await serveChunk(req.params.id, req.headers.range, reply);
      } catch (err) {
        metrics?.reads.inc({ result: errorCode(err) });
        throw err;
      } finally {
        done();
      }
    },
  );

  /** 200 with the whole chunk (streamed, each block checked), or 206 with a range (only its blocks read and checked). */
  const serveChunk = async (id: string, rangeHeader: string | undefined, reply: FastifyReply) => {
    const size = store.sizeOf(id);
    if (size === undefined) throw new DfsError("NOT_FOUND", `no chunk ${id} on this node`, { chunkId: id });
    reply.header("content-type", "application/octet-stream").header("accept-ranges", "bytes");
    reply.header("etag", `"${id}"`);
    let range: ReturnType<typeof parseRange>;
    try {
      range = parseRange(rangeHeader, size);
    } catch (err) {
      reply.header("content-range", `bytes */${size}`);
      throw err;
    }
    if (!range) {
      const blocks = await store.readStream(id);
      if (blocks === null) {
        // No block sums (a chunk from before them): only the hash of the whole proves it.
        const data = await store.read(id);
        metrics?.reads.inc({ result: "OK" });
        metrics?.bytesRead.inc(data.byteLength);
        return reply.status(200).send(data);
      }
      // The first batch is checked before the answer starts: a chunk bad from its start gets a plain
      // 500 CORRUPT through the route's error handling.
      const first = await blocks.next();
      await sendVerified({ id, size, first, blocks }, reply);
      return reply;
    }
    const part = await store.readRange(id, range.start, range.end + 1);
    metrics?.reads.inc({ result: "OK" });
    metrics?.bytesRead.inc(part.byteLength);
    reply.header("content-range", `bytes ${range.start}-${range.end}/${size}`);
    return reply.status(206).send(part);
  };

  /**
   * A whole chunk streamed as its blocks pass their checksums (chunk-store's readStream): the first
   * bytes leave before the last are read, and the read holds one batch, not the chunk. A bad block
   * later ends the body early (chunked, no content-length) with the error in the VERIFIED_TRAILER; a
   * good chunk ends with "ok" there. The client hashes the whole chunk anyway.
   *
   * Written on the raw response, not through a stream handed to fastify: each batch goes back to the
   * store's read buffers from its write's callback, the one moment nothing reads it any more (a
   * stream piped to the socket tells no one when a piece left). One batch is read ahead of the
   * socket at most: the next is read once the last write drained.
   */
  const sendVerified = async (
    chunk: { id: string; size: number; first: IteratorResult<Buffer>; blocks: AsyncGenerator<Buffer> },
    reply: FastifyReply,
  ): Promise<void> => {
    const { id, size, blocks } = chunk;
    reply.hijack();
    const res = reply.raw;
    res.statusCode = 200;
    for (const [name, value] of Object.entries(reply.getHeaders())) {
      if (value !== undefined) res.setHeader(name, value);
    }
    res.setHeader("trailer", VERIFIED_TRAILER);
    let failure: DfsError | null = null;
    let sent = 0;
    let next = chunk.first;
    try {
      while (!next.done && !res.destroyed) {
        const piece = next.value;
        sent += piece.byteLength;
        // Given back only after a write that succeeded: a failed one (the client gone) may have
        // left the bytes with the socket, and the buffer is then simply collected.
        const more = res.write(piece, (err) => {
          if (!err) store.giveBackReadBuffer(piece);
        });
        if (!more) await drainedOrClosed(res);
        if (res.destroyed) break;
        next = await blocks.next();
      }
      if (next.done) metrics?.reads.inc({ result: "OK" });
    } catch (err) {
      failure =
        err instanceof DfsError
          ? err
          : new DfsError("INTERNAL", `reading chunk ${id} failed`, { chunkId: id });
      metrics?.reads.inc({ result: failure.code });
      app.log.error({ err, chunkId: id, bytesSent: sent, sizeBytes: size }, "chunk read stopped");
    } finally {
      metrics?.bytesRead.inc(sent);
      // A client gone mid-chunk: the generator's finally closes the chunk file.
      if (!next.done && failure === null) await blocks.return(undefined);
    }
    if (res.destroyed) return;
    res.addTrailers({
      [VERIFIED_TRAILER]: failure === null ? "ok" : JSON.stringify({ ...failure.toJSON(), bytesSent: sent }),
    });
    res.end();
  };

  app.head(
    DATA_ROUTES.chunk,
    { schema: DATA_SCHEMAS.headChunk, onRequest: authorizeRead },
    async (req, reply) => {
      const size = store.sizeOf(req.params.id);
      if (size === undefined) return reply.status(404).send();
      return reply
        .status(200)
        .header("content-type", "application/octet-stream")
        .header("content-length", String(size))
        .header("accept-ranges", "bytes")
        .send();
    },
  );

  // ---------------------------------------------------------------- status

  app.get(DATA_ROUTES.status, { schema: DATA_SCHEMAS.status }, async (): Promise<DataNodeStatus> => {
    // freeBytes is the room for chunks (free space less the reserve), as the leader hears it.
    const space = await store.spaceForChunks();
    const scrub = deps.scrubber?.progress();
    return {
      id: opts.nodeId,
      url: opts.url,
      zone: opts.zone,
      pid: process.pid,
      chunks: store.chunkCount,
      usedBytes: store.usedBytes,
      freeBytes: space.freeBytes,
      capacityBytes: space.capacityBytes,
      corruptFound: store.corruptFound,
      scrub: {
        chunksChecked: scrub?.chunksChecked ?? 0,
        lastPassCompletedAtMs: scrub?.lastPassCompletedAtMs ?? null,
      },
      registeredWithLeader: deps.link?.registeredWith ?? null,
    };
  });

  app.get("/metrics", { schema: DATA_SCHEMAS.metrics }, async (_req, reply: FastifyReply) => {
    if (!metrics) throw new DfsError("NOT_FOUND", "metrics are not enabled");
    return reply.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // ---------------------------------------------------------------- internal (cluster secret)

  app.register(async (scope) => {
    // Checked on arrival, before the body is parsed or anything else is done.
    scope.addHook("onRequest", async (req: FastifyRequest) => {
      if (!secretMatches(req.headers[SECRET_HEADER], opts.secret)) {
        throw new DfsError("UNAUTHORIZED", "internal route: missing or wrong cluster secret");
      }
    });
    const typed = scope.withTypeProvider<TypeBoxTypeProvider>();
    typed.post(DATA_ROUTES.deleteChunks, { schema: DATA_SCHEMAS.deleteChunks }, async (req) => {
      let deleted = 0;
      for (const id of req.body.chunkIds) if (await store.delete(id)) deleted++;
      return { deleted };
    });
    typed.post(DATA_ROUTES.replicate, { schema: DATA_SCHEMAS.replicate }, async (req) =>
      pipeline.push(req.body),
    );
  });

  return base;
}

/** Resolves when `res` may take more bytes, or when its connection is gone. */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    if (res.destroyed) {
      resolve();
      return;
    }
    const settle = () => {
      res.off("drain", settle);
      res.off("close", settle);
      resolve();
    };
    res.on("drain", settle);
    res.on("close", settle);
  });
}
