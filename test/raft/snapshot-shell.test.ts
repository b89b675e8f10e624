/**
 * The follower's side of the snapshot stream shell: a second stream of a state whose install is still
 * running is refused, so the same snapshot is never installed twice (a leader asks again until the
 * follower's answer to the finished stream reaches it).
 */
import { describe, expect, it } from "vitest";
import { SILENT_LOGGER } from "../../src/common/log.js";
import type { Message, SnapshotMeta } from "../../src/raft/core/index.js";
import { SnapshotShell } from "../../src/raft/snapshot-shell.js";
import { DEFAULT_STREAM_LIMITS, SnapshotSender } from "../../src/raft/snapshot-stream.js";

const META: SnapshotMeta = { index: 40, term: 2, conf: { voters: [1, 2], learners: [], joining: [] } };

function oneChunkStream(stream: number): Extract<Message, { type: "snapshot-chunk" }> {
  const sender = new SnapshotSender(1, 2, 2, META, stream, DEFAULT_STREAM_LIMITS);
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
});
