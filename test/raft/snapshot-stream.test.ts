/**
 * The snapshot stream's sender on its own: when it retransmits and when it gives up; then sender and
 * receiver over a lossy in-order link. The simulator (test/sim/snapshot-stream.property.test.ts)
 * checks whole streams under faults.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { Message, SnapshotMeta } from "../../src/raft/core/index.js";
import { SnapshotReceiver, SnapshotSender } from "../../src/raft/snapshot-stream.js";

const META: SnapshotMeta = { index: 10, term: 2, conf: { voters: [1, 2], learners: [], joining: [] } };

function sender(limits: { windowChunks: number; retransmitTicks: number; abandonTicks: number }) {
  return new SnapshotSender(1, 2, 2, META, 7, limits);
}

describe("snapshot sender", () => {
  test("a sender waiting for its own source (nothing unacknowledged) neither resends nor gives up", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 500 }),
        fc.integer({ min: 1, max: 20 }),
        fc.integer({ min: 1, max: 20 }),
        (waitTicks, retransmitTicks, abandonTicks) => {
          const s = sender({ windowChunks: 2, retransmitTicks, abandonTicks });
          for (let t = 0; t < waitTicks; t++) expect(s.onTick()).toEqual([]);
          expect(s.state).toBe("open");
          // Then the source yields a chunk and the receiver stays silent: it gives up after abandonTicks.
          const m = s.push(new Uint8Array([1, 2, 3]), false);
          let resent = 0;
          for (let t = 1; t < abandonTicks; t++) resent += s.onTick().length;
          expect(s.state).toBe("open");
          expect(resent).toBe(Math.floor((abandonTicks - 1) / retransmitTicks));
          expect(s.onTick()).toEqual([]);
          expect(s.state).toBe("failed");
          expect(m.seq).toBe(0);
        },
      ),
    );
  });

  test("an acknowledgement resets the silence, and the next chunk's wait starts from zero", () => {
    const s = sender({ windowChunks: 1, retransmitTicks: 100, abandonTicks: 3 });
    s.push(new Uint8Array([1]), false);
    s.onTick();
    s.onTick();
    expect(
      s.onResp({ type: "snapshot-resp", from: 2, to: 1, term: 2, stream: 7, next: 1, reject: false }),
    ).toBe("progress");
    // The source is slow now: many ticks with an empty window.
    for (let t = 0; t < 50; t++) s.onTick();
    s.push(new Uint8Array([2]), true);
    s.onTick();
    s.onTick();
    expect(s.state).toBe("open");
    s.onTick();
    expect(s.state).toBe("failed");
  });
});

/**
 * A sender and a receiver over one in-order link (a TCP connection) that loses the messages `lost`
 * says, as a peer connection does when it breaks and reconnects: everything sent is delivered in
 * order or lost, never reordered. The receiver's machine takes each chunk as it arrives.
 */
function runOverLossyLink(chunkCount: number, lost: ReadonlySet<number>, windowChunks: number) {
  const s = sender({ windowChunks, retransmitTicks: 3, abandonTicks: 60 });
  const r = new SnapshotReceiver(2);
  const link: Message[] = [];
  let sent = 0;
  const put = (m: Message) => {
    if (!lost.has(sent++)) link.push(m);
  };
  const chunks = Array.from({ length: chunkCount }, (_, i) => new Uint8Array([i, i + 1]));
  let pushed = 0;
  const installed: number[] = [];
  let complete = false;
  let refusals = 0;
  let ticks = 0;
  /** Which message the receiver's last acknowledgement was (lost or not). */
  let lastAckAt = -1;
  // Bounded: a few windows' resends per chunk at most, whatever the losses.
  for (let step = 0; step < 10_000 && s.state === "open"; step++) {
    while (s.wantsChunk() && pushed < chunkCount) {
      put(s.push(chunks[pushed]!, pushed === chunkCount - 1));
      pushed++;
    }
    const m = link.shift();
    if (m === undefined) {
      ticks++;
      for (const again of s.onTick()) put(again);
      continue;
    }
    if (m.type === "snapshot-chunk") {
      // As the shell's: once the machine holds the stream's state, a new stream of it is not wanted.
      const out = r.onChunk(m, 2, () => !complete);
      if (out.reply) {
        if (out.reply.reject) refusals++;
        put(out.reply);
      }
      if (out.chunk) {
        installed.push(out.chunk[0]!);
        if (out.complete) lastAckAt = sent;
        put(r.consumed(1, m.term, m.stream, m.seq + 1));
      }
      if (out.complete) complete = true;
    } else if (m.type === "snapshot-resp") {
      if (s.onResp(m) === "resend") for (const again of s.window()) put(again);
    }
  }
  return { state: s.state, installed, complete, refusals, ticks, lastAckAt };
}

describe("snapshot stream over a connection that loses messages", () => {
  test("a lost first chunk is asked for again, not refused: the stream still delivers (seen: a new follower's first stream refused ~1 s in)", () => {
    const r = runOverLossyLink(6, new Set([0]), 4);
    expect(r.refusals).toBe(0);
    expect(r.state).toBe("done");
    expect(r.complete).toBe(true);
    expect(r.installed).toEqual([0, 1, 2, 3, 4, 5]);
    // Sent again on the receiver's first answer naming the gap, not after a quiet spell.
    expect(r.ticks).toBe(0);
  });

  test("whatever messages are lost, the receiver takes every chunk once, in order (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.uniqueArray(fc.nat({ max: 40 }), { maxLength: 8 }),
        (chunkCount, windowChunks, lost) => {
          const r = runOverLossyLink(chunkCount, new Set(lost), windowChunks);
          // Losses end (the set is finite), so the go-back-N resends get through before the sender
          // gives up: the stream always completes at the receiver. The sender may still fail after
          // that, when the last acknowledgement was lost (the receiver no longer knows the stream).
          expect(r.complete).toBe(true);
          if (r.state !== "done") expect(lost).toContain(r.lastAckAt);
          expect(r.installed).toEqual(Array.from({ length: chunkCount }, (_, i) => i));
        },
      ),
    );
  });

  test("a receiver that lost the stream midway (a restart) makes the sender give up at once, not after a quiet spell", () => {
    const s = sender({ windowChunks: 4, retransmitTicks: 3, abandonTicks: 60 });
    const first = new SnapshotReceiver(2);
    const msgs = [0, 1, 2, 3].map((i) => s.push(new Uint8Array([i]), false));
    for (const m of msgs.slice(0, 2)) {
      first.onChunk(m, 2, () => true);
      expect(s.onResp(first.consumed(1, 2, 7, m.seq + 1))).toBe("progress");
    }
    // The follower restarted: a new receiver sees chunk 2 of a stream it never began.
    const restarted = new SnapshotReceiver(2);
    const out = restarted.onChunk(msgs[2]!, 2, () => true);
    expect(out.chunk).toBeNull();
    expect(s.onResp(out.reply!)).toBe("failed");
  });
});
