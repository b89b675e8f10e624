/**
 * How Raft messages travel between replicas. `Transport` is the seam: the HTTP one below runs in
 * production, simulators and fault-injecting tests supply their own.
 *
 * HttpTransport: `POST /raft/messages` with a msgpack batch, authenticated by the cluster secret.
 * Per peer, messages queued in one event-loop turn leave as one request, and at most one request is
 * in flight (what queues meanwhile goes in the next): cheap batching, and the peer sees our messages
 * in order. Queues are bounded; Raft tolerates loss, so overflow drops the oldest messages.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Pool } from "undici";
import { decodeMessages, encodeMessages, messageSizeBytes } from "./codec.js";
import type { Message, NodeId } from "./core/index.js";

export interface Transport {
  /** Queues messages for their recipients; never throws, never blocks. */
  send(msgs: Message[]): void;
  /** The one receiver of incoming batches. */
  onMessages(handler: (msgs: Message[]) => void): void;
  close(): Promise<void>;
}

/** The slice of pino that the Raft shell uses (fastify's `app.log` fits). */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export const SILENT_LOGGER: Logger = { debug() {}, info() {}, warn() {}, error() {} };

export const RAFT_MESSAGES_PATH = "/raft/messages";
export const SECRET_HEADER = "x-raftfs-secret";

export interface HttpTransportOptions {
  secret: string;
  peers?: { id: NodeId; url: string }[];
  /** Largest request body accepted. */
  bodyLimitBytes?: number;
  /** A request carries at most this much (at least one message), to stay well below the peer's limit. */
  maxRequestBytes?: number;
  maxQueuedMessagesPerPeer?: number;
  maxQueuedBytesPerPeer?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  keepAliveTimeoutMs?: number;
  /** Send errors to one peer are logged at most once per this interval. */
  errorLogIntervalMs?: number;
  /** PEM certificate(s) trusted for https peers (a self-signed cluster cert); default: the system's CAs. */
  tlsCa?: string | Buffer;
}

const DEFAULTS = {
  bodyLimitBytes: 64 * 1024 * 1024,
  maxRequestBytes: 16 * 1024 * 1024,
  maxQueuedMessagesPerPeer: 10_000,
  maxQueuedBytesPerPeer: 64 * 1024 * 1024,
  connectTimeoutMs: 2_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  keepAliveTimeoutMs: 30_000,
  errorLogIntervalMs: 5_000,
} as const;

export interface HttpTransportDeps {
  /** The server to register the route on; its owner listens and closes it. */
  app: FastifyInstance;
  log?: Logger;
}

interface Peer {
  id: NodeId;
  url: string;
  pool: Pool;
  queue: Message[];
  queuedBytes: number;
  inFlight: Promise<void> | null;
  flushScheduled: boolean;
  lastErrorLogMs: number;
  suppressedErrors: number;
}

export class HttpTransport implements Transport {
  private readonly opts: Required<Omit<HttpTransportOptions, "peers" | "tlsCa">>;
  private readonly tlsCa: string | Buffer | undefined;
  private readonly log: Logger;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly secretDigest: Buffer;
  private handler: ((msgs: Message[]) => void) | null = null;
  private filter: ((m: Message) => boolean) | null = null;
  private closed = false;
  /** Messages dropped on overflow, to unknown peers, or by the test filter. */
  droppedMessages = 0;

  constructor(opts: HttpTransportOptions, deps: HttpTransportDeps) {
    const { tlsCa, ...rest } = opts;
    this.opts = { ...DEFAULTS, ...stripUndefined(rest) } as Required<
      Omit<HttpTransportOptions, "peers" | "tlsCa">
    >;
    this.tlsCa = tlsCa;
    this.log = deps.log ?? SILENT_LOGGER;
    this.secretDigest = digest(opts.secret);
    for (const p of opts.peers ?? []) this.setPeer(p.id, p.url);
    this.register(deps.app);
  }

  /** Adds a peer or changes its address (membership changes, tests that learn ports late). */
  setPeer(id: NodeId, url: string): void {
    const old = this.peers.get(id);
    if (old?.url === url) return;
    if (old) void old.pool.close();
    const o = this.opts;
    const pool = new Pool(url, {
      connections: 1, // one request in flight per peer: one connection suffices
      pipelining: 1,
      connectTimeout: o.connectTimeoutMs,
      ...(this.tlsCa !== undefined ? { connect: { ca: this.tlsCa } } : {}),
      headersTimeout: o.headersTimeoutMs,
      bodyTimeout: o.bodyTimeoutMs,
      keepAliveTimeout: o.keepAliveTimeoutMs,
    });
    const peer: Peer = old ?? {
      id,
      url,
      pool,
      queue: [],
      queuedBytes: 0,
      inFlight: null,
      flushScheduled: false,
      lastErrorLogMs: Number.NEGATIVE_INFINITY,
      suppressedErrors: 0,
    };
    peer.url = url;
    peer.pool = pool;
    this.peers.set(id, peer);
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    void peer.pool.close();
  }

  /** Test-only fault hook: messages for which `keep` returns false are dropped, both ways. */
  setFilter(keep: ((m: Message) => boolean) | null): void {
    this.filter = keep;
  }

  onMessages(handler: (msgs: Message[]) => void): void {
    this.handler = handler;
  }

  send(msgs: Message[]): void {
    if (this.closed) return;
    for (const m of msgs) {
      if (this.filter && !this.filter(m)) {
        this.droppedMessages++;
        continue;
      }
      const peer = this.peers.get(m.to);
      if (!peer) {
        this.droppedMessages++;
        continue;
      }
      peer.queue.push(m);
      peer.queuedBytes += messageSizeBytes(m);
      this.boundQueue(peer);
      this.scheduleFlush(peer);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = null;
    const peers = [...this.peers.values()];
    this.peers.clear();
    await Promise.all(peers.map((p) => p.inFlight));
    await Promise.all(peers.map((p) => p.pool.close()));
  }

  // ---------------------------------------------------------------- sending

  private boundQueue(peer: Peer): void {
    const o = this.opts;
    while (peer.queue.length > o.maxQueuedMessagesPerPeer || peer.queuedBytes > o.maxQueuedBytesPerPeer) {
      // Drop the oldest message that is not a snapshot chunk: the core sends one chunk at a time and
      // waits for its answer, so losing it stalls the transfer until the next heartbeat.
      let i = peer.queue.findIndex((m) => m.type !== "snapshot");
      if (i < 0) i = 0;
      const [dropped] = peer.queue.splice(i, 1);
      peer.queuedBytes -= messageSizeBytes(dropped!);
      this.droppedMessages++;
    }
  }

  private scheduleFlush(peer: Peer): void {
    if (peer.flushScheduled || peer.inFlight) return;
    peer.flushScheduled = true;
    // setImmediate, not a microtask: everything queued in this turn (and by I/O callbacks in the same
    // poll phase) joins the one request.
    setImmediate(() => {
      peer.flushScheduled = false;
      this.flush(peer);
    });
  }

  private flush(peer: Peer): void {
    if (this.closed || peer.inFlight || peer.queue.length === 0) return;
    let n = 0;
    let bytes = 0;
    while (n < peer.queue.length) {
      const size = messageSizeBytes(peer.queue[n]!);
      if (n > 0 && bytes + size > this.opts.maxRequestBytes) break;
      bytes += size;
      n++;
    }
    const batch = peer.queue.splice(0, n);
    peer.queuedBytes -= bytes;
    peer.inFlight = this.post(peer, batch).finally(() => {
      peer.inFlight = null;
      if (peer.queue.length > 0) this.flush(peer);
    });
  }

  private async post(peer: Peer, batch: Message[]): Promise<void> {
    try {
      const res = await peer.pool.request({
        path: RAFT_MESSAGES_PATH,
        method: "POST",
        headers: { "content-type": "application/octet-stream", [SECRET_HEADER]: this.opts.secret },
        body: encodeMessages(batch),
      });
      await res.body.dump();
      if (res.statusCode >= 300) this.logSendError(peer, `HTTP ${res.statusCode}`);
    } catch (err) {
      // Raft retries by itself (heartbeats, probes): a lost batch costs nothing but time.
      this.logSendError(peer, (err as Error).message);
    }
  }

  private logSendError(peer: Peer, error: string): void {
    const now = performance.now();
    if (now - peer.lastErrorLogMs < this.opts.errorLogIntervalMs) {
      peer.suppressedErrors++;
      return;
    }
    this.log.debug({ peer: peer.id, error, suppressed: peer.suppressedErrors }, "raft send failed");
    peer.lastErrorLogMs = now;
    peer.suppressedErrors = 0;
  }

  // ---------------------------------------------------------------- receiving

  private register(app: FastifyInstance): void {
    const bodyLimit = this.opts.bodyLimitBytes;
    // An encapsulated plugin: the octet-stream parser stays local to this route.
    void app.register(async (scope) => {
      if (scope.hasContentTypeParser("application/octet-stream")) {
        scope.removeContentTypeParser("application/octet-stream");
      }
      scope.addContentTypeParser(
        "application/octet-stream",
        { parseAs: "buffer", bodyLimit },
        (_req, body, done) => done(null, body),
      );
      scope.post(
        RAFT_MESSAGES_PATH,
        // onRequest runs before the body is read: an unauthenticated peer costs no parsing.
        { bodyLimit, onRequest: (req, reply) => this.authenticate(req, reply) },
        (req, reply) => this.receive(req, reply),
      );
    });
  }

  private async authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    const given = req.headers[SECRET_HEADER];
    if (typeof given === "string" && timingSafeEqual(digest(given), this.secretDigest)) return;
    await reply.code(401).send({ code: "UNAUTHORIZED", message: "bad or missing cluster secret" });
  }

  private async receive(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (this.closed || !this.handler) {
      await reply.code(503).send({ code: "UNAVAILABLE", message: "raft transport is closed" });
      return;
    }
    if (!(req.body instanceof Uint8Array)) {
      await reply.code(415).send({ code: "BAD_REQUEST", message: "expected application/octet-stream" });
      return;
    }
    let msgs: Message[];
    try {
      msgs = decodeMessages(req.body);
    } catch (err) {
      this.log.warn({ error: (err as Error).message }, "rejected a malformed raft batch");
      await reply.code(400).send({ code: "BAD_REQUEST", message: (err as Error).message });
      return;
    }
    const keep = this.filter;
    if (keep) {
      const before = msgs.length;
      msgs = msgs.filter(keep);
      this.droppedMessages += before - msgs.length;
    }
    if (msgs.length > 0) this.handler(msgs);
    await reply.code(204).send();
  }
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
