/**
 * The snapshot stream shell. A follower refuses a second stream while the install of a whole one
 * still runs, so a state is never installed twice (a leader asks again until the follower's answer to
 * the finished stream reaches it); and a leader starts no second stream to a follower that has just
 * taken a whole one.
 */
import { describe, expect, it } from "vitest";
import { assert } from "../../src/common/assert.js";
import { SILENT_LOGGER } from "../../src/common/log.js";
import type { Message, SnapshotMeta } from "../../src/raft/core/index.js";
import { bytesSource, SnapshotShell } from "../../src/raft/snapshot-shell.js";
import { DEFAULT_STREAM_LIMITS, SnapshotSender } from "../../src/raft/snapshot-stream.js";

const META: SnapshotMeta = { index: 40, term: 2, conf: { voters: [1, 2], learners: [], joining: [] } };

function oneChunkStream(stream: number, meta = META): Extract<Message, { type: "snapshot-chunk" }> {
  const sender = new SnapshotSender(1, 2, 2, meta, stream, DEFAULT_STREAM_LIMITS);
  return sender.push(new Uint8Array([1, 2, 3]), true);
}

/** A follower's shell whose machine holds index 10; installs read their whole stream, then wait for `finish`. */
function follower() {
  const sent: Message[] = [];
  const installs: { index: number; outcome: "running" | "installed" | "failed" }[] = [];
  let finish: () => void = () => undefined;
  const shell = new SnapshotShell({
    id: 2,
    log: SILENT_LOGGER,
    limits: DEFAULT_STREAM_LIMITS,
    chunkBytes: 1024,
    send: (msgs) => sent.push(...msgs),
    currentTerm: () => 2,
    accepts: (meta) => meta.index > 10,
    install: async (index, chunks) => {
      const row = { index, outcome: "running" as "running" | "installed" | "failed" };
      installs.push(row);
      try {
        for await (const _ of chunks);
      } catch (err) {
        row.outcome = "failed";
        throw err;
      }
      await new Promise<void>((resolve) => {
        finish = resolve;
      });
      row.outcome = "installed";
    },
    onInstalled: () => undefined,
    onInstallFailed: () => undefined,
  });
  return { shell, sent, installs, finish: () => finish() };
}

const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

describe("SnapshotShell, receiving", () => {
  it("refuses a second stream of the state it is installing, and installs it once", async () => {
    const sent: Message[] = [];
    const installs: number[] = [];
    let finish: () => void = () => undefined;
    const shell = new SnapshotShell({
      id: 2,
      log: SILENT_LOGGER,
      limits: DEFAULT_STREAM_LIMITS,
      chunkBytes: 1024,
      send: (msgs) => sent.push(...msgs),
      currentTerm: () => 2,
      accepts: (meta) => meta.index > 10, // the machine holds index 10
      install: async (index, chunks) => {
        installs.push(index);
        for await (const _ of chunks);
        await new Promise<void>((resolve) => {
          finish = resolve;
        });
      },
      onInstalled: () => undefined,
      onInstallFailed: () => undefined,
    });
    shell.onChunk(oneChunkStream(7));
    await new Promise((r) => setImmediate(r));
    expect(installs).toEqual([40]);
    // The leader, not yet told, streams the same state again while the install runs.
    sent.length = 0;
    shell.onChunk(oneChunkStream(8));
    await new Promise((r) => setImmediate(r));
    expect(sent).toEqual([expect.objectContaining({ type: "snapshot-resp", stream: 8, reject: true })]);
    finish();
    await new Promise((r) => setImmediate(r));
    expect(installs).toEqual([40]);
  });

  it("takes a new stream of the same state when the one it installs stopped mid-way (its leader gave up)", async () => {
    // Before, the install of the abandoned stream waited for its next chunk for ever, and every new
    // stream of the same index was refused meanwhile: the follower never caught up.
    const f = follower();
    const first = new SnapshotSender(1, 2, 2, META, 7, DEFAULT_STREAM_LIMITS);
    f.shell.onChunk(first.push(new Uint8Array([1, 2, 3]), false)); // more to come, but it never does
    await settle();
    expect(f.installs).toEqual([{ index: 40, outcome: "running" }]);
    f.sent.length = 0;
    // The leader's next stream, after it gave up stream 7, in two chunks: the failure of stream 7's
    // install comes between them and must not make the receiver forget stream 8.
    const second = new SnapshotSender(1, 2, 2, META, 8, DEFAULT_STREAM_LIMITS);
    f.shell.onChunk(second.push(new Uint8Array([1, 2]), false));
    await settle();
    f.shell.onChunk(second.push(new Uint8Array([3]), true));
    await settle();
    expect(f.sent.filter((m) => m.type === "snapshot-resp" && m.reject)).toEqual([]);
    f.finish();
    await settle();
    expect(f.installs).toEqual([
      { index: 40, outcome: "failed" },
      { index: 40, outcome: "installed" },
    ]);
  });

  it("refuses a stream of a later state while the install of a whole one runs, and installs once", async () => {
    // Before, a leader whose writes had moved its store on streamed the later state right after the
    // first stream ended, and the follower installed the whole state twice, one after the other.
    const f = follower();
    f.shell.onChunk(oneChunkStream(7));
    await settle();
    f.sent.length = 0;
    f.shell.onChunk(oneChunkStream(8, { ...META, index: 55 }));
    await settle();
    expect(f.sent).toEqual([expect.objectContaining({ type: "snapshot-resp", stream: 8, reject: true })]);
    f.finish();
    await settle();
    expect(f.installs).toEqual([{ index: 40, outcome: "installed" }]);
  });
});

/** A leader's shell (node 1) and the streams it opens; its follower (node 2) is played by the test. */
function leader() {
  const sent: Message[] = [];
  let opened = 0;
  const shell = new SnapshotShell({
    id: 1,
    log: SILENT_LOGGER,
    limits: DEFAULT_STREAM_LIMITS,
    chunkBytes: 1024,
    send: (msgs) => sent.push(...msgs),
    currentTerm: () => 2,
    accepts: () => false,
    install: async () => undefined,
    onInstalled: () => undefined,
    onInstallFailed: () => undefined,
  });
  /** What the driver does on the core's ask: a stream unless one to the follower is under way. */
  const ask = () => {
    if (shell.isSending(2)) return;
    opened++;
    shell.startSending(2, 2, META, bytesSource(META.index, new Uint8Array([1, 2, 3])));
  };
  const answer = (reject: boolean) => {
    const chunk = sent.findLast((m) => m.type === "snapshot-chunk");
    assert(chunk?.type === "snapshot-chunk", "a chunk was sent");
    shell.onResp({ type: "snapshot-resp", from: 2, to: 1, term: 2, stream: chunk.stream, next: 1, reject });
  };
  return { shell, ask, answer, opened: () => opened };
}

describe("SnapshotShell, sending", () => {
  it("starts no second stream to a follower that took a whole one, until its answer had time to come", async () => {
    // Before, the core's next ask (every heartbeat answer until the follower's install switched and it
    // answered) started a second stream of the whole state right after the first ended.
    const l = leader();
    l.ask();
    await settle();
    l.answer(false);
    await settle();
    for (let i = 0; i < DEFAULT_STREAM_LIMITS.abandonTicks - 1; i++) {
      l.shell.tick();
      l.ask();
    }
    expect(l.opened()).toBe(1);
    // A follower that never answered (its install failed, it restarted): streamed again.
    l.shell.tick();
    l.ask();
    expect(l.opened()).toBe(2);
  });

  it("streams again at the next ask after the follower refused a stream", async () => {
    const l = leader();
    l.ask();
    await settle();
    l.answer(true);
    await settle();
    l.ask();
    expect(l.opened()).toBe(2);
  });

  it("forgets the streams it delivered when it stops leading", async () => {
    const l = leader();
    l.ask();
    await settle();
    l.answer(false);
    await settle();
    l.shell.stopSending();
    l.ask();
    expect(l.opened()).toBe(2);
  });
});
