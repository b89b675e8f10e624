/**
 * The snapshot stream between two shells, as two small deterministic state machines (no I/O, no
 * clock: ticks come in, messages go out), so that the driver and the simulator run the same protocol.
 *
 * Why a protocol of its own beside the core: the core sees snapshots as metadata only (see
 * core/types.ts, Snapshot). The leader's shell reads the state machine's snapshot as a stream of
 * chunks and sends them numbered (`seq`) on one stream (`stream`, random per attempt); the follower's
 * shell feeds them, in order, into the machine's `installSnapshot`, which writes them aside.
 *
 * - Flow control: at most `windowChunks` chunks are unacknowledged, and the receiver acknowledges a
 *   chunk only once the machine has consumed it, so neither side ever holds more than a window.
 * - Loss, duplication, reordering: the receiver takes only the next `seq` in order and answers every
 *   chunk with the next `seq` it wants (cumulative); the sender resends its whole window when it has
 *   heard no progress for `retransmitTicks` (go-back-N), or at once on the first answer that names a
 *   gap (its next chunk lost on the way), once until the stream moves again. A stream whose first
 *   chunk was lost (a peer connection that broke as the stream began) is a gap too: its later chunks
 *   are answered "send from 0", not refused.
 * - Integrity: the last chunk carries the crc32 of the whole stream; a mismatch fails the install
 *   (the machine never switches to it).
 * - A broken stream restarts cleanly: a sender with no progress for `abandonTicks` gives up (its core
 *   asks again on the next heartbeat answer, and a new stream starts from its first chunk); a receiver
 *   drops a stream when a new one begins from a leader of the same or a later term, and refuses
 *   chunks of a stream it does not know (the sender then gives up at once). Resuming mid-stream is
 *   not attempted: a new leader's state differs from the old one's, and the same leader's machine has
 *   moved on, so the bytes after the break would not continue the bytes before it.
 */
import { crc32 } from "node:zlib";
import { assert } from "../common/assert.js";
import type { Message, NodeId, SnapshotMeta } from "./core/index.js";

type ChunkMsg = Extract<Message, { type: "snapshot-chunk" }>;
type RespMsg = Extract<Message, { type: "snapshot-resp" }>;

export interface StreamLimits {
  windowChunks: number;
  retransmitTicks: number;
  abandonTicks: number;
}

/**
 * 16 chunks in flight (16 MiB at the default 1 MiB): a window of 4 capped the stream at 4 MiB per round
 * trip, and a round trip on a loaded machine is tens of ms per hop. TCP does not lose chunks, so a quiet
 * receiver is a slow one (a LevelDB open or write stall): go-back-N after 1 s of silence (not 150 ms,
 * which resent the window over and over), and giving up only after 10 s (at the default 50 ms tick).
 */
export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  windowChunks: 16,
  retransmitTicks: 20,
  abandonTicks: 200,
};

export type SenderEvent = "progress" | "done" | "failed" | "resend" | "ignored";

export class SnapshotSender {
  private readonly unacked: ChunkMsg[] = [];
  private nextSeq = 0;
  private crc = 0;
  private sourceDone = false;
  private idleTicks = 0;
  /** The window went out again since the stream last moved: further answers naming the same gap wait. */
  private resentSinceProgress = false;
  /** Set once the stream ended either way; nothing more is sent. */
  state: "open" | "done" | "failed" = "open";

  constructor(
    readonly from: NodeId,
    readonly to: NodeId,
    readonly term: number,
    readonly meta: SnapshotMeta,
    readonly stream: number,
    private readonly limits: StreamLimits = DEFAULT_STREAM_LIMITS,
  ) {}

  /** Room in the window for another chunk of the source. */
  wantsChunk(): boolean {
    return this.state === "open" && !this.sourceDone && this.unacked.length < this.limits.windowChunks;
  }

  /** The source's next chunk; `last` with the final one (which may be empty). Returns the message to send. */
  push(chunk: Uint8Array, last: boolean): ChunkMsg {
    assert(this.wantsChunk(), "snapshot chunk pushed without room in the window");
    this.crc = crc32(chunk, this.crc);
    const m: ChunkMsg = {
      type: "snapshot-chunk",
      from: this.from,
      to: this.to,
      term: this.term,
      meta: this.meta,
      stream: this.stream,
      seq: this.nextSeq++,
      chunk,
      done: last,
      crc: last ? this.crc : 0,
    };
    this.unacked.push(m);
    if (last) this.sourceDone = true;
    return m;
  }

  onResp(m: RespMsg): SenderEvent {
    if (m.stream !== this.stream || this.state !== "open") return "ignored";
    if (m.reject) {
      this.state = "failed";
      return "failed";
    }
    let progressed = false;
    while (this.unacked.length > 0 && this.unacked[0]!.seq < m.next) {
      this.unacked.shift();
      progressed = true;
    }
    if (!progressed) {
      const first = this.unacked[0];
      // The receiver asks from the start of a stream whose start this sender no longer holds: it lost
      // the stream (a restart, a failed install), and bytes from the middle would not make a state.
      if (m.next === 0 && (first?.seq ?? this.nextSeq) > 0) {
        this.state = "failed";
        return "failed";
      }
      // A gap: the receiver wants the oldest chunk still held, and later ones are already out.
      if (
        first !== undefined &&
        m.next === first.seq &&
        this.nextSeq > first.seq + 1 &&
        !this.resentSinceProgress
      ) {
        this.resentSinceProgress = true;
        return "resend";
      }
      return "ignored";
    }
    this.idleTicks = 0;
    this.resentSinceProgress = false;
    if (this.sourceDone && this.unacked.length === 0) {
      this.state = "done";
      return "done";
    }
    return "progress";
  }

  /** One tick: the window to send again (go-back-N), if it has been quiet too long; or gives up. */
  onTick(): ChunkMsg[] {
    if (this.state !== "open") return [];
    // Only the receiver's silence counts: with nothing unacknowledged the stream waits for its own
    // source (a leader's store read on a loaded machine), and giving up then restarted it from its
    // first chunk, over and over (seen: wiped followers never caught up at load ~30).
    if (this.unacked.length === 0) {
      this.idleTicks = 0;
      return [];
    }
    this.idleTicks++;
    if (this.idleTicks >= this.limits.abandonTicks) {
      this.state = "failed";
      return [];
    }
    if (this.idleTicks % this.limits.retransmitTicks !== 0) return [];
    this.resentSinceProgress = true;
    return this.window();
  }

  /** Every chunk sent and not yet acknowledged, oldest first (to send again). */
  window(): ChunkMsg[] {
    return this.unacked.slice();
  }

  fail(): void {
    if (this.state === "open") this.state = "failed";
  }
}

export interface IncomingStream {
  from: NodeId;
  term: number;
  meta: SnapshotMeta;
  stream: number;
}

/** What the receiver's owner does with one incoming chunk. */
export interface ReceiveOutcome {
  /** A stream that was under way and is now dropped: abort its install. */
  dropped: IncomingStream | null;
  /** A new stream begins with this chunk: start an install. */
  started: IncomingStream | null;
  /** The next chunk in order, for the install. */
  chunk: Uint8Array | null;
  /** The stream is complete and its checksum holds: the install may switch. */
  complete: boolean;
  /** The checksum failed: abort the install. */
  corrupt: boolean;
  /** An answer to send now (duplicates and gaps are answered at once; taken chunks once consumed). */
  reply: RespMsg | null;
}

export class SnapshotReceiver {
  private cur: (IncomingStream & { received: number; consumed: number; crc: number }) | null = null;

  constructor(readonly self: NodeId) {}

  get current(): IncomingStream | null {
    return this.cur;
  }

  /**
   * One chunk from the network. `term` is this node's current term: chunks of older terms are
   * refused. `accept(meta)` says whether a new stream is wanted at all (its index is above the state
   * the machine already holds).
   */
  onChunk(m: ChunkMsg, term: number, accept: (meta: SnapshotMeta) => boolean): ReceiveOutcome {
    const out: ReceiveOutcome = {
      dropped: null,
      started: null,
      chunk: null,
      complete: false,
      corrupt: false,
      reply: null,
    };
    let cur = this.cur;
    if (cur === null || cur.stream !== m.stream || cur.from !== m.from) {
      const newer = cur === null || m.term >= cur.term;
      if (m.term < term || !newer || !accept(m.meta)) {
        out.reply = this.resp(m, m.stream, 0, true);
        return out;
      }
      if (m.seq !== 0) {
        // A wanted stream whose first chunk has not come (lost with a broken connection): ask for it
        // rather than refuse, which made the leader give the stream up and read its store again.
        out.reply = this.resp(m, m.stream, 0, false);
        return out;
      }
      out.dropped = cur;
      cur = this.cur = {
        from: m.from,
        term: m.term,
        meta: m.meta,
        stream: m.stream,
        received: 0,
        consumed: 0,
        crc: 0,
      };
      out.started = cur;
    }
    if (m.seq !== cur.received) {
      // A duplicate or a gap: say where we stand (the sender resends from there after a quiet spell).
      out.reply = this.resp(m, cur.stream, cur.consumed, false);
      return out;
    }
    cur.received++;
    cur.crc = crc32(m.chunk, cur.crc);
    out.chunk = m.chunk;
    if (m.done) {
      if (cur.crc === m.crc) out.complete = true;
      else {
        out.corrupt = true;
        out.reply = this.resp(m, cur.stream, cur.consumed, true);
      }
      this.cur = null;
    }
    return out;
  }

  /** The install consumed chunk `seq` of `stream`: the answer that opens the window again. */
  consumed(to: NodeId, term: number, stream: number, next: number): RespMsg {
    if (this.cur?.stream === stream) this.cur.consumed = Math.max(this.cur.consumed, next);
    return { type: "snapshot-resp", from: this.self, to, term, stream, next, reject: false };
  }

  /** Forgets the stream under way (a crash of the install, a stop). */
  drop(): IncomingStream | null {
    const c = this.cur;
    this.cur = null;
    return c;
  }

  private resp(m: ChunkMsg, stream: number, next: number, reject: boolean): RespMsg {
    return { type: "snapshot-resp", from: this.self, to: m.from, term: m.term, stream, next, reject };
  }
}
