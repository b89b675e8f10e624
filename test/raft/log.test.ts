/**
 * The core's log (src/raft/core/log.ts): a durable part in storage, an unstable tail and perhaps an
 * incoming snapshot that the driver has not persisted yet. The simulator shows that Raft stays safe
 * whatever the log does within the rules; these pin what the rest of the core reads from it — terms,
 * slices, the commit and apply points, where a leader's batch is cut — against a plain array model, and
 * that its invariant checks fire.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { RaftLog } from "../../src/raft/core/log.js";
import { EMPTY_CONF, limitSize, MemoryStorage } from "../../src/raft/core/storage.js";
import type { Entry, Snapshot } from "../../src/raft/core/types.js";

/** An entry whose bytes say where it came from, so a wrong slice shows in an equality check. */
function entry(index: number, term: number, size = 0): Entry {
  return { index, term, data: new Uint8Array(size).fill(index % 251) };
}

function run(from: number, to: number, term: number): Entry[] {
  const out: Entry[] = [];
  for (let i = from; i <= to; i++) out.push(entry(i, term));
  return out;
}

/** A storage holding entries 1..n of the given terms (all persisted) and a log over it. */
function logOver(terms: number[], maxApplyBytes = 1 << 20): { log: RaftLog; storage: MemoryStorage } {
  const storage = new MemoryStorage(EMPTY_CONF);
  storage.append(terms.map((t, k) => entry(k + 1, t)));
  return { log: new RaftLog(storage, maxApplyBytes), storage };
}

const ids = (es: Entry[]) => es.map((e) => `${e.index}@${e.term}`);

describe("RaftLog, examples", () => {
  test("a log over storage starts with nothing unstable, committed and applied at the snapshot", () => {
    const storage = new MemoryStorage(EMPTY_CONF);
    storage.append(run(1, 6, 1));
    storage.createSnapshot(4, EMPTY_CONF);
    storage.compact(4);
    const log = new RaftLog(storage, 1000);
    expect([log.firstIndex(), log.lastIndex(), log.lastTerm(), log.committed, log.applied]).toEqual([
      5, 6, 1, 4, 4,
    ]);
    expect([log.unstableOffset, log.unstableEntries(), log.unstableSnapshot]).toEqual([7, [], null]);
    expect([log.term(0), log.term(3), log.term(4), log.term(6), log.term(7)]).toEqual([
      0,
      undefined,
      1,
      1,
      undefined,
    ]);
  });

  test("appending at the end keeps storage as it is; appending inside the tail replaces it from there", () => {
    const { log } = logOver([1, 1, 1]);
    expect(log.append([])).toBe(3);
    expect(log.append(run(4, 5, 2))).toBe(5);
    expect([log.unstableOffset, ids(log.unstableEntries())]).toEqual([4, ["4@2", "5@2"]]);
    expect(log.append(run(5, 6, 3))).toBe(6);
    expect(ids(log.unstableEntries())).toEqual(["4@2", "5@3", "6@3"]);
    // Into what storage holds: the unstable tail now starts there and replaces it.
    expect(log.append(run(2, 2, 4))).toBe(2);
    expect([log.unstableOffset, ids(log.unstableEntries()), log.term(1), log.term(3)]).toEqual([
      2,
      ["2@4"],
      1,
      undefined,
    ]);
  });

  test("maybeAppend: a mismatch at prevIndex changes nothing; a match skips what is there and truncates at a conflict", () => {
    const { log } = logOver([1, 1, 2, 2]);
    log.commitTo(2);
    expect(log.maybeAppend(3, 1, 4, run(4, 5, 3))).toBeNull();
    expect(log.maybeAppend(5, 2, 4, [])).toBeNull(); // beyond the end
    expect([log.lastIndex(), log.committed]).toEqual([4, 2]);
    // All present: nothing appended, commit moves to min(leader's commit, last new index).
    expect(log.maybeAppend(1, 1, 9, run(2, 2, 1))).toBe(2);
    expect([log.lastIndex(), log.committed, log.unstableEntries()]).toEqual([4, 2, []]);
    expect(log.maybeAppend(2, 1, 3, [entry(3, 2)])).toBe(3);
    expect([log.lastIndex(), log.committed]).toEqual([4, 3]);
    // A conflict at 4: from there on the leader's entries win.
    expect(log.maybeAppend(3, 2, 3, [entry(4, 3), entry(5, 3)])).toBe(5);
    expect([log.lastIndex(), log.term(4), log.unstableOffset, log.committed]).toEqual([5, 3, 4, 3]);
  });

  test("maybeAppend rewrites only from the conflict: entries before it stay stable", () => {
    const { log } = logOver([1, 1, 2, 2]);
    log.commitTo(2);
    expect(log.maybeAppend(2, 1, 2, [entry(3, 2), entry(4, 3)])).toBe(4);
    expect([log.unstableOffset, ids(log.unstableEntries())]).toEqual([4, ["4@3"]]);
  });

  test("appending below a tail, into storage, replaces the tail whatever its length", () => {
    const { log } = logOver([1, 1, 1, 1]);
    log.append(run(5, 6, 2));
    expect(log.append([entry(3, 3)])).toBe(3);
    expect([log.unstableOffset, ids(log.unstableEntries()), log.lastIndex()]).toEqual([3, ["3@3"], 3]);
  });

  test("maybeAppend never truncates at or below commit: that is a broken leader, and the log says so", () => {
    const { log } = logOver([1, 1, 2]);
    log.commitTo(3);
    expect(() => log.maybeAppend(2, 1, 3, [entry(3, 3)])).toThrow("conflict at 3 is at or below commit 3");
    expect(log.term(3)).toBe(2);
  });

  test("the invariant checks fire: overwriting commit, a gap, commit or apply beyond the end, a slice out of range", () => {
    const { log } = logOver([1, 1, 1]);
    log.commitTo(2);
    expect(() => log.append([entry(2, 2)])).toThrow("append at 2 would overwrite committed 2");
    expect(() => log.append([entry(5, 2)])).toThrow("append at 5 leaves a gap after 3");
    expect(() => log.commitTo(4)).toThrow("commit 4 beyond last index 3");
    expect(() => log.appliedTo(3)).toThrow("applied 3 beyond commit 2");
    expect(() => log.slice(2, 5, 100)).toThrow("slice(2, 5) out of range");
    const compacted = new MemoryStorage(EMPTY_CONF);
    compacted.append(run(1, 4, 1));
    compacted.createSnapshot(2, EMPTY_CONF);
    compacted.compact(2);
    expect(() => new RaftLog(compacted, 100).slice(2, 3, 100)).toThrow("slice(2, 3) out of range");
    // Going back is not an error: commit and apply points only move forward.
    log.commitTo(1);
    log.appliedTo(2);
    log.appliedTo(1);
    expect([log.committed, log.applied]).toEqual([2, 2]);
  });

  test("lastTerm of a log whose last term is unknown is a broken log", () => {
    const { log } = logOver([1, 1]);
    const broken = { ...log, lastIndex: () => 9, term: (i: number) => log.term(i) } as unknown as RaftLog;
    expect(() => RaftLog.prototype.lastTerm.call(broken)).toThrow("term of the last index must be known");
  });

  test("isUpToDate (Raft §5.4.1): a higher last term wins; with equal terms, the longer or equal log", () => {
    const { log } = logOver([1, 2, 2]);
    expect(log.isUpToDate(1, 3)).toBe(true);
    expect(log.isUpToDate(3, 2)).toBe(true);
    expect(log.isUpToDate(4, 2)).toBe(true);
    expect(log.isUpToDate(2, 2)).toBe(false);
    expect(log.isUpToDate(9, 1)).toBe(false);
  });

  test("findConflictByTerm: the largest index at or below the given one whose term is at most the given term", () => {
    const { log } = logOver([1, 1, 3, 3, 5]);
    expect(log.findConflictByTerm(5, 4)).toBe(4);
    expect(log.findConflictByTerm(5, 2)).toBe(2);
    expect(log.findConflictByTerm(9, 5)).toBe(5); // clipped to the last index
    expect(log.findConflictByTerm(4, 0)).toBe(0);
    expect(log.findConflictByTerm(3, 3)).toBe(3);
  });

  test("slice reads across storage and the unstable tail, bounded in bytes, at least one entry", () => {
    const storage = new MemoryStorage(EMPTY_CONF);
    storage.append([entry(1, 1, 10), entry(2, 1, 10), entry(3, 1, 10)]);
    const log = new RaftLog(storage, 1000);
    log.append([entry(4, 2, 10), entry(5, 2, 10)]);
    expect(ids(log.slice(2, 6, 1000))).toEqual(["2@1", "3@1", "4@2", "5@2"]);
    expect(ids(log.slice(2, 6, 68))).toEqual(["2@1", "3@1"]); // 34 bytes an entry
    expect(ids(log.slice(2, 6, 102))).toEqual(["2@1", "3@1", "4@2"]);
    expect(ids(log.slice(3, 6, 1))).toEqual(["3@1"]);
    expect(ids(log.slice(4, 6, 1))).toEqual(["4@2"]);
    expect(ids(log.slice(1, 3, 1000))).toEqual(["1@1", "2@1"]);
    expect(log.slice(3, 3, 1000)).toEqual([]);
  });

  test("slice never skips: when storage's part is cut by the byte bound, a smaller unstable entry is not added after the gap", () => {
    const storage = new MemoryStorage(EMPTY_CONF);
    storage.append([entry(1, 1, 10), entry(2, 1, 40)]); // 34 and 64 bytes
    const log = new RaftLog(storage, 1000);
    log.append([entry(3, 1, 0)]); // 24 bytes: 34 + 24 would fit in 60
    expect(ids(log.slice(1, 4, 60))).toEqual(["1@1"]);
  });

  test("stableTo drops what the driver persisted, unless the tail was replaced since (a stale ack)", () => {
    const { log, storage } = logOver([1]);
    log.append(run(2, 4, 2));
    storage.append(run(2, 3, 2));
    log.stableTo(3, 2);
    expect([log.unstableOffset, ids(log.unstableEntries())]).toEqual([4, ["4@2"]]);
    log.stableTo(3, 2); // again: already stable
    log.stableTo(2, 2); // older still
    log.stableTo(4, 1); // wrong term: the entry at 4 is not the one persisted
    log.stableTo(7, 2); // beyond the end
    expect([log.unstableOffset, ids(log.unstableEntries())]).toEqual([4, ["4@2"]]);
    // The last one alone: the tail is empty, and the next Ready hands nothing out again.
    storage.append([entry(4, 2)]);
    log.stableTo(4, 2);
    expect([log.unstableOffset, log.unstableEntries()]).toEqual([5, []]);
  });

  test("restore replaces the whole log; the snapshot's term answers at its index until the driver persists it", () => {
    const { log, storage } = logOver([1, 1, 1]);
    log.commitTo(1);
    log.append([entry(4, 2)]);
    const snap: Snapshot = { meta: { index: 7, term: 3, conf: EMPTY_CONF } };
    log.restore(snap);
    expect([log.firstIndex(), log.lastIndex(), log.lastTerm(), log.committed, log.applied]).toEqual([
      8, 7, 3, 7, 0,
    ]);
    expect([log.term(6), log.term(7), log.term(8), log.term(2)]).toEqual([
      undefined,
      3,
      undefined,
      undefined,
    ]);
    expect([log.unstableOffset, log.unstableEntries(), log.hasNextCommittedEntries()]).toEqual([
      8,
      [],
      false,
    ]);
    log.append([entry(8, 3)]);
    expect([log.lastIndex(), log.term(8), log.term(7)]).toEqual([8, 3, 3]);
    log.stableSnapshotTo(6); // not this snapshot
    expect(log.unstableSnapshot).toBe(snap);
    storage.applySnapshot(snap);
    log.stableSnapshotTo(7);
    expect([log.unstableSnapshot, log.firstIndex(), log.term(7), log.term(8)]).toEqual([null, 8, 3, 3]);
  });

  test("committed entries are handed out once, in order, bounded in bytes", () => {
    const storage = new MemoryStorage(EMPTY_CONF);
    storage.append([entry(1, 1, 26), entry(2, 1, 26), entry(3, 1, 26)]);
    const log = new RaftLog(storage, 100); // 50 bytes an entry: two fit
    expect([log.hasNextCommittedEntries(), log.nextCommittedEntries()]).toEqual([false, []]);
    log.commitTo(3);
    expect(log.hasNextCommittedEntries()).toBe(true);
    expect(ids(log.nextCommittedEntries())).toEqual(["1@1", "2@1"]);
    log.appliedTo(2);
    expect(ids(log.nextCommittedEntries())).toEqual(["3@1"]);
    log.appliedTo(3);
    expect([log.hasNextCommittedEntries(), log.nextCommittedEntries()]).toEqual([false, []]);
  });
});

/**
 * The model: the log as one array from the snapshot point on, a commit and an apply index. The driver is
 * played as the core's shell plays it: a Ready handed out (snapshot and unstable entries) and persisted
 * later; committed entries applied; the application's snapshots compacting storage.
 */
interface Model {
  snapIndex: number;
  snapTerm: number;
  /** Entries snapIndex+1 .. last. */
  entries: Entry[];
  committed: number;
  applied: number;
}

function modelTerm(m: Model, i: number): number | undefined {
  if (i === 0) return 0;
  if (i === m.snapIndex) return m.snapTerm;
  if (i < m.snapIndex) return undefined;
  return m.entries[i - m.snapIndex - 1]?.term;
}

const modelLast = (m: Model) => m.snapIndex + m.entries.length;
const modelRange = (m: Model, lo: number, hi: number) =>
  m.entries.slice(lo - m.snapIndex - 1, hi - m.snapIndex - 1);

type Op =
  | { t: "newTerm" }
  | { t: "append"; at: number; n: number; size: number }
  | { t: "maybeAppend"; prev: number; matches: boolean; keep: number; fresh: number; commit: number }
  | { t: "commit"; at: number }
  | { t: "ready" }
  | { t: "persist" }
  | { t: "staleAck"; at: number }
  | { t: "apply" }
  | { t: "compact"; at: number }
  | { t: "restore"; ahead: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ t: "newTerm" as const }),
  fc.record({
    t: fc.constant("append" as const),
    at: fc.nat(20),
    n: fc.integer({ min: 1, max: 4 }),
    size: fc.nat(40),
  }),
  fc.record({
    t: fc.constant("maybeAppend" as const),
    prev: fc.nat(20),
    matches: fc.boolean(),
    keep: fc.nat(4),
    fresh: fc.nat(3),
    commit: fc.nat(30),
  }),
  fc.record({ t: fc.constant("commit" as const), at: fc.nat(20) }),
  fc.constant({ t: "ready" as const }),
  fc.constant({ t: "persist" as const }),
  fc.record({ t: fc.constant("staleAck" as const), at: fc.nat(20) }),
  fc.constant({ t: "apply" as const }),
  fc.record({ t: fc.constant("compact" as const), at: fc.nat(20) }),
  fc.record({ t: fc.constant("restore" as const), ahead: fc.nat(5) }),
);

interface Ready {
  snapshot: Snapshot | null;
  entries: Entry[];
}

const MAX_APPLY_BYTES = 120;

function checkAgainstModel(log: RaftLog, storage: MemoryStorage, m: Model, pendingSnapshot: boolean): void {
  const last = modelLast(m);
  expect(log.firstIndex()).toBe(m.snapIndex + 1);
  expect(log.lastIndex()).toBe(last);
  expect(log.lastTerm()).toBe(modelTerm(m, last));
  expect(log.committed).toBe(m.committed);
  expect(log.applied).toBe(m.applied);
  for (let i = 0; i <= last + 2; i++) expect(log.term(i), `term(${i})`).toBe(modelTerm(m, i));
  for (let lo = m.snapIndex + 1; lo <= last + 1; lo++) {
    for (const maxBytes of [1, 60, 1000]) {
      expect(log.slice(lo, last + 1, maxBytes)).toEqual(limitSize(modelRange(m, lo, last + 1), maxBytes));
    }
  }
  // Everything below the unstable tail is what storage holds: the driver wrote exactly that.
  const tail = log.unstableEntries();
  for (const [k, e] of tail.entries()) expect(e.index).toBe(log.unstableOffset + k);
  if (!pendingSnapshot) {
    for (let i = m.snapIndex; i < log.unstableOffset; i++)
      expect(storage.term(i), `stored term(${i})`).toBe(modelTerm(m, i));
  }
  // Handed out to apply: committed entries above the apply point and the snapshot, bounded in bytes.
  const lo = Math.max(m.applied, m.snapIndex) + 1;
  const toApply = limitSize(modelRange(m, lo, m.committed + 1), MAX_APPLY_BYTES);
  expect(log.nextCommittedEntries()).toEqual(toApply);
  expect(log.hasNextCommittedEntries()).toBe(!pendingSnapshot && toApply.length > 0);
  // findConflictByTerm against its definition, for every index and a few terms.
  for (let i = 0; i <= last + 1; i++) {
    for (const t of [0, 1, modelTerm(m, Math.min(i, last)) ?? 0]) {
      let want = Math.min(i, last);
      while (want > 0) {
        const mt = modelTerm(m, want);
        if (mt === undefined || mt <= t) break;
        want--;
      }
      expect(log.findConflictByTerm(i, t), `findConflictByTerm(${i}, ${t})`).toBe(want);
    }
  }
}

function play(ops: Op[]): void {
  const storage = new MemoryStorage(EMPTY_CONF);
  const log = new RaftLog(storage, MAX_APPLY_BYTES);
  const m: Model = { snapIndex: 0, snapTerm: 0, entries: [], committed: 0, applied: 0 };
  let term = 1;
  const readies: Ready[] = [];
  const pendingSnapshot = () => log.unstableSnapshot !== null || readies.some((r) => r.snapshot !== null);
  const truncateAndAppend = (fresh: Entry[]) => {
    m.entries = m.entries.slice(0, fresh[0]!.index - m.snapIndex - 1).concat(fresh);
  };
  for (const op of ops) {
    const last = modelLast(m);
    switch (op.t) {
      case "newTerm":
        term++;
        break;
      case "append": {
        // Anywhere after commit up to the end; a later term than every entry there (Log Matching).
        const first = m.committed + 1 + (op.at % (last - m.committed + 1));
        term++;
        const fresh: Entry[] = [];
        for (let k = 0; k < op.n; k++) fresh.push(entry(first + k, term, op.size));
        expect(log.append(fresh)).toBe(first + op.n - 1);
        truncateAndAppend(fresh);
        break;
      }
      case "maybeAppend": {
        // At or above commit, up to one past the end: the follower answers a batch below its commit
        // without asking the log (replication.ts, handleAppend).
        const prevIndex = m.committed + (op.prev % (last - m.committed + 2));
        const known = modelTerm(m, prevIndex);
        const prevTerm = op.matches && known !== undefined ? known : (known ?? 0) + 100;
        const ok = known !== undefined && prevTerm === known;
        // The leader resends some of what we have (at least through commit) and adds entries of a new term.
        const keepTo = Math.min(last, Math.max(prevIndex + op.keep, m.committed));
        const resent = ok ? modelRange(m, prevIndex + 1, keepTo + 1) : [];
        if (op.fresh > 0) term++;
        const from = prevIndex + resent.length + 1;
        const fresh: Entry[] = [];
        for (let k = 0; k < op.fresh; k++) fresh.push(entry(from + k, term, k * 7));
        const batch = resent.concat(fresh);
        const got = log.maybeAppend(prevIndex, prevTerm, op.commit, batch);
        if (!ok) {
          expect(got).toBeNull();
          break;
        }
        const lastNew = prevIndex + batch.length;
        expect(got).toBe(lastNew);
        if (fresh.length > 0) truncateAndAppend(fresh);
        m.committed = Math.max(m.committed, Math.min(op.commit, lastNew));
        break;
      }
      case "commit": {
        const to = op.at % (last + 1);
        log.commitTo(to);
        m.committed = Math.max(m.committed, to);
        break;
      }
      case "ready":
        // One Ready outstanding at a time, as RaftNode hands them out; the core goes on stepping
        // meanwhile, so its tail may change before this one is persisted.
        if (readies.length === 0)
          readies.push({ snapshot: log.unstableSnapshot, entries: [...log.unstableEntries()] });
        break;
      case "persist": {
        const rd = readies.shift();
        if (rd === undefined) break;
        if (rd.snapshot) {
          storage.applySnapshot(rd.snapshot);
          log.stableSnapshotTo(rd.snapshot.meta.index);
          log.applied = Math.max(log.applied, rd.snapshot.meta.index);
          m.applied = Math.max(m.applied, rd.snapshot.meta.index);
        }
        storage.append(rd.entries);
        const lastSent = rd.entries.at(-1);
        if (lastSent) log.stableTo(lastSent.index, lastSent.term);
        break;
      }
      case "staleAck": {
        // An ack for an entry that is not in the log (another term): it must not drop the tail.
        const i = log.unstableOffset + (op.at % (log.unstableEntries().length + 1));
        log.stableTo(i, (log.term(i) ?? 0) + 50);
        break;
      }
      case "apply": {
        if (pendingSnapshot()) break; // the snapshot is applied first, with its Ready
        const ents = log.nextCommittedEntries();
        const lastApplied = ents.at(-1);
        if (lastApplied) {
          log.appliedTo(lastApplied.index);
          m.applied = lastApplied.index;
        }
        break;
      }
      case "compact": {
        // The application snapshots at or below what it applied and storage holds; storage drops the log.
        if (pendingSnapshot()) break;
        const hi = Math.min(m.applied, storage.lastIndex(), log.unstableOffset - 1);
        if (hi < storage.firstIndex()) break;
        const at = storage.firstIndex() + (op.at % (hi - storage.firstIndex() + 1));
        storage.createSnapshot(at, EMPTY_CONF);
        storage.compact(at);
        // The log's first index follows storage's; the model keeps the same entries.
        m.snapTerm = modelTerm(m, at)!;
        m.entries = modelRange(m, at + 1, last + 1);
        m.snapIndex = at;
        break;
      }
      case "restore": {
        // A leader's snapshot ahead of our commit, of a term newer than anything we hold.
        term++;
        const snap: Snapshot = { meta: { index: m.committed + 1 + op.ahead, term, conf: EMPTY_CONF } };
        log.restore(snap);
        m.snapIndex = snap.meta.index;
        m.snapTerm = term;
        m.entries = [];
        m.committed = snap.meta.index;
        break;
      }
    }
    checkAgainstModel(log, storage, m, pendingSnapshot());
  }
}

describe("RaftLog against an array model", () => {
  test("every sequence of appends, leader batches, commits, Readies, acks, applies, compactions and snapshots", () => {
    fc.assert(
      fc.property(fc.array(opArb, { maxLength: 40 }), (ops) => play(ops)),
      { numRuns: 300 },
    );
  });
});
