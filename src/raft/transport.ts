/**
 * How Raft messages travel between replicas. `Transport` is the seam: the HTTP one below runs in
 * production, simulators and fault-injecting tests supply their own.
 *
 * HttpTransport: each replica keeps one long-lived stream to each peer, opened as an HTTP/1.1 upgrade
 * (`GET /raft/stream`, `Upgrade: raftfs-raft/1`) on the peer's API listener and authenticated by the
 * cluster secret in that request, before any byte of a message is read. After the 101 the connection
 * carries length-prefixed msgpack batches one way, from the opener to the listener; answers come back on
 * the peer's own stream. Why not a request per batch: on these machines an HTTP exchange costs ~100 µs
 * of CPU on each side (parsing, routing, headers), a frame on an open stream ~20 µs, and a Raft commit
 * needs one message each way per follower. etcd's peer transport streams for the same reason.
 *
 * Per peer, messages queued in one event-loop turn leave as one frame; the peer sees them in order.
 * Queues are bounded; Raft tolerates loss, so overflow drops the oldest messages, and a broken stream
 * loses what was in it (Raft resends). A stream whose peer stops reading (a paused process) is cut once
 * its unsent bytes pass the queue bound, so a stuck peer never holds unbounded memory.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Client } from "undici";
import { type Logger, SILENT_LOGGER } from "../common/log.js";
import { decodeMessages, encodeMessages, messageSizeBytes } from "./codec.js";
import type { Message, NodeId } from "./core/index.js";
import { FrameReader, frame } from "./frames.js";

export interface Transport {
  /** Queues messages for their recipients; never throws, never blocks. */
  send(msgs: Message[]): void;
  /**
   * Writes what is queued now instead of at the end of the event-loop turn (a caller that knows no
   * more messages come in this turn, and whose peer waits on them); never throws.
   */
  flush?(): void;
  /** The one receiver of incoming batches. */
  onMessages(handler: (msgs: Message[]) => void): void;
  close(): Promise<void>;
}

export const RAFT_STREAM_PATH = "/raft/stream";
export const RAFT_STREAM_PROTOCOL = "raftfs-raft/1";
export const SECRET_HEADER = "x-raftfs-secret";

export interface HttpTransportOptions {
  secret: string;
  peers?: { id: NodeId; url: string }[];
  /** Largest frame accepted. */
  maxFrameBytes?: number;
  /** A frame carries at most this much (at least one message), to stay well below the peer's limit. */
  maxBatchBytes?: number;
  maxQueuedMessagesPerPeer?: number;
  /** Also bounds the bytes written to a stream and not yet taken by the kernel. */
  maxQueuedBytesPerPeer?: number;
  /** Bounds each step of opening a stream: the TCP (and TLS) connect, then the upgrade's answer. */
  connectTimeoutMs?: number;
  /** After a failed connect or a broken stream, the next attempt waits this long. */
  reconnectDelayMs?: number;
  /** Send errors to one peer are logged at most once per this interval. */
  errorLogIntervalMs?: number;
  /** PEM certificate(s) trusted for https peers (a self-signed cluster cert); default: the system's CAs. */
  tlsCa?: string | Buffer;
}

type Tuning = Required<Omit<HttpTransportOptions, "peers" | "tlsCa" | "secret">>;

const DEFAULTS: Tuning = {
  maxFrameBytes: 64 * 1024 * 1024,
  maxBatchBytes: 16 * 1024 * 1024,
  maxQueuedMessagesPerPeer: 10_000,
  maxQueuedBytesPerPeer: 64 * 1024 * 1024,
  connectTimeoutMs: 2_000,
  reconnectDelayMs: 100,
  errorLogIntervalMs: 5_000,
};

export interface HttpTransportDeps {
  /** The server whose listener accepts the streams; its owner listens and closes it. */
  app: FastifyInstance;
  log?: Logger;
}

interface Peer {
  id: NodeId;
  url: string;
  client: Client;
  queue: Message[];
  queuedBytes: number;
  stream: Duplex | null;
  connecting: boolean;
  /** No connection attempt before this time (performance.now()). */
  retryAt: number;
  retryTimer: NodeJS.Timeout | null;
  flushScheduled: boolean;
  lastErrorLogMs: number;
  suppressedErrors: number;
}

export class HttpTransport implements Transport {
  private readonly opts: Tuning;
  private readonly secret: string;
  private readonly tlsCa: string | Buffer | undefined;
  private readonly log: Logger;
  private readonly peers = new Map<NodeId, Peer>();
  private readonly inbound = new Set<Duplex>();
  private readonly secretDigest: Buffer;
  private handler: ((msgs: Message[]) => void) | null = null;
  private filter: ((m: Message) => boolean) | null = null;
  private closed = false;
  /** Messages dropped on overflow, to unknown peers, on broken streams, or by the test filter. */
  droppedMessages = 0;

  constructor(opts: HttpTransportOptions, deps: HttpTransportDeps) {
    const { secret, peers, tlsCa, ...tuning } = opts;
    this.opts = { ...DEFAULTS, ...stripUndefined(tuning) };
    this.secret = secret;
    this.tlsCa = tlsCa;
    this.log = deps.log ?? SILENT_LOGGER;
    this.secretDigest = digest(secret);
    for (const p of peers ?? []) this.setPeer(p.id, p.url);
    this.register(deps.app);
  }

  /** Adds a peer or changes its address (membership changes, tests that learn ports late). */
  setPeer(id: NodeId, url: string): void {
    const old = this.peers.get(id);
    if (old?.url === url) return;
    if (old) this.disconnect(old);
    const client = new Client(url, {
      connectTimeout: this.opts.connectTimeoutMs,
      // The upgrade's answer is bounded too (undici's default is 300 s): one stream opens per peer at
      // a time, so an answer that never comes (a reset lost on the way) silenced the peer (issue 18).
      headersTimeout: this.opts.connectTimeoutMs,
      ...(this.tlsCa !== undefined ? { connect: { ca: this.tlsCa } } : {}),
    });
    const peer: Peer = old ?? {
      id,
      url,
      client,
      queue: [],
      queuedBytes: 0,
      stream: null,
      connecting: false,
      retryAt: 0,
      retryTimer: null,
      flushScheduled: false,
      lastErrorLogMs: Number.NEGATIVE_INFINITY,
      suppressedErrors: 0,
    };
    peer.url = url;
    peer.client = client;
    peer.retryAt = 0;
    this.peers.set(id, peer);
  }

  removePeer(id: NodeId): void {
    const peer = this.peers.get(id);
    if (!peer) return;
    this.peers.delete(id);
    this.disconnect(peer);
  }

  /** The kinds of the messages waiting for peer `id`, oldest first (for tests and debugging). */
  queuedTypes(id: NodeId): Message["type"][] {
    return this.peers.get(id)?.queue.map((m) => m.type) ?? [];
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

  flush(): void {
    for (const peer of this.peers.values()) if (peer.queue.length > 0) this.flushPeer(peer);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.handler = null;
    const peers = [...this.peers.values()];
    this.peers.clear();
    for (const p of peers) this.disconnect(p);
    for (const s of this.inbound) s.destroy();
    this.inbound.clear();
    await Promise.all(peers.map((p) => p.client.close().catch(() => {})));
  }

  // ---------------------------------------------------------------- sending

  private boundQueue(peer: Peer): void {
    const o = this.opts;
    while (peer.queue.length > o.maxQueuedMessagesPerPeer || peer.queuedBytes > o.maxQueuedBytesPerPeer) {
      // Drop the oldest message that is not a snapshot chunk: a lost chunk stalls the stream until its
      // resend timeout (go-back-N, snapshot-stream.ts), while a lost append or heartbeat is replaced by
      // the next one within a tick.
      let i = peer.queue.findIndex((m) => m.type !== "snapshot-chunk");
      if (i < 0) i = 0;
      const [dropped] = peer.queue.splice(i, 1);
      peer.queuedBytes -= messageSizeBytes(dropped!);
      this.droppedMessages++;
    }
  }

  private scheduleFlush(peer: Peer): void {
    if (peer.flushScheduled) return;
    peer.flushScheduled = true;
    // setImmediate, not a microtask: everything queued in this turn (and by I/O callbacks in the same
    // poll phase) joins the one frame.
    setImmediate(() => {
      peer.flushScheduled = false;
      this.flushPeer(peer);
    });
  }

  private flushPeer(peer: Peer): void {
    if (this.closed || peer.queue.length === 0 || this.peers.get(peer.id) !== peer) return;
    const stream = peer.stream;
    if (!stream) {
      this.connect(peer);
      return;
    }
    const o = this.opts;
    if (stream.writableLength > o.maxQueuedBytesPerPeer) {
      // The peer stopped reading: cut the stream rather than buffer without end.
      this.logSendError(peer, "peer is not reading its stream");
      stream.destroy();
      return;
    }
    stream.cork();
    while (peer.queue.length > 0) {
      // Usually everything fits one frame; only a large queue is measured message by message.
      let n = peer.queue.length;
      let bytes = peer.queuedBytes;
      if (bytes > o.maxBatchBytes) {
        n = 0;
        bytes = 0;
        while (n < peer.queue.length) {
          const size = messageSizeBytes(peer.queue[n]!);
          if (n > 0 && bytes + size > o.maxBatchBytes) break;
          bytes += size;
          n++;
        }
      }
      const batch = peer.queue.splice(0, n);
      peer.queuedBytes -= bytes;
      for (const part of frame(encodeMessages(batch))) stream.write(part);
    }
    stream.uncork();
  }

  private connect(peer: Peer): void {
    if (peer.connecting || this.closed) return;
    const wait = peer.retryAt - performance.now();
    if (wait > 0) {
      peer.retryTimer ??= setTimeout(() => {
        peer.retryTimer = null;
        this.flushPeer(peer);
      }, wait);
      return;
    }
    peer.connecting = true;
    const client = peer.client;
    client
      .upgrade({
        path: RAFT_STREAM_PATH,
        method: "GET",
        protocol: RAFT_STREAM_PROTOCOL,
        headers: { [SECRET_HEADER]: this.secret },
      })
      .then(({ socket }) => {
        peer.connecting = false;
        if (this.closed || peer.client !== client || this.peers.get(peer.id) !== peer) {
          socket.destroy();
          return;
        }
        this.attach(peer, socket);
        this.flushPeer(peer);
      })
      .catch((err: Error) => {
        peer.connecting = false;
        this.broken(peer, err.message);
      });
  }

  private attach(peer: Peer, socket: Duplex): void {
    peer.stream = socket;
    setNoDelay(socket);
    // Nothing comes back on this stream; reading keeps the socket's end and errors flowing.
    socket.on("data", () => {});
    socket.on("error", (err) => this.logSendError(peer, err.message));
    socket.on("close", () => {
      if (peer.stream !== socket) return;
      peer.stream = null;
      this.broken(peer, "stream closed");
    });
  }

  /** A failed connect or a closed stream: drop what waited (Raft resends) and retry after a pause. */
  private broken(peer: Peer, error: string): void {
    this.logSendError(peer, error);
    this.droppedMessages += peer.queue.length;
    peer.queue = [];
    peer.queuedBytes = 0;
    peer.retryAt = performance.now() + this.opts.reconnectDelayMs;
  }

  private disconnect(peer: Peer): void {
    if (peer.retryTimer) clearTimeout(peer.retryTimer);
    peer.retryTimer = null;
    const stream = peer.stream;
    peer.stream = null;
    stream?.destroy();
    void peer.client.close().catch(() => {});
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
    // Node hands requests that ask for an upgrade to 'upgrade' listeners, not to fastify's router.
    app.server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    );
    // Upgraded sockets are no longer the HTTP server's: without this, closing the server waits on them.
    app.addHook("preClose", async () => {
      for (const s of this.inbound) s.destroy();
      this.inbound.clear();
    });
    // A plain GET (no upgrade) gets an answer that says what is missing.
    app.get(
      RAFT_STREAM_PATH,
      // `config.access` tells a route-authorizing host (the metadata API) that this route is internal.
      { config: { access: "secret" }, onRequest: (req, reply) => this.authenticate(req, reply) },
      async (_req, reply) =>
        reply
          .code(426)
          .header("upgrade", RAFT_STREAM_PROTOCOL)
          .send({
            code: "BAD_REQUEST",
            message: `${RAFT_STREAM_PATH} needs "Upgrade: ${RAFT_STREAM_PROTOCOL}"`,
          }),
    );
  }

  private async authenticate(req: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (this.secretMatches(req.headers[SECRET_HEADER])) return;
    await reply.code(401).send({ code: "UNAUTHORIZED", message: "bad or missing cluster secret" });
  }

  private secretMatches(given: unknown): boolean {
    return typeof given === "string" && timingSafeEqual(digest(given), this.secretDigest);
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => {}); // a peer that vanishes mid-handshake is not our error
    const path = (req.url ?? "").split("?")[0];
    if (path !== RAFT_STREAM_PATH) {
      refuse(socket, 404, "NOT_FOUND", `no upgrade at ${path}`);
      return;
    }
    if (!this.secretMatches(req.headers[SECRET_HEADER])) {
      refuse(socket, 401, "UNAUTHORIZED", "bad or missing cluster secret");
      return;
    }
    if (req.headers.upgrade !== RAFT_STREAM_PROTOCOL) {
      refuse(socket, 400, "BAD_REQUEST", `expected "Upgrade: ${RAFT_STREAM_PROTOCOL}"`);
      return;
    }
    if (this.closed) {
      refuse(socket, 503, "UNAVAILABLE", "raft transport is closed");
      return;
    }
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nconnection: upgrade\r\nupgrade: ${RAFT_STREAM_PROTOCOL}\r\n\r\n`,
    );
    setNoDelay(socket);
    this.inbound.add(socket);
    socket.on("close", () => this.inbound.delete(socket));
    const reader = new FrameReader(this.opts.maxFrameBytes);
    const onData = (chunk: Buffer) => {
      try {
        for (const f of reader.push(chunk)) this.deliver(decodeMessages(f));
      } catch (err) {
        // A peer that speaks garbage loses its stream; everything before the bad frame was delivered.
        this.log.warn({ error: (err as Error).message }, "rejected a malformed raft stream");
        socket.destroy();
      }
    };
    socket.on("data", onData);
    if (head.byteLength > 0) onData(head);
  }

  private deliver(msgs: Message[]): void {
    const keep = this.filter;
    if (keep) {
      const before = msgs.length;
      msgs = msgs.filter(keep);
      this.droppedMessages += before - msgs.length;
    }
    if (msgs.length > 0 && this.handler) this.handler(msgs);
  }
}

function refuse(socket: Duplex, status: number, code: string, message: string): void {
  const body = JSON.stringify({ code, message });
  // Discard whatever the caller sends after its request (a paused socket would never see it leave),
  // and do not wait forever for it to go.
  socket.resume();
  const timer = setTimeout(() => socket.destroy(), 5_000);
  socket.once("close", () => clearTimeout(timer));
  socket.end(
    `HTTP/1.1 ${status} ${code}\r\nconnection: close\r\ncontent-type: application/json\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

function setNoDelay(socket: Duplex): void {
  // Both net.Socket and tls.TLSSocket have it; frames are already batched per turn.
  (socket as Duplex & { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true);
}

function digest(s: string): Buffer {
  return createHash("sha256").update(s).digest();
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
