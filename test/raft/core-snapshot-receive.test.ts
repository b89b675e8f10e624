/**
 * A follower adopting a leader's snapshot on one core stepped by hand (src/raft/core/snapshot-receive.ts):
 * when it replaces its log and configuration, when it only moves its commit index, and what it answers
 * (the index the leader resumes replication after).
 */
import { describe, expect, test } from "vitest";
import { type Entry, MemoryStorage, type Message, type SnapshotMeta } from "../../src/raft/core/index.js";
import { coreNodeOn, deliver, drain, storageWithLog } from "./core-harness.js";

function snapshotMsg(meta: SnapshotMeta, term = meta.term): Message {
  return { type: "snapshot", from: 1, to: 2, term, meta };
}

function answers(msgs: Message[]): [number, boolean][] {
  return msgs.flatMap((m) => (m.type === "append-resp" ? [[m.index, m.reject] as [number, boolean]] : []));
}

const conf3 = { voters: [1, 2, 3], learners: [], joining: [] };

describe("a follower receiving a snapshot", () => {
  test("behind it: adopts it (log, commit, configuration) and answers at its index", () => {
    const f = coreNodeOn(2, storageWithLog([1, 2, 3], [1, 1]));
    const meta = { index: 10, term: 2, conf: { voters: [1, 2, 3], learners: [4], joining: [] } };
    f.node.step(snapshotMsg(meta));
    const rd = f.node.ready();
    expect(rd.snapshot?.meta).toEqual(meta);
    expect(answers(rd.messages)).toEqual([[10, false]]);
    f.storage.applySnapshot(rd.snapshot!);
    if (rd.hardState) f.storage.setHardState(rd.hardState);
    f.node.advance(rd);
    const s = f.node.status();
    expect([s.firstIndex, s.lastIndex, s.commitIndex, s.appliedIndex]).toEqual([11, 10, 10, 10]);
    expect(s.conf).toEqual(meta.conf);
    // The leader resumes after it.
    const next: Entry = { index: 11, term: 2, data: new Uint8Array([1]) };
    const out = deliver(f, {
      type: "append",
      from: 1,
      to: 2,
      term: 2,
      prevIndex: 10,
      prevTerm: 2,
      entries: [next],
      commit: 11,
    });
    expect(answers(out)).toEqual([[11, false]]);
  });

  test("a config entry of the replaced log never takes effect", () => {
    const storage = new MemoryStorage(conf3);
    storage.append([
      { index: 1, term: 1, data: new Uint8Array() },
      { index: 2, term: 1, data: new Uint8Array(), conf: { type: "addLearner", nodeId: 4 } },
    ]);
    storage.setHardState({ term: 1, vote: 0, commit: 1 });
    const f = coreNodeOn(2, storage);
    deliver(f, snapshotMsg({ index: 5, term: 2, conf: conf3 }));
    deliver(f, { type: "heartbeat", from: 1, to: 2, term: 2, commit: 5, readCtx: null });
    expect(f.node.status().conf).toEqual(conf3);
  });

  test("holding its last entry already: keeps the log, commits up to it, answers at the commit", () => {
    const f = coreNodeOn(2, storageWithLog([1, 2, 3], [1, 1, 2, 2, 2, 2]));
    const out = deliver(f, snapshotMsg({ index: 4, term: 2, conf: conf3 }));
    expect(answers(out)).toEqual([[4, false]]);
    const s = f.node.status();
    expect([s.firstIndex, s.lastIndex, s.commitIndex]).toEqual([1, 6, 4]);
    expect(f.applied.map((e) => e.index)).toEqual([1, 2, 3, 4]);
  });

  test("at or below its commit: changes nothing and answers at its commit", () => {
    const f = coreNodeOn(2, storageWithLog([1, 2, 3], [1, 1, 1, 1], 3));
    drain(f);
    const out = deliver(f, snapshotMsg({ index: 3, term: 1, conf: conf3 }));
    expect(answers(out)).toEqual([[3, false]]);
    const s = f.node.status();
    expect([s.firstIndex, s.lastIndex, s.commitIndex]).toEqual([1, 4, 3]);
  });

  test("an older snapshot than its own compacted log never rolls the log back", () => {
    const storage = storageWithLog([1, 2, 3], [1, 1, 1, 1, 1, 1], 6);
    storage.createSnapshot(5, conf3);
    storage.compact(5);
    const f = coreNodeOn(2, storage);
    const out = deliver(f, snapshotMsg({ index: 3, term: 1, conf: conf3 }));
    expect(answers(out)).toEqual([[6, false]]);
    const s = f.node.status();
    expect([s.firstIndex, s.lastIndex, s.commitIndex]).toEqual([6, 6, 6]);
  });

  test("a divergent tail at the snapshot's index is dropped: the log restarts at the snapshot", () => {
    const f = coreNodeOn(2, storageWithLog([1, 2, 3], [1, 1, 1, 1, 1, 1]));
    const out = deliver(f, snapshotMsg({ index: 4, term: 2, conf: conf3 }));
    expect(answers(out)).toEqual([[4, false]]);
    const s = f.node.status();
    expect([s.firstIndex, s.lastIndex, s.commitIndex, s.lastTerm]).toEqual([5, 4, 4, 2]);
  });
});
