/**
 * The driver's half of the snapshot stream (protocol: snapshot-stream.ts): pumps a state machine's
 * `openSnapshot()` chunks to a follower within the window, and feeds a leader's chunks, as they are
 * acknowledged, into the local machine's `installSnapshot`. Neither side ever holds more than a
 * window of chunks: the sender pulls the next chunk from the source only when the window has room,
 * and the receiver acknowledges a chunk only once the machine has taken it.
 */
import { randomInt } from "node:crypto";
import { assert } from "../common/assert.js";
import type { Logger } from "../common/log.js";
import type { Message, NodeId, SnapshotMeta } from "./core/index.js";
import {
  type IncomingStream,
  SnapshotReceiver,
  SnapshotSender,
  type StreamLimits,
} from "./snapshot-stream.js";

/** A consistent point-in-time view of a state machine, read as a stream (see StateMachine). */
export interface SnapshotSource {
  readonly index: number;
  /** Each chunk at most about 1 MiB; never the whole state in one buffer. */
  chunks(): AsyncIterable<Uint8Array>;
  /** Releases the store snapshot / iterator. */
  close(): void;
}

export interface SnapshotShellDeps {
  id: NodeId;
  log: Logger;
  limits: StreamLimits;
  /** Chunks from the source are cut to at most this many bytes on the wire. */
  chunkBytes: number;
  send(msgs: Message[]): void;
  currentTerm(): number;
  /** Whether a new incoming stream of `meta` is wanted (above what the machine holds, no install running). */
  accepts(meta: SnapshotMeta): boolean;
  /** Runs the machine's install on the stream's chunks. */
  install(index: number, chunks: AsyncIterable<Uint8Array>): Promise<void>;
  /** The install switched the machine to the stream's state. */
  onInstalled(s: IncomingStream): void;
  /** The install failed or was dropped: the machine still holds its earlier state. */
  onInstallFailed(s: IncomingStream, err: unknown): void;
}

class Outgoing {
  wake: (() => void) | null = null;
  constructor(
    readonly sender: SnapshotSender,
    readonly source: SnapshotSource,
  ) {}
  kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

/** The chunks of one incoming stream on their way into the machine: a queue bounded by the window. */
class Incoming {
  readonly queue: Uint8Array[] = [];
  ended = false;
  error: unknown = null;
  private wake: (() => void) | null = null;
  constructor(readonly stream: IncomingStream) {}
  push(c: Uint8Array): void {
    this.queue.push(c);
    this.kick();
  }
  end(): void {
    this.ended = true;
    this.kick();
  }
  fail(err: unknown): void {
    if (this.error === null) this.error = err;
    this.kick();
  }
  waitForMore(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }
  private kick(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}

export class SnapshotShell {
  private readonly outgoing = new Map<NodeId, Outgoing>();
  /**
   * Followers whose stream ended acknowledged in full, with the ticks left before another may start.
   * The follower answers the core only once its install has switched (a sync, renames, an open: up to
   * seconds for a large state), and the core asks for a stream on every heartbeat answer meanwhile; a
   * new stream then read and sent up to a window of the store again, to a follower that refuses it, or
   * installed the whole state a second time when writes had moved the leader's store past the first.
   */
  private readonly delivered = new Map<NodeId, number>();
  private readonly receiver: SnapshotReceiver;
  private incoming: Incoming | null = null;
  /** Installs run one after another: a replaced one must have failed before the next one starts. */
  private installChain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: SnapshotShellDeps) {
    this.receiver = new SnapshotReceiver(deps.id);
  }

  /** A stream to `to` runs, or ended delivered and its follower's answer may still be on the way. */
  isSending(to: NodeId): boolean {
    return this.outgoing.has(to) || this.delivered.has(to);
  }

  get installing(): boolean {
    return this.incoming !== null;
  }

  /** Starts streaming `source` (the machine's state at `meta.index`) to `to`. */
  startSending(to: NodeId, term: number, meta: SnapshotMeta, source: SnapshotSource): void {
    assert(!this.isSending(to), "one snapshot stream to a follower at a time");
    const sender = new SnapshotSender(this.deps.id, to, term, meta, randomInt(2 ** 31), this.deps.limits);
    const o = new Outgoing(sender, source);
    this.outgoing.set(to, o);
    this.deps.log.info({ to, index: meta.index }, "raft snapshot stream started");
    void this.pump(to, o);
  }

  private async pump(to: NodeId, o: Outgoing): Promise<void> {
    const { sender } = o;
    const max = this.deps.chunkBytes;
    try {
      let held: Uint8Array | null = null;
      const pushOne = async (c: Uint8Array, last: boolean) => {
        while (!sender.wantsChunk()) {
          if (sender.state !== "open") return false;
          await new Promise<void>((resolve) => {
            o.wake = resolve;
          });
        }
        this.deps.send([sender.push(c, last)]);
        return true;
      };
      for await (const chunk of o.source.chunks()) {
        for (let at = 0; at < chunk.byteLength; at += max) {
          // One chunk held back, so that the last one can say so.
          if (held !== null && !(await pushOne(held, false))) return;
          held = chunk.subarray(at, at + max);
        }
        if (sender.state !== "open") return;
      }
      await pushOne(held ?? new Uint8Array(), true);
      while (sender.state === "open") {
        await new Promise<void>((resolve) => {
          o.wake = resolve;
        });
      }
    } catch (err) {
      sender.fail();
      this.deps.log.warn({ err, to }, "raft snapshot source failed");
    } finally {
      o.source.close();
      if (this.outgoing.get(to) === o) {
        this.outgoing.delete(to);
        if (sender.state === "done") this.delivered.set(to, this.deps.limits.abandonTicks);
      }
      this.deps.log.info(
        { to, index: sender.meta.index, outcome: sender.state },
        "raft snapshot stream ended",
      );
    }
  }

  onResp(m: Extract<Message, { type: "snapshot-resp" }>): void {
    const o = this.outgoing.get(m.from);
    if (!o) return;
    const ev = o.sender.onResp(m);
    if (ev === "resend") this.deps.send(o.sender.window());
    else if (ev !== "ignored") o.kick();
  }

  onChunk(m: Extract<Message, { type: "snapshot-chunk" }>): void {
    const out = this.receiver.onChunk(m, this.deps.currentTerm(), (meta) => this.wants(meta));
    if (out.reply) this.deps.send([out.reply]);
    if (out.dropped && this.incoming?.stream.stream === out.dropped.stream) {
      this.incoming.fail(new Error("snapshot stream replaced by a newer one"));
    }
    if (out.started) this.startInstall(out.started);
    const inc = this.incoming;
    if (!inc || inc.stream.stream !== m.stream) return;
    if (out.chunk) inc.push(out.chunk);
    if (out.complete) inc.end();
    if (out.corrupt) inc.fail(new Error("snapshot stream fails its checksum"));
  }

  /**
   * A new stream is wanted only above the state the machine holds, and not while an install that has
   * its whole stream already runs: a leader that asks again before this follower's answer to a
   * finished stream reached it would otherwise stream the state a second time, installed once more
   * after the first (a later index when writes moved the leader's store on; the same one fails, "not
   * above the machine's"). Once the install switched, the log carries the follower on from there. An
   * install still waiting for chunks is replaced, even by the same state: a leader streams to a
   * follower one stream at a time, so its new stream means it gave up the old one, whose install
   * would otherwise wait for chunks that never come while refusing every new stream (seen: a wiped
   * follower stuck for minutes, its leader's streams of the same index all refused).
   */
  private wants(meta: SnapshotMeta): boolean {
    return this.incoming?.ended !== true && this.deps.accepts(meta);
  }

  private startInstall(s: IncomingStream): void {
    const inc = new Incoming(s);
    this.incoming = inc;
    const run = this.installChain.then(() => this.deps.install(s.meta.index, this.drain(inc)));
    this.installChain = run.catch(() => undefined);
    // The machine's own outcome decides: once its install resolved it holds the stream's state.
    void run.then(
      () => {
        if (this.incoming === inc) this.incoming = null;
        this.deps.onInstalled(s);
      },
      (err) => {
        if (this.incoming === inc) this.incoming = null;
        // Only this stream: a stream that replaced it is the receiver's now, and forgetting that one
        // would refuse its next chunks while its install waited for them for ever.
        const cur = this.receiver.current;
        if (cur?.stream === s.stream && cur.from === s.from) this.receiver.drop();
        this.deps.log.warn({ err, index: s.meta.index }, "raft snapshot install failed");
        this.deps.onInstallFailed(s, err);
      },
    );
  }

  private async *drain(inc: Incoming): AsyncIterable<Uint8Array> {
    let next = 0;
    for (;;) {
      if (inc.error !== null) throw inc.error;
      const c = inc.queue.shift();
      if (c !== undefined) {
        next++;
        // Acknowledged once the machine takes it: the sender's window is the machine's pace.
        this.deps.send([this.receiver.consumed(inc.stream.from, inc.stream.term, inc.stream.stream, next)]);
        yield c;
        continue;
      }
      if (inc.ended) return;
      await inc.waitForMore();
    }
  }

  tick(): void {
    for (const [to, left] of this.delivered) {
      if (left <= 1) this.delivered.delete(to);
      else this.delivered.set(to, left - 1);
    }
    for (const o of this.outgoing.values()) {
      const again = o.sender.onTick();
      if (again.length > 0) this.deps.send(again);
      if (o.sender.state !== "open") o.kick();
    }
  }

  /** Stops every outgoing stream (leadership lost, shutdown). */
  stopSending(): void {
    this.delivered.clear();
    for (const o of this.outgoing.values()) {
      o.sender.fail();
      o.kick();
    }
  }

  stop(): void {
    this.stopSending();
    this.incoming?.fail(new Error("raft node is stopping"));
    this.receiver.drop();
  }
}

export const SNAPSHOT_SLICE_BYTES = 1024 * 1024;

/**
 * A snapshot source over bytes already encoded (a machine that keeps its state in memory, whose
 * encoding is its point-in-time view): yields them in slices of at most `sliceBytes`.
 */
export function bytesSource(
  index: number,
  bytes: Uint8Array,
  sliceBytes = SNAPSHOT_SLICE_BYTES,
): SnapshotSource {
  return {
    index,
    async *chunks() {
      for (let at = 0; at < bytes.byteLength; at += sliceBytes) yield bytes.subarray(at, at + sliceBytes);
    },
    close() {},
  };
}

/** Joins a stream's chunks, for a machine whose state is one in-memory value anyway. */
export async function collectChunks(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let size = 0;
  for await (const c of chunks) {
    parts.push(c);
    size += c.byteLength;
  }
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}
