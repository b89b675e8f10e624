import { ClassicLevel } from "classic-level";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  type ConfState,
  type Entry,
  type HardState,
  MemoryStorage,
  type Snapshot,
  type Storage,
} from "../../src/raft/core/index.js";
import { collectChunks } from "../../src/raft/index.js";
import {
  CorruptStoreError,
  encodeRecord,
  entryKey,
  LEVEL_KEYS,
  LevelStorage,
  logStartRecord,
} from "../../src/raft/level-storage.js";
import { makeTempDir, removeDir } from "./helpers.js";

const CONF: ConfState = { voters: [1, 2, 3], learners: [], joining: [] };
const ID = { clusterId: "test-cluster", replicaId: 1 };

let dir: string;
beforeEach(async () => {
  dir = await makeTempDir();
});
afterEach(async () => {
  await removeDir(dir);
});

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Streams `data` in chunks of at most 5 bytes, as a state machine's snapshot would. */
async function* chunked(data: Uint8Array): AsyncIterable<Uint8Array> {
  for (let at = 0; at < data.byteLength; at += 5) yield data.subarray(at, at + 5);
}

async function storedData(s: LevelStorage): Promise<string> {
  return hex(await collectChunks(s.snapshotChunks()));
}

/** Everything the core can observe through the Storage interface, in comparable form. */
function view(s: Storage) {
  const first = s.firstIndex();
  const last = s.lastIndex();
  const snap = s.snapshot();
  const entries = first <= last ? s.entries(first, last + 1, Number.POSITIVE_INFINITY) : [];
  const terms: (number | undefined)[] = [];
  for (let i = first - 1; i <= last; i++) terms.push(s.term(i));
  return {
    first,
    last,
    terms,
    state: s.initialState(),
    snapshot: { meta: snap.meta },
    entries: entries.map((e) => ({ index: e.index, term: e.term, data: hex(e.data), conf: e.conf ?? null })),
  };
}

describe("LevelStorage", () => {
  it("keys entries by big-endian u64 index, so they sort by index past 2^32", () => {
    const indexes = [0, 1, 255, 2 ** 32 - 1, 2 ** 32, 2 ** 40 + 12345, Number.MAX_SAFE_INTEGER];
    for (const i of indexes) {
      const k = entryKey(i);
      expect(k[0]).toBe(0x10);
      expect(new DataView(k.buffer).getBigUint64(1)).toBe(BigInt(i));
    }
    const hex = indexes.map((i) => Buffer.from(entryKey(i)).toString("hex"));
    expect([...hex].sort()).toEqual(hex);
  });

  it("starts a new store with the initial configuration and keeps it across a reopen", async () => {
    let s = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    expect(s.initialState()).toEqual({ hardState: { term: 0, vote: 0, commit: 0 }, conf: CONF });
    expect([s.firstIndex(), s.lastIndex()]).toEqual([1, 0]);
    await s.close();
    s = await LevelStorage.open({
      dir,
      initialConf: { voters: [9], learners: [], joining: [] },
      identity: ID,
    });
    expect(s.initialState().conf).toEqual(CONF);
    await s.close();
  });

  it("recovers after a reopen exactly what a MemoryStorage fed the same operations holds", async () => {
    const step = fc.record({
      kind: fc.constantFrom(
        "append",
        "append",
        "append",
        "snapshotIn",
        "createSnapshot",
        "compact",
        "hardState",
        "reopen",
      ),
      a: fc.nat(1000),
      b: fc.nat(1000),
      c: fc.nat(1000),
      data: fc.uint8Array({ maxLength: 12 }),
    });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 25 }), async (steps) => {
        const runDir = `${dir}/run-${run++}`;
        let store = await LevelStorage.open({ dir: runDir, initialConf: CONF, identity: ID });
        const model = new MemoryStorage(CONF);
        let hs: HardState = { term: 0, vote: 0, commit: 0 };
        /** The snapshot bytes the model's snapshot stands for. */
        let modelData: Uint8Array = new Uint8Array();
        // A persist that only moves the commit index writes nothing (it rides along with the next
        // write): after a reopen the commit is the one of the last real write.
        let written: HardState = { ...hs };
        const persisted = async (rd: {
          hardState: HardState | null;
          entries: Entry[];
          snapshot: Snapshot | null;
          data: Uint8Array;
        }) => {
          const prev = model.initialState().hardState;
          await store.persist({ ...rd, snapshotData: rd.snapshot ? chunked(rd.data) : null });
          if (rd.snapshot) modelData = rd.data;
          const commitOnly =
            rd.entries.length === 0 &&
            !rd.snapshot &&
            rd.hardState !== null &&
            rd.hardState.term === prev.term &&
            rd.hardState.vote === prev.vote;
          if (rd.hardState && !commitOnly) written = { ...rd.hardState };
        };
        const reopened = () => {
          hs = { ...hs, commit: written.commit };
          model.setHardState(hs);
        };
        try {
          for (const st of steps) {
            const snapIndex = model.snapshot().meta.index;
            const last = model.lastIndex();
            if (st.kind === "append" || st.kind === "snapshotIn") {
              let snapshot: Snapshot | null = null;
              let entries: Entry[] = [];
              let from: number;
              let term: number;
              if (st.kind === "snapshotIn") {
                const index = hs.commit + 1 + (st.a % 10);
                term = hs.term + (st.c % 2);
                const conf = { voters: [1, 2, 3, 4].slice(0, 1 + (st.b % 4)), learners: [], joining: [] };
                snapshot = { meta: { index, term, conf } };
                hs = { term, vote: hs.vote, commit: index };
                from = index + 1;
              } else {
                const lo = Math.max(snapIndex, hs.commit) + 1;
                from = lo + (st.a % (last + 2 - lo));
                term = Math.max(model.term(from - 1) ?? 0, hs.term) + (st.c % 2);
              }
              if (st.kind === "append" || st.b % 2 === 0) {
                const count = st.kind === "append" ? 1 + (st.b % 5) : 1 + (st.a % 3);
                entries = Array.from({ length: count }, (_, i): Entry => {
                  const e: Entry = { index: from + i, term, data: st.data.subarray(i) };
                  if ((st.c + i) % 7 === 0)
                    e.conf = { type: "addLearner", nodeId: 4, promoteWhenCaughtUp: true };
                  return e;
                });
              }
              const newLast =
                entries.length > 0 ? entries[entries.length - 1]!.index : snapshot ? from - 1 : last;
              const raise = term > hs.term || st.b % 3 === 0;
              hs = raise
                ? {
                    term: Math.max(hs.term, term),
                    vote: st.c % 4,
                    commit: hs.commit + (st.b % (newLast - hs.commit + 1)),
                  }
                : hs;
              const hardState = raise || snapshot ? { ...hs } : null;
              await persisted({ hardState, entries, snapshot, data: st.data });
              if (snapshot) model.applySnapshot(snapshot);
              model.append(entries);
              if (hardState) model.setHardState(hardState);
            } else if (st.kind === "createSnapshot") {
              if (hs.commit <= snapIndex) continue;
              const index = snapIndex + 1 + (st.a % (hs.commit - snapIndex));
              const conf = { voters: [1, 2], learners: [3], joining: [] };
              await store.createSnapshot(index, conf, chunked(st.data));
              model.createSnapshot(index, conf);
              modelData = st.data;
            } else if (st.kind === "compact") {
              const start = model.firstIndex() - 1;
              if (snapIndex <= start) continue;
              const index = start + 1 + (st.a % (snapIndex - start));
              await store.compact(index);
              model.compact(index);
            } else if (st.kind === "hardState") {
              hs = {
                term: hs.term + (st.a % 2),
                vote: st.b % 4,
                commit: hs.commit + (st.c % (last - hs.commit + 1)),
              };
              await persisted({ hardState: { ...hs }, entries: [], snapshot: null, data: new Uint8Array() });
              model.setHardState(hs);
            } else {
              await store.close();
              store = await LevelStorage.open({ dir: runDir, initialConf: CONF, identity: ID });
              reopened();
            }
            expect(view(store)).toEqual(view(model));
            expect(await storedData(store)).toBe(hex(modelData));
          }
          await store.close();
          store = await LevelStorage.open({ dir: runDir, initialConf: CONF, identity: ID });
          reopened();
          expect(view(store)).toEqual(view(model));
          expect(await storedData(store)).toBe(hex(modelData));
        } finally {
          await store.close();
          await removeDir(runDir);
        }
      }),
      { numRuns: 40 },
    );
  });

  describe("detects a damaged store at open", () => {
    async function seed(): Promise<void> {
      const s = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
      const entries = [1, 2, 3, 4, 5].map((index) => ({
        index,
        term: 1,
        data: new Uint8Array([index, 7, 7]),
      }));
      await s.persist({ hardState: { term: 1, vote: 1, commit: 3 }, entries, snapshot: null });
      await s.close();
    }

    async function damage(fn: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>): Promise<void> {
      const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
        keyEncoding: "view",
        valueEncoding: "view",
      });
      await db.open();
      try {
        await fn(db);
      } finally {
        await db.close();
      }
    }

    const cases: [string, (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<void>, RegExp][] = [
      [
        "a flipped bit in an entry",
        async (db) => {
          const v = (await db.get(entryKey(3)))!.slice();
          v[v.length - 1]! ^= 0x01;
          await db.put(entryKey(3), v);
        },
        /entry 3 record fails its checksum/,
      ],
      [
        "a truncated entry",
        async (db) => {
          const v = (await db.get(entryKey(5)))!;
          await db.put(entryKey(5), v.subarray(0, v.length - 3));
        },
        /entry 5 record fails its checksum/,
      ],
      ["a lost entry in the middle", (db) => db.del(entryKey(2)), /gap/],
      [
        "an entry moved to another key",
        async (db) => db.put(entryKey(6), (await db.get(entryKey(5)))!),
        /says index 5/,
      ],
      [
        "a commit index beyond the log",
        (db) => db.put(LEVEL_KEYS.HARD_STATE_KEY, encodeRecord({ term: 1, vote: 1, commit: 9 })),
        /commit index 9 beyond last index 5/,
      ],
      ["a missing hard state", (db) => db.del(LEVEL_KEYS.HARD_STATE_KEY), /hard state record is missing/],
      [
        "garbled snapshot data",
        (db) => db.put(LEVEL_KEYS.SNAP_DATA_KEY, new Uint8Array([1, 2, 3])),
        /snapshot data fails its checksum/,
      ],
      [
        "a log start past the snapshot",
        async (db) => {
          await db.del(entryKey(1));
          await db.put(LEVEL_KEYS.LOG_START_KEY, encodeRecord({ index: 1, term: 1 }));
        },
        /snapshot index 0 outside the log/,
      ],
      [
        "a record that is not msgpack",
        (db) => db.put(LEVEL_KEYS.LOG_START_KEY, encodeRecord({ index: "x" })),
        /log start record is malformed/,
      ],
      ["an unknown key", (db) => db.put(new Uint8Array([0x7f]), new Uint8Array([1])), /unknown key 7f/],
    ];

    it.each(cases)("%s", async (_name, fn, message) => {
      await seed();
      await damage(fn);
      const err = await LevelStorage.open({ dir, initialConf: CONF, identity: ID }).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CorruptStoreError);
      expect((err as CorruptStoreError).code).toBe("CORRUPT");
      expect((err as Error).message).toMatch(message);
      // The store was closed on failure: a clean reopen attempt is not blocked by the LevelDB lock.
      await expect(LevelStorage.open({ dir, initialConf: CONF, identity: ID })).rejects.toBeInstanceOf(
        CorruptStoreError,
      );
    });
  });

  it("skips entries a crash left behind the log start during compaction, and the next one removes them", async () => {
    const raw = () =>
      new ClassicLevel<Uint8Array, Uint8Array>(dir, { keyEncoding: "view", valueEncoding: "view" });
    const s = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    const entries = Array.from({ length: 20 }, (_, i) => ({
      index: i + 1,
      term: 1,
      data: new Uint8Array([i]),
    }));
    await s.persist({ hardState: { term: 1, vote: 1, commit: 20 }, entries, snapshot: null });
    await s.createSnapshot(10, CONF, chunked(new Uint8Array([42])));
    await s.close();
    // The compaction's range delete never ran: the log start says 10, entries 1..10 are still there.
    const db = raw();
    await db.open();
    await db.put(LEVEL_KEYS.LOG_START_KEY, logStartRecord(10, 1));
    await db.close();

    const reopened = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    expect(reopened.firstIndex()).toBe(11);
    expect(reopened.entries(11, 21, Number.POSITIVE_INFINITY).map((e) => e.index)).toEqual(
      entries.slice(10).map((e) => e.index),
    );
    await reopened.createSnapshot(15, CONF, chunked(new Uint8Array([43])));
    await reopened.compact(15);
    await reopened.close();
    const after = raw();
    await after.open();
    const left: number[] = [];
    for await (const key of after.keys({ gte: entryKey(0) }))
      left.push(Number(new DataView(key.buffer, key.byteOffset).getBigUint64(1)));
    await after.close();
    expect(left).toEqual([16, 17, 18, 19, 20]);
  });

  it("refuses every write after a failed one", async () => {
    const s = await LevelStorage.open({ dir, initialConf: CONF, identity: ID });
    // An injected batch failure stands in for a failed fsync (LevelDB then refuses all later writes).
    const db = (s as unknown as { db: ClassicLevel<Uint8Array, Uint8Array> }).db;
    const realBatch = db.batch.bind(db);
    (db as unknown as { batch: unknown }).batch = () => {
      const chained = realBatch();
      chained.write = () => chained.close().then(() => Promise.reject(new Error("EIO: fsync failed")));
      return chained;
    };
    const entries = [{ index: 1, term: 1, data: new Uint8Array([1]) }];
    await expect(
      s.persist({ hardState: { term: 1, vote: 0, commit: 0 }, entries, snapshot: null }),
    ).rejects.toThrow(/write failed/);
    (db as unknown as { batch: unknown }).batch = realBatch;
    await expect(
      s.persist({ hardState: { term: 1, vote: 0, commit: 0 }, entries, snapshot: null }),
    ).rejects.toThrow(/write failed/);
    // Nothing was mirrored: the core never sees an entry that is not on disk.
    expect(s.lastIndex()).toBe(0);
    await s.close();
  });
});
