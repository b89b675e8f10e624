/**
 * The Raft log, hard state and snapshot on LevelDB (classic-level).
 *
 * The core reads storage synchronously, so reads come from an in-memory mirror of the log (bounded:
 * the log is compacted behind snapshots), loaded and verified at open. Every change is one atomic
 * LevelDB batch, and the mirror changes only after that batch succeeded. The mirror is a
 * `MemoryStorage`, the model the simulator runs on, so both share one set of semantics.
 *
 * Layout (keys sort by index: fixed-width big-endian after a one-byte prefix):
 *   0x01                hard state      { term, vote, commit }
 *   0x02                snapshot meta   { index, term, conf, hasData, dataBytes, dataCrc, dataChunks }
 *   0x03 + u32 n        snapshot data   chunk n, raw bytes (checksummed as a whole by the meta record)
 *   0x04                log start       { index, term } of the entry just before the first one kept
 *   0x05                node identity   { clusterId, replicaId, incarnation, recovering }
 *   0x10 + u64 index    log entry       { index, term, data, conf? }
 * Records other than snapshot data are `crc32 (u32 BE) ‖ msgpack payload`.
 *
 * LevelDB skips a corrupt record silently on recovery and refuses every write after a failed sync,
 * so: verify everything at open (a damaged log must never vote), and treat any write error as fatal.
 *
 * Snapshot data is kept only for a state machine that keeps nothing itself (`durableIndex()` 0: the
 * simulator's and tests' machines, the in-memory FsState). A durable machine's snapshot here is its
 * meta alone (`hasData` false): the state is in the machine's own store, at or past this index.
 */
import { randomBytes } from "node:crypto";
import { crc32 } from "node:zlib";
import { ClassicLevel } from "classic-level";
import { assert } from "../common/assert.js";
import { unpack } from "./codec.js";
import {
  type ConfState,
  cloneConf,
  type Entry,
  type HardState,
  MemoryStorage,
  type Ready,
  type Snapshot,
  type SnapshotMeta,
  type Storage,
} from "./core/index.js";
import { load } from "./level-load.js";
import {
  CorruptStoreError,
  decodeRecordBody,
  encodeRecord,
  entryKey,
  HARD_STATE_KEY,
  IDENTITY_KEY,
  LOG_START_KEY,
  logStartRecord,
  type NodeIdentity,
  parseSnapMeta,
  SNAP_META_KEY,
  type SnapMetaRecord,
  StorageFailedError,
  StoreIdentityError,
  snapDataKey,
  snapDataKeyIndex,
} from "./level-records.js";

export {
  CorruptStoreError,
  encodeRecord,
  entryKey,
  LEVEL_KEYS,
  logStartRecord,
  type NodeIdentity,
  StorageFailedError,
  StoreIdentityError,
  snapDataKey,
} from "./level-records.js";

/**
 * What one persist makes durable; `canVote` (from the Ready) ends a recovery from a lost store;
 * `snapshotData`: the installed machine's bytes at the snapshot's index, for a machine that keeps
 * nothing itself (absent for a durable machine).
 */
export type PersistBatch = Pick<Ready, "hardState" | "entries" | "snapshot"> & {
  canVote?: boolean;
  snapshotData?: AsyncIterable<Uint8Array> | null;
};

/** What the driver needs beyond the core's read-only view: durable writes. */
export interface PersistentStorage extends Storage {
  /** Makes a Ready's hard state, entries and incoming snapshot durable, atomically. Throws: fatal. */
  persist(rd: PersistBatch): Promise<void>;
  /**
   * Records the application's snapshot at `index` (≤ the last durable index): its bytes, streamed, for
   * a machine that keeps nothing itself, or null for a durable machine (the meta alone).
   */
  createSnapshot(index: number, conf: ConfState, data: AsyncIterable<Uint8Array> | null): Promise<void>;
  /** Whether the stored snapshot carries the machine's bytes. */
  snapshotHasData(): boolean;
  /** The stored snapshot's bytes, chunk by chunk, checked against their checksum at the end. */
  snapshotChunks(): AsyncIterable<Uint8Array>;
  /** Drops entries up to and including `index` (≤ the snapshot index). */
  compact(index: number): Promise<void>;
  close(): Promise<void>;
  /**
   * The store was created empty by this or an earlier start and has not yet seen the end of the
   * recovery (see core/recovery.ts): the replica must start recovering, whatever its hard state says.
   */
  readonly recovering: boolean;
}

type Op = { type: "put"; key: Uint8Array; value: Uint8Array } | { type: "del"; key: Uint8Array };

const put = (key: Uint8Array, value: Uint8Array): Op => ({ type: "put", key, value });
const del = (key: Uint8Array): Op => ({ type: "del", key });

/**
 * The ops that record a snapshot: its meta and (for a machine that keeps nothing) its bytes, one key
 * per chunk as they come, deleting the chunks of the previous snapshot beyond the new count.
 */
async function snapshotOps(
  meta: SnapshotMeta,
  data: AsyncIterable<Uint8Array> | null,
  previousChunks: number,
): Promise<{ ops: Op[]; chunks: number; hasData: boolean }> {
  const ops: Op[] = [];
  let n = 0;
  let bytes = 0;
  let crc = 0;
  if (data !== null) {
    for await (const c of data) {
      ops.push(put(snapDataKey(n++), c));
      bytes += c.byteLength;
      crc = crc32(c, crc);
    }
  }
  for (let i = n; i < previousChunks; i++) ops.push(del(snapDataKey(i)));
  const rec = {
    index: meta.index,
    term: meta.term,
    conf: meta.conf,
    hasData: data !== null,
    dataBytes: bytes,
    dataCrc: crc,
    dataChunks: n,
  };
  ops.push(put(SNAP_META_KEY, encodeRecord(rec)));
  return { ops, chunks: n, hasData: data !== null };
}

function logStartOp(index: number, term: number): Op {
  return put(LOG_START_KEY, logStartRecord(index, term));
}

export interface LevelStorageOptions {
  dir: string;
  /** The configuration a brand-new store starts with; ignored when the store already exists. */
  initialConf: ConfState;
  /** Who the configuration says this replica is: a store that says otherwise is refused. */
  identity: { clusterId: string; replicaId: number };
}

export class LevelStorage implements PersistentStorage {
  /** Set after a failed write: nothing may be written (or trusted) afterwards. */
  private failed: unknown = null;
  private writing = false;
  private closed = false;

  private constructor(
    private readonly db: ClassicLevel<Uint8Array, Uint8Array>,
    readonly dir: string,
    private readonly mirror: MemoryStorage,
    private identityRecord: NodeIdentity,
    /** The stored snapshot: whether it carries bytes, in how many chunks. */
    private snapData: { hasData: boolean; chunks: number },
  ) {}

  get identity(): Readonly<NodeIdentity> {
    return this.identityRecord;
  }

  get recovering(): boolean {
    return this.identityRecord.recovering;
  }

  /** Opens (or creates) the store and verifies it; throws CorruptStoreError on any anomaly. */
  static async open(opts: LevelStorageOptions): Promise<LevelStorage> {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(opts.dir, {
      keyEncoding: "view",
      valueEncoding: "view",
    });
    await db.open({ createIfMissing: true });
    try {
      const loaded = await load(db, opts.dir);
      let mirror = loaded?.mirror;
      let identity = loaded?.identity;
      let snapData = loaded?.snapData ?? { hasData: false, chunks: 0 };
      const want = opts.identity;
      if (identity && (identity.clusterId !== want.clusterId || identity.replicaId !== want.replicaId)) {
        throw new StoreIdentityError(opts.dir, identity, want);
      }
      if (!mirror) {
        // An empty store: the first start of a new cluster, or a replica that lost its disk. It cannot
        // tell which, so it starts recovering (a brand-new cluster gets through it in one round trip).
        identity = { ...want, incarnation: randomBytes(8).toString("hex"), recovering: true };
        const hs: HardState = { term: 0, vote: 0, commit: 0 };
        const meta: SnapshotMeta = { index: 0, term: 0, conf: cloneConf(opts.initialConf) };
        const snapOps = await snapshotOps(meta, null, 0);
        const ops = [
          ...snapOps.ops,
          logStartOp(0, 0),
          put(IDENTITY_KEY, encodeRecord(identity)),
          put(HARD_STATE_KEY, encodeRecord(hs)),
        ];
        await db.batch(ops, { sync: true });
        mirror = new MemoryStorage(meta.conf);
        snapData = { hasData: false, chunks: 0 };
      } else if (!identity) {
        // A store written before node identities: its log is intact (it was verified), so it adopts one.
        identity = { ...want, incarnation: randomBytes(8).toString("hex"), recovering: false };
        await db.batch([put(IDENTITY_KEY, encodeRecord(identity))], { sync: true });
      }
      return new LevelStorage(db, opts.dir, mirror, identity, snapData);
    } catch (err) {
      await db.close();
      throw err;
    }
  }

  // ---------------------------------------------------------------- Storage (from the mirror)

  initialState(): { hardState: HardState; conf: ConfState } {
    return this.mirror.initialState();
  }
  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.mirror.entries(lo, hi, maxBytes);
  }
  term(i: number): number | undefined {
    return this.mirror.term(i);
  }
  firstIndex(): number {
    return this.mirror.firstIndex();
  }
  lastIndex(): number {
    return this.mirror.lastIndex();
  }
  snapshot(): Snapshot {
    return this.mirror.snapshot();
  }

  snapshotHasData(): boolean {
    return this.snapData.hasData;
  }

  async *snapshotChunks(): AsyncIterable<Uint8Array> {
    const want = this.snapData.chunks;
    const expected = await this.readSnapMeta();
    let crc = 0;
    let n = 0;
    for await (const [key, value] of this.db.iterator({ gte: snapDataKey(0), lt: snapDataKey(want) })) {
      if (snapDataKeyIndex(key) !== n)
        throw new CorruptStoreError(this.dir, `snapshot chunk ${n} is missing`);
      crc = crc32(value, crc);
      n++;
      yield value;
    }
    if (n !== want || crc !== expected.dataCrc)
      throw new CorruptStoreError(this.dir, "snapshot data fails its checksum");
  }

  private async readSnapMeta(): Promise<SnapMetaRecord> {
    const rec = await this.db.get(SNAP_META_KEY);
    const body = rec === undefined ? undefined : decodeRecordBody(rec);
    if (!body) throw new CorruptStoreError(this.dir, "snapshot meta record fails its checksum");
    return parseSnapMeta(unpack(body));
  }

  // ---------------------------------------------------------------- writes

  async persist(rd: PersistBatch): Promise<void> {
    const m = this.mirror;
    const ops: Op[] = [];
    let sync = false;
    // The recovery's end goes in the same batch as the term and vote that end it (see Ready.canVote).
    const recovered = this.identityRecord.recovering && rd.canVote === true;
    if (recovered) {
      ops.push(put(IDENTITY_KEY, encodeRecord({ ...this.identityRecord, recovering: false })));
      sync = true;
    }
    let first = m.firstIndex();
    let last = m.lastIndex();
    let snapIndex = m.snapshot().meta.index;
    const snap = rd.snapshot && rd.snapshot.meta.index > snapIndex ? rd.snapshot : null;
    let snapData = this.snapData;
    if (snap) {
      // The leader's snapshot replaces the whole log, divergent tail included.
      for (let i = first; i <= last; i++) ops.push(del(entryKey(i)));
      const s = await snapshotOps(snap.meta, rd.snapshotData ?? null, this.snapData.chunks);
      snapData = { hasData: s.hasData, chunks: s.chunks };
      ops.push(...s.ops, logStartOp(snap.meta.index, snap.meta.term));
      snapIndex = snap.meta.index;
      first = snapIndex + 1;
      last = snapIndex;
      sync = true;
    }
    const ents = rd.entries;
    const lastNew = ents.length > 0 ? ents[ents.length - 1]!.index : 0;
    if (ents.length > 0 && lastNew >= first) {
      const fresh = ents[0]!.index < first ? ents.slice(first - ents[0]!.index) : ents;
      const from = fresh[0]!.index;
      assert(from <= last + 1, `gap in log: append at ${from}, last ${last}`);
      assert(from > snapIndex, `append at ${from} would overwrite snapshot ${snapIndex}`);
      for (const e of fresh) ops.push(put(entryKey(e.index), encodeRecord(entryRecord(e))));
      // A new batch replaces everything after its start: drop the stale (older-term) suffix.
      for (let i = lastNew + 1; i <= last; i++) ops.push(del(entryKey(i)));
      sync = true;
    }
    if (rd.hardState) {
      const hs = rd.hardState;
      ops.push(put(HARD_STATE_KEY, encodeRecord({ term: hs.term, vote: hs.vote, commit: hs.commit })));
      // Like etcd's MustSync: term and vote must be durable before any reply; a commit-only change
      // need not be (a lost commit index is learned again from the leader), and LevelDB writes land in
      // order, so it is never durable ahead of the entries it covers.
      const prev = m.initialState().hardState;
      if (hs.term !== prev.term || hs.vote !== prev.vote) sync = true;
    }
    if (ops.length === 0) return;
    if (!sync && ops.length === 1 && rd.hardState) {
      // Only the commit index moved: not worth a write of its own (it rides along with the next
      // entries or vote, and after a crash the leader tells it again).
      m.setHardState(rd.hardState);
      return;
    }
    await this.write(ops, sync);
    if (recovered) this.identityRecord = { ...this.identityRecord, recovering: false };
    if (snap) {
      m.applySnapshot(snap);
      this.snapData = snapData;
    }
    if (ents.length > 0) m.append(ents);
    if (rd.hardState) m.setHardState(rd.hardState);
  }

  async createSnapshot(
    index: number,
    conf: ConfState,
    data: AsyncIterable<Uint8Array> | null,
  ): Promise<void> {
    const m = this.mirror;
    assert(index <= m.lastIndex(), `snapshot index ${index} past last index ${m.lastIndex()}`);
    if (index <= m.snapshot().meta.index) return;
    const term = m.term(index);
    assert(term !== undefined, `snapshot index ${index} was compacted`);
    const s = await snapshotOps({ index, term, conf }, data, this.snapData.chunks);
    // The log may have moved while the bytes were read; the index stays within it (compaction and
    // snapshots run between Ready cycles, one at a time).
    assert(m.term(index) === term, `snapshot index ${index} changed term while its bytes were read`);
    await this.write(s.ops, true);
    this.snapData = { hasData: s.hasData, chunks: s.chunks };
    m.createSnapshot(index, conf);
  }

  async compact(index: number): Promise<void> {
    const m = this.mirror;
    const start = m.firstIndex() - 1;
    if (index <= start) return;
    assert(index <= m.snapshot().meta.index, `compact(${index}) past snapshot ${m.snapshot().meta.index}`);
    const term = m.term(index);
    assert(term !== undefined, `compact(${index}): no term`);
    // The new log start first, then the entries behind it go in one range delete (run by LevelDB off
    // the JS thread; a delete per key cost thousands of calls per compaction). A crash in between
    // leaves entries below the log start, which the loader skips and the next compaction removes.
    await this.write([logStartOp(index, term)], true);
    await this.guarded(() => this.db.clear({ gte: entryKey(0), lte: entryKey(index) }));
    m.compact(index);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }

  private write(ops: Op[], sync: boolean): Promise<void> {
    return this.guarded(() => {
      // A chained batch, not db.batch(array): abstract-level clones and re-validates every element of
      // an array batch, which measured here at ~3× the CPU of the same writes chained (~180 against
      // ~55 µs for 15 entries) and was the largest item in a follower's profile.
      const batch = this.db.batch();
      for (const op of ops) {
        if (op.type === "put") batch.put(op.key, op.value);
        else batch.del(op.key);
      }
      return batch.write({ sync });
    });
  }

  /** Runs one write; any failure is fatal and makes every later write fail too. */
  private async guarded(writeOp: () => Promise<void>): Promise<void> {
    if (this.failed !== null) throw new StorageFailedError(this.dir, this.failed);
    assert(!this.closed, "write to a closed raft store");
    assert(!this.writing, "raft store writes must not overlap");
    this.writing = true;
    try {
      await writeOp();
    } catch (err) {
      this.failed = err;
      throw new StorageFailedError(this.dir, err);
    } finally {
      this.writing = false;
    }
  }
}

function entryRecord(e: Entry): Record<string, unknown> {
  const r: Record<string, unknown> = { index: e.index, term: e.term, data: e.data };
  if (e.conf) r.conf = e.conf;
  return r;
}
