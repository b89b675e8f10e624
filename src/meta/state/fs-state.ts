/**
 * The file-system state machine. Every metadata replica applies the same entries in the same order and
 * must end in the same state: no clock (time is `max(lastTimestampMs, entry.timestampMs)`, since a new
 * leader's clock may lag), no randomness, no I/O, and no Map/Set iteration order reaching any output.
 *
 * Per entry: advance index and time, expire a bounded number of idle sessions, validate the command,
 * route it through its session (exactly-once), run it over its own overlay (all-or-nothing: a failure
 * drops the overlay), and on success sweep a bounded number of expired leases. A failed command changes
 * only session bookkeeping (the remembered result, its activity) and `lastAppliedIndex`/`lastTimestampMs`.
 *
 * The namespace and chunk tables live in a StateStore (store.ts, key layout in records.ts): each entry's
 * writes, with the meta record holding the applied index, reach the store in one `commit`. Locks,
 * sessions and the data-node registry are bounded tables (FsStateOptions) kept in memory.
 */
import { assert } from "../../common/assert.js";
import { DfsError } from "../../common/errors.js";
import { normalizePath, ROOT_PATH } from "../../common/paths.js";
import { setAttrs } from "./attrs.js";
import { ChunkMirror } from "./chunk-mirror.js";
import { byTime, ChunkReader, ChunkRefs } from "./chunks.js";
import type { Command, LogEntry } from "./commands.js";
import { DataNodeRegistry } from "./data-nodes.js";
import { dropVersion } from "./drop-version.js";
import { hashValue, snapshotPartHashes } from "./hash.js";
import { type Holding, holderInfo, LockTable } from "./locks.js";
import { MemoryStore } from "./memory-store.js";
import { Namespace, NamespaceReader } from "./namespace.js";
import { applyNamespaceOp, chargeRename, type OpContext } from "./ops.js";
import type { Outcome } from "./outcome.js";
import * as queries from "./queries.js";
import {
  checkUsage,
  clearQuota,
  dumpQuotas,
  loadQuotas,
  type QuotaInfo,
  QuotaReader,
  QuotaTable,
  quotaInfo,
  setQuota,
} from "./quotas.js";
import {
  decode,
  encode,
  type InodeRec,
  inodeKey,
  META_KEY,
  type MetaRec,
  ROOT_INODE,
  TABLES_KEY,
} from "./records.js";
import { Retirements } from "./retirements.js";
import { SessionTable } from "./sessions.js";
import { checkStore, dumpGarbage, dumpNodes, loadSnapshot, tombstoneEntries } from "./state-dump.js";
import { hasSyncScan, Overlay, type StateStore, type SyncScanStore, type WriteSet } from "./store.js";
import { applyTxn } from "./txn.js";
import type {
  ApplyResult,
  BatchEntryResult,
  BreakLockResult,
  Change,
  DataNodeRecord,
  DataNodeState,
  FsSnapshot,
  FsStateOptions,
  GarbageChunk,
  ListEntry,
  LockHoldingSnapshot,
  LockInfo,
  RetirementRecord,
  SessionSnapshot,
  StatResult,
  VersionInfo,
} from "./types.js";
import { recountUsageIfMissingSync } from "./usage-recount.js";

/** The bounded tables as one record (see `tablesWrite`). */
interface TablesRec {
  locks: LockHoldingSnapshot[];
  dataNodes: DataNodeRecord[];
  retiredDataNodes: RetirementRecord[];
  sessions: SessionSnapshot[];
}

import { type ResolvedOptions, resolveOptions } from "./options.js";
import { parseCommand } from "./validate.js";

export const MAX_RESULTS_PER_SESSION = 1000;
/** Bounded housekeeping per entry; idle sessions and expired leases drain over the following entries. */
const SESSIONS_EXPIRED_PER_ENTRY = 16;
const LEASES_SWEPT_PER_ENTRY = 16;

function failure(err: unknown): ApplyResult {
  if (!(err instanceof DfsError)) throw err;
  return { ok: false, error: err.toJSON(), changes: [] };
}

function unlockChange(index: number, h: Holding): Change {
  return { index, path: h.path, kind: "unlock" };
}

/** The records a fresh store starts with: the root directory (times 0: it predates every entry). */
function initialWrites(): Map<string, Uint8Array> {
  const root: InodeRec = { t: "d", c: 0, m: 0, n: 0, h: null, lo: 0, hi: 0, s: 0 };
  const meta: MetaRec = { a: 0, ts: 0, ni: ROOT_INODE + 1, th: null, tt: null, uq: 1 };
  return new Map([
    [inodeKey(ROOT_INODE), encode(root)],
    [META_KEY, encode(meta)],
  ]);
}

export class FsState {
  private readonly opts: ResolvedOptions;
  readonly store: StateStore;
  private lockTable: LockTable;
  private sessions: SessionTable;
  private registry: DataNodeRegistry;
  private retirements: Retirements;
  private appliedIndex = 0;
  private timestampMs = 0;
  /** The chunk tables the leader's duties read every round (see ChunkMirror), built on first use. */
  private chunkMirror: ChunkMirror | null = null;

  /** Opens the state over `store` (a fresh in-memory one by default), resuming from its meta record. */
  constructor(opts: FsStateOptions, store: StateStore = new MemoryStore()) {
    this.opts = resolveOptions(opts);
    this.store = store;
    const metaBytes = store.get(META_KEY);
    if (metaBytes === undefined) store.commit(initialWrites(), 0);
    else {
      recountUsageIfMissingSync(store);
      const meta = decode<MetaRec>(metaBytes);
      this.appliedIndex = meta.a;
      this.timestampMs = meta.ts;
    }
    const tablesBytes = store.get(TABLES_KEY);
    const t: TablesRec =
      tablesBytes === undefined
        ? { locks: [], dataNodes: [], retiredDataNodes: [], sessions: [] }
        : decode<TablesRec>(tablesBytes);
    this.lockTable = LockTable.fromSnapshot(t.locks, this.opts.maxLockHoldings);
    this.sessions = SessionTable.fromSnapshot(t.sessions, this.sessionLimits());
    this.registry = DataNodeRegistry.fromSnapshot(t.dataNodes, this.opts.maxDataNodes);
    this.retirements = Retirements.fromSnapshot(t.retiredDataNodes, this.opts.maxDataNodes);
  }

  /**
   * The bounded in-memory tables as one write, as of the last applied entry. A durable store adds it to
   * each batch it cuts (once per group commit, not per entry: the tables are bounded by FsStateOptions,
   * but rewriting them per entry would cost O(table) each), so the batch that records applied index N
   * holds the tables as of N, and a restart finds them consistent with the namespace.
   */
  tablesWrite(): WriteSet {
    const rec: TablesRec = {
      locks: this.lockTable.toSnapshot(),
      dataNodes: this.registry.toSnapshot(),
      retiredDataNodes: this.retirements.list(),
      sessions: this.sessions.toSnapshot(),
    };
    return new Map([[TABLES_KEY, encode(rec)]]);
  }

  get lastAppliedIndex(): number {
    return this.appliedIndex;
  }

  /** The effective time of the last applied entry: never decreases. */
  get lastTimestampMs(): number {
    return this.timestampMs;
  }

  get sessionCount(): number {
    return this.sessions.count;
  }

  apply(entry: LogEntry): ApplyResult {
    const entryTx = new Overlay(this.store);
    const result = this.applyTo(entryTx, entry);
    const metaBytes = entryTx.get(META_KEY);
    assert(metaBytes !== undefined, "the meta record exists");
    const meta: MetaRec = { ...decode<MetaRec>(metaBytes), a: this.appliedIndex, ts: this.timestampMs };
    entryTx.put(META_KEY, encode(meta));
    const writes = entryTx.take();
    this.chunkMirror?.update(writes);
    this.store.commit(writes, entry.index);
    return result;
  }

  /** Entry `index` carried no command (a no-op or configuration entry): only the applied index moves. */
  skip(index: number): void {
    assert(Number.isSafeInteger(index) && index > this.appliedIndex, "entries apply in index order");
    this.appliedIndex = index;
    const tx = new Overlay(this.store);
    const metaBytes = tx.get(META_KEY);
    assert(metaBytes !== undefined, "the meta record exists");
    tx.put(META_KEY, encode({ ...decode<MetaRec>(metaBytes), a: index, ts: this.timestampMs }));
    this.store.commit(tx.take(), index);
  }

  private applyTo(entryTx: Overlay, entry: LogEntry): ApplyResult {
    assert(
      Number.isSafeInteger(entry.index) && entry.index > this.appliedIndex,
      "entries apply in index order",
    );
    assert(
      Number.isSafeInteger(entry.timestampMs) && entry.timestampMs >= 0,
      "entry timestamps are integer ms",
    );
    const nowMs = Math.max(this.timestampMs, entry.timestampMs);
    this.appliedIndex = entry.index;
    this.timestampMs = nowMs;
    this.sessions.expireIdle(nowMs, SESSIONS_EXPIRED_PER_ENTRY);

    let command: Command;
    try {
      command = parseCommand(entry.command);
    } catch (err) {
      return failure(err);
    }
    if (command.type === "leaderChanged") {
      const expired = this.lockTable.restartAll(nowMs);
      this.sessions.restartAll(nowMs);
      return { ok: true, value: null, changes: expired.map((h) => unlockChange(entry.index, h)) };
    }
    if (command.type === "batch") {
      // In order, each as if alone at this index: its own session check, result and changes.
      const results = command.commands.map((c) => this.applyCommand(entryTx, c, entry.index, nowMs));
      const value: BatchEntryResult = results.map((r) =>
        r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error },
      );
      return { ok: true, value, changes: results.flatMap((r) => r.changes) };
    }
    return this.applyCommand(entryTx, command, entry.index, nowMs);
  }

  /** One client request: exactly once per session sequence number, then executed all-or-nothing. */
  private applyCommand(entryTx: Overlay, command: Command, index: number, nowMs: number): ApplyResult {
    const ref = "session" in command ? command.session : undefined;
    if (ref === undefined) return this.execute(entryTx, command, index, nowMs);

    // A wrong secret is refused before the session is touched: no cached answer, no acknowledgement.
    let session: ReturnType<SessionTable["authenticate"]>;
    try {
      session = this.sessions.authenticate(ref.id, ref.secretHash, nowMs);
    } catch (err) {
      return failure(err);
    }
    const check = this.sessions.check(session, ref);
    if (check.kind === "replay") {
      const { cmd, ...stored } = check.result;
      // A sequence number names one request: another request under it would get an answer of the
      // wrong kind (the API could not even encode it), so it is refused, touching nothing.
      if (cmd !== undefined && cmd !== command.type) {
        return failure(
          new DfsError(
            "BAD_REQUEST",
            `sequence ${ref.seq} was used by a ${cmd} request: a retry repeats the same request`,
            { seq: ref.seq },
          ),
        );
      }
      return { ...stored, changes: [] };
    }
    if (check.kind === "acked") {
      return failure(
        new DfsError("BAD_REQUEST", `sequence ${ref.seq} already acknowledged`, { seq: ref.seq }),
      );
    }
    const result = this.execute(entryTx, command, index, nowMs);
    this.sessions.store(
      session,
      ref.seq,
      result.ok
        ? { ok: true, value: result.value, cmd: command.type }
        : { ok: false, error: result.error, cmd: command.type },
    );
    return result;
  }

  /** Runs one command all-or-nothing; on success, sweeps expired leases into the same entry's changes. */
  private execute(entryTx: Overlay, command: Command, index: number, nowMs: number): ApplyResult {
    const tx = new Overlay(entryTx);
    let out: Outcome;
    try {
      out = this.run(tx, command, index, nowMs);
    } catch (err) {
      // The overlay is dropped: nothing it holds reaches the store.
      return failure(err);
    }
    tx.mergeInto(entryTx);
    const swept = this.lockTable.sweep(nowMs, LEASES_SWEPT_PER_ENTRY);
    return {
      ok: true,
      value: out.value,
      changes: [...out.changes, ...swept.map((h) => unlockChange(index, h))],
    };
  }

  private run(tx: Overlay, command: Command, index: number, nowMs: number): Outcome {
    const none: Change[] = [];
    switch (command.type) {
      case "noop":
      case "leaderChanged":
        return { value: null, changes: none };
      case "batch":
        // applyTo runs a batch's commands one by one; a batch never reaches here.
        throw new Error("a batch is not one command");
      case "openSession":
        this.sessions.open(index, command.secretHash, command.client ?? "", nowMs);
        return { value: { sessionId: index, timeoutMs: this.opts.sessionTimeoutMs }, changes: none };
      case "keepAlive":
        this.sessions.authenticate(command.sessionId, command.secretHash, nowMs);
        return { value: { sessionId: command.sessionId }, changes: none };
      case "closeSession":
        this.sessions.close(command.sessionId, command.secretHash, nowMs);
        return { value: { sessionId: command.sessionId }, changes: none };
      case "mkdir":
      case "symlink":
      case "commit":
      case "rename":
      case "delete":
        return applyNamespaceOp(this.opContext(tx, index, nowMs, command.session.id), command);
      case "setAttrs":
        return setAttrs(this.opContext(tx, index, nowMs, command.session.id), command);
      case "dropVersion":
        return dropVersion(this.opContext(tx, index, nowMs, command.session.id), command);
      case "txn":
        return applyTxn(this.opContext(tx, index, nowMs, command.session.id), command);
      case "lockAcquire": {
        const { holding, expired } = this.lockTable.acquire(
          { ...command, sessionId: command.session.id, token: index },
          nowMs,
        );
        return {
          value: { token: holding.token, expiresAtMs: holding.expiresAtMs },
          changes: [
            ...expired.map((h) => unlockChange(index, h)),
            { index, path: command.path, kind: "lock" },
          ],
        };
      }
      case "lockRenew": {
        const h = this.lockTable.renew(command.path, command.token, command.session.id, nowMs);
        return { value: { expiresAtMs: h.expiresAtMs }, changes: none };
      }
      case "lockRelease":
        this.lockTable.release(command.path, command.token, command.session.id, nowMs);
        return { value: { released: true }, changes: [{ index, path: command.path, kind: "unlock" }] };
      case "breakLock": {
        const broken = this.lockTable.breakPath(command.path);
        const value: BreakLockResult = { path: command.path, broken: broken.map(holderInfo) };
        return { value, changes: broken.length > 0 ? [unlockChange(index, broken[0] as Holding)] : none };
      }
      case "setQuota":
        return { value: setQuota(new NamespaceReader(tx), new QuotaTable(tx), command), changes: none };
      case "clearQuota":
        return {
          value: clearQuota(new NamespaceReader(tx), new QuotaTable(tx), command.path),
          changes: none,
        };
      case "registerDataNode":
        return { value: this.registry.upsert(command, nowMs), changes: none };
      case "removeDataNode":
        this.registry.remove(command.id);
        return { value: { removed: true }, changes: none };
      case "drainDataNode":
        return { value: this.retirements.drain(command.nodeId, nowMs), changes: none };
      case "retireDataNode":
        return { value: this.retirements.remove(command.nodeId, nowMs), changes: none };
      case "collectGarbage":
        return {
          value: { removed: new ChunkRefs(tx).condemn(command.chunkIds, command.beforeMs, nowMs) },
          changes: none,
        };
      case "reviveChunks":
        return { value: { revived: new ChunkRefs(tx).revive(command.chunkIds) }, changes: none };
      case "abandonChunks":
        return { value: { added: new ChunkRefs(tx).abandon(command.chunkIds, nowMs) }, changes: none };
      case "forgetTombstones":
        return { value: { forgotten: new ChunkRefs(tx).forgetTombstones(command.beforeMs) }, changes: none };
    }
  }

  private opContext(tx: Overlay, index: number, nowMs: number, sessionId: number): OpContext {
    return {
      index,
      nowMs,
      sessionId,
      versionsRetained: this.opts.versionsRetained,
      ns: new Namespace(tx),
      chunks: new ChunkRefs(tx),
      locks: this.lockTable,
      quotas: new QuotaTable(tx),
      maxRenameEntries: this.opts.maxRenameEntries,
      renamedEntries: { count: 0 },
    };
  }

  /**
   * The leader's check before proposing: refuses a rename (or txn) that would move more than
   * `maxRenameEntries` entries as the state stands, so it never reaches the log. Apply checks again
   * (a txn's earlier ops, or entries committed meanwhile, may change the count).
   */
  checkRenameBound(command: Command): void {
    // A retry of a request already applied gets its first result back, whatever the tree is now.
    const ref = "session" in command ? command.session : undefined;
    if (ref !== undefined && this.sessions.hasResult(ref.id, ref.seq)) return;
    const ctx = {
      ns: this.reader(),
      maxRenameEntries: this.opts.maxRenameEntries,
      renamedEntries: { count: 0 },
    };
    if (command.type === "rename") chargeRename(ctx, command.from);
    if (command.type !== "txn") return;
    command.ops.forEach((op, opIndex) => {
      if (op.type !== "rename") return;
      try {
        chargeRename(ctx, op.from);
      } catch (err) {
        if (!(err instanceof DfsError)) throw err;
        throw new DfsError(err.code, `op ${opIndex} (rename): ${err.message}`, { ...err.details, opIndex });
      }
    });
  }

  private sessionLimits() {
    return {
      timeoutMs: this.opts.sessionTimeoutMs,
      maxSessions: this.opts.maxSessions,
      maxSessionsPerClient: this.opts.maxSessionsPerClient,
      maxResultsPerSession: MAX_RESULTS_PER_SESSION,
    };
  }

  private reader(): NamespaceReader {
    return new NamespaceReader(this.store);
  }

  /** The in-memory store, for the queries and checks that scan synchronously. */
  private syncStore(): SyncScanStore {
    const store = this.store;
    assert(hasSyncScan(store), "this query scans synchronously: only over an in-memory store");
    return store;
  }

  // ---- queries (as of the last applied entry; lease liveness judged at lastTimestampMs) ----

  stat(path: string): StatResult {
    return queries.stat(this.reader(), this.lockTable, path, this.timestampMs);
  }

  list(path: string, opts?: queries.ListOptions): ListEntry[] {
    const store = this.syncStore();
    return queries.list(this.reader(), (r) => store.scanSync(r), path, opts);
  }

  /** A page of a directory over any store (the LevelDB one scans asynchronously). */
  listAsync(path: string, opts?: queries.ListOptions): Promise<ListEntry[]> {
    return queries.listAsync(this.reader(), (r) => this.store.scan(r), path, opts);
  }

  versions(path: string): VersionInfo[] {
    return queries.versions(this.reader(), path);
  }

  readVersion(path: string, version?: number): ReturnType<typeof queries.readVersion> {
    return queries.readVersion(this.reader(), path, version);
  }

  /** The quota and usage of a top-level directory. */
  quota(path: string): QuotaInfo {
    return quotaInfo(this.reader(), new QuotaReader(this.store), normalizePath(path));
  }

  /** Live leases at or below `path` (all without one), sorted by path then token. */
  locks(path?: string): LockInfo[] {
    const p = path === undefined ? undefined : normalizePath(path);
    return this.lockTable.list(p, this.timestampMs).map(holderInfo);
  }

  dataNodes(): DataNodeRecord[] {
    return this.registry.list();
  }

  /** A data node's place in the decommission lifecycle ("active" unless drained or removed). */
  dataNodeState(nodeId: number): DataNodeState | "active" {
    return this.retirements.stateOf(nodeId);
  }

  retiredDataNodes(): RetirementRecord[] {
    return this.retirements.list();
  }

  /**
   * Builds the chunk tables by an asynchronous scan: a store that cannot scan synchronously (LevelDB)
   * must have them before the first entry is applied after opening.
   */
  async loadChunkTables(): Promise<void> {
    this.chunkMirror = await ChunkMirror.fromScan(this.store);
  }

  private mirror(): ChunkMirror {
    this.chunkMirror ??= ChunkMirror.fromSync(this.syncStore());
    return this.chunkMirror;
  }

  /** Chunk → reference count, for every referenced chunk: live and read-only (kept current per entry). */
  referencedChunks(): ReadonlyMap<string, number> {
    return this.mirror().refs;
  }

  /** Size of a chunk referenced by some version (undefined for unknown ones). */
  chunkSize(chunkId: string): number | undefined {
    return new ChunkReader(this.store).sizeOf(chunkId);
  }

  garbageChunks(): GarbageChunk[] {
    return byTime(this.mirror().garbage);
  }

  /** Collected chunks (see ChunkRefs.condemn): the leader deletes them, and revives re-stored ones. */
  tombstones(): GarbageChunk[] {
    return byTime(this.mirror().tombstones);
  }

  /** The same as a map, live and read-only (the leader's duties read it every round). */
  tombstoneMap(): ReadonlyMap<string, number> {
    return this.mirror().tombstones;
  }

  // ---- snapshot, hash, checks (O(state), over the in-memory store) ----

  /** The whole state as plain data that shares nothing with the live state. */
  snapshot(): FsSnapshot {
    const store = this.syncStore();
    return {
      format: 1,
      lastAppliedIndex: this.appliedIndex,
      lastTimestampMs: this.timestampMs,
      nodes: dumpNodes(store),
      garbage: dumpGarbage(store),
      tombstones: byTime(tombstoneEntries(store)),
      locks: this.lockTable.toSnapshot(),
      dataNodes: this.registry.toSnapshot(),
      retiredDataNodes: this.retirements.list(),
      sessions: this.sessions.toSnapshot(),
      quotas: dumpQuotas(store),
    };
  }

  /** The same (read from the store, it shares nothing anyway): encode it at once. */
  snapshotForEncoding(): FsSnapshot {
    return this.snapshot();
  }

  static restore(snap: FsSnapshot, opts: FsStateOptions): FsState {
    assert(snap.format === 1, "snapshot: known format");
    assert(Number.isSafeInteger(snap.lastAppliedIndex) && snap.lastAppliedIndex >= 0, "snapshot: index");
    assert(Number.isSafeInteger(snap.lastTimestampMs) && snap.lastTimestampMs >= 0, "snapshot: timestamp");
    const store = new MemoryStore();
    store.commit(initialWrites(), 0);
    const tx = new Overlay(store);
    loadSnapshot(tx, snap.nodes, snap.garbage, snap.tombstones ?? []);
    loadQuotas(tx, snap.nodes, snap.quotas ?? []);
    const metaBytes = tx.get(META_KEY);
    assert(metaBytes !== undefined, "the meta record exists");
    const meta = decode<MetaRec>(metaBytes);
    tx.put(META_KEY, encode({ ...meta, a: snap.lastAppliedIndex, ts: snap.lastTimestampMs }));
    store.commit(tx.take(), snap.lastAppliedIndex);
    const s = new FsState(opts, store);
    s.lockTable = LockTable.fromSnapshot(snap.locks, s.opts.maxLockHoldings);
    s.registry = DataNodeRegistry.fromSnapshot(snap.dataNodes, s.opts.maxDataNodes);
    s.retirements = Retirements.fromSnapshot(snap.retiredDataNodes ?? [], s.opts.maxDataNodes);
    s.sessions = SessionTable.fromSnapshot(snap.sessions, s.sessionLimits());
    return s;
  }

  /** A digest of the whole state (including sessions and the applied index), equal across replicas. */
  stateHash(): string {
    return hashValue(this.snapshot());
  }

  /** Digests of each part, to tell which part diverged, or to ignore session bookkeeping in tests. */
  partHashes(): Record<"meta" | "namespace" | "garbage" | "locks" | "dataNodes" | "sessions", string> {
    return snapshotPartHashes(this.snapshot());
  }

  /** For tests and debugging: checks every derived record against a recount. O(state). */
  checkInvariants(): void {
    const store = this.syncStore();
    checkStore(store);
    this.chunkMirror?.checkAgainst(store);
    checkUsage(store, dumpNodes(store));
    assert(this.reader().get(ROOT_PATH)?.rec.t === "d", "the root is a directory");
    this.lockTable.checkInvariants(this.timestampMs);
  }
}
