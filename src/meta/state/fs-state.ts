/**
 * The file-system state machine. Every metadata replica applies the same entries in the same order and
 * must end in the same state: no clock (time is `max(lastTimestampMs, entry.timestampMs)`, since a new
 * leader's clock may lag), no randomness, no I/O, and no Map/Set iteration order reaching any output.
 *
 * Per entry: advance index and time, expire a bounded number of idle sessions, validate the command,
 * route it through its session (exactly-once), run it inside the journal (all-or-nothing), and on
 * success sweep a bounded number of expired leases. A failed command changes nothing but session
 * bookkeeping (the remembered result, the session's activity) and `lastAppliedIndex`/`lastTimestampMs`.
 */
import { assert } from "../../common/assert.js";
import { DfsError } from "../../common/errors.js";
import { baseName, joinPath, normalizePath, parentOf, ROOT_PATH } from "../../common/paths.js";
import { ChunkRefs } from "./chunks.js";
import type { Command, FileContent, LogEntry } from "./commands.js";
import { DataNodeRegistry } from "./data-nodes.js";
import { hashValue } from "./hash.js";
import { Journal } from "./journal.js";
import { type Holding, holderInfo, LockTable } from "./locks.js";
import { latestVersion, Namespace } from "./namespace.js";
import { applyNamespaceOp, chargeRename, chunksOf, type OpContext } from "./ops.js";
import type { Outcome } from "./outcome.js";
import * as queries from "./queries.js";
import { Retirements } from "./retirements.js";
import { SessionTable } from "./sessions.js";
import { applyTxn } from "./txn.js";
import type {
  ApplyResult,
  BreakLockResult,
  Change,
  DataNodeRecord,
  DataNodeState,
  FsSnapshot,
  FsStateOptions,
  GarbageChunk,
  ListEntry,
  LockInfo,
  RetirementRecord,
  StatResult,
  VersionInfo,
} from "./types.js";
import { parseCommand } from "./validate.js";

const DEFAULT_MAX_SESSIONS = 10_000;
const DEFAULT_MAX_SESSIONS_PER_CLIENT = 1_000;
const DEFAULT_MAX_LOCK_HOLDINGS = 65_536;
const DEFAULT_MAX_DATA_NODES = 10_000;
export const DEFAULT_MAX_RENAME_ENTRIES = 10_000;
export const MAX_RESULTS_PER_SESSION = 1000;
/** Bounded housekeeping per entry; idle sessions and expired leases drain over the following entries. */
const SESSIONS_EXPIRED_PER_ENTRY = 16;
const LEASES_SWEPT_PER_ENTRY = 16;

type ResolvedOptions = Required<FsStateOptions>;

function resolveOptions(opts: FsStateOptions): ResolvedOptions {
  const o: ResolvedOptions = {
    versionsRetained: opts.versionsRetained,
    sessionTimeoutMs: opts.sessionTimeoutMs,
    maxSessions: opts.maxSessions ?? DEFAULT_MAX_SESSIONS,
    maxSessionsPerClient: opts.maxSessionsPerClient ?? DEFAULT_MAX_SESSIONS_PER_CLIENT,
    maxLockHoldings: opts.maxLockHoldings ?? DEFAULT_MAX_LOCK_HOLDINGS,
    maxDataNodes: opts.maxDataNodes ?? DEFAULT_MAX_DATA_NODES,
    maxRenameEntries: opts.maxRenameEntries ?? DEFAULT_MAX_RENAME_ENTRIES,
  };
  for (const [k, v] of Object.entries(o))
    assert(Number.isSafeInteger(v) && v >= 1, `FsState option ${k} ≥ 1`);
  return o;
}

function failure(err: unknown): ApplyResult {
  if (!(err instanceof DfsError)) throw err;
  return { ok: false, error: err.toJSON(), changes: [] };
}

function unlockChange(index: number, h: Holding): Change {
  return { index, path: h.path, kind: "unlock" };
}

export class FsState {
  private readonly opts: ResolvedOptions;
  private readonly journal = new Journal();
  private ns: Namespace;
  private chunks: ChunkRefs;
  private lockTable: LockTable;
  private sessions: SessionTable;
  private registry: DataNodeRegistry;
  private retirements: Retirements;
  private appliedIndex = 0;
  private timestampMs = 0;

  constructor(opts: FsStateOptions) {
    this.opts = resolveOptions(opts);
    this.ns = new Namespace(this.journal);
    this.chunks = new ChunkRefs(this.journal);
    this.lockTable = new LockTable(this.opts.maxLockHoldings);
    this.sessions = new SessionTable(this.sessionLimits());
    this.registry = new DataNodeRegistry(this.opts.maxDataNodes);
    this.retirements = new Retirements(this.opts.maxDataNodes);
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
    const ref = "session" in command ? command.session : undefined;
    if (ref === undefined) return this.execute(command, entry.index, nowMs);

    // A wrong secret is refused before the session is touched: no cached answer, no acknowledgement.
    let session: ReturnType<SessionTable["authenticate"]>;
    try {
      session = this.sessions.authenticate(ref.id, ref.secretHash, nowMs);
    } catch (err) {
      return failure(err);
    }
    const check = this.sessions.check(session, ref);
    if (check.kind === "replay") return { ...check.result, changes: [] };
    if (check.kind === "acked") {
      return failure(
        new DfsError("BAD_REQUEST", `sequence ${ref.seq} already acknowledged`, { seq: ref.seq }),
      );
    }
    const result = this.execute(command, entry.index, nowMs);
    this.sessions.store(
      session,
      ref.seq,
      result.ok ? { ok: true, value: result.value } : { ok: false, error: result.error },
    );
    return result;
  }

  /** Runs one command all-or-nothing; on success, sweeps expired leases into the same entry's changes. */
  private execute(command: Command, index: number, nowMs: number): ApplyResult {
    this.journal.begin();
    let out: Outcome;
    try {
      out = this.run(command, index, nowMs);
    } catch (err) {
      this.journal.rollback();
      return failure(err);
    }
    this.journal.commit();
    const swept = this.lockTable.sweep(nowMs, LEASES_SWEPT_PER_ENTRY);
    return {
      ok: true,
      value: out.value,
      changes: [...out.changes, ...swept.map((h) => unlockChange(index, h))],
    };
  }

  private run(command: Command, index: number, nowMs: number): Outcome {
    const none: Change[] = [];
    switch (command.type) {
      case "noop":
      case "leaderChanged":
        return { value: null, changes: none };
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
      case "commit":
      case "rename":
      case "delete":
        return applyNamespaceOp(this.opContext(index, nowMs, command.session.id), command);
      case "txn":
        return applyTxn(this.opContext(index, nowMs, command.session.id), command);
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
          value: { removed: this.chunks.condemn(command.chunkIds, command.beforeMs, nowMs) },
          changes: none,
        };
      case "reviveChunks":
        return { value: { revived: this.chunks.revive(command.chunkIds) }, changes: none };
      case "abandonChunks":
        return { value: { added: this.chunks.abandon(command.chunkIds, nowMs) }, changes: none };
      case "forgetTombstones":
        return { value: { forgotten: this.chunks.forgetTombstones(command.beforeMs) }, changes: none };
    }
  }

  private opContext(index: number, nowMs: number, sessionId: number): OpContext {
    return {
      index,
      nowMs,
      sessionId,
      versionsRetained: this.opts.versionsRetained,
      ns: this.ns,
      chunks: this.chunks,
      locks: this.lockTable,
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
    const ctx = { ns: this.ns, maxRenameEntries: this.opts.maxRenameEntries, renamedEntries: { count: 0 } };
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

  // ---- queries (as of the last applied entry; lease liveness judged at lastTimestampMs) ----

  stat(path: string): StatResult {
    return queries.stat(this.ns, this.lockTable, path, this.timestampMs);
  }

  list(path: string, opts?: queries.ListOptions): ListEntry[] {
    return queries.list(this.ns, path, opts);
  }

  versions(path: string): VersionInfo[] {
    return queries.versions(this.ns, path);
  }

  readVersion(path: string, version?: number): VersionInfo & { content: FileContent } {
    return queries.readVersion(this.ns, path, version);
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

  referencedChunks(): ReadonlyMap<string, number> {
    return this.chunks.referenced();
  }

  /** Size of a chunk referenced by some version (undefined for unknown ones). */
  chunkSize(chunkId: string): number | undefined {
    return this.chunks.sizeOf(chunkId);
  }

  garbageChunks(): GarbageChunk[] {
    return this.chunks.garbageList();
  }

  /** Collected chunks (see ChunkRefs.condemn): the leader deletes them, and revives re-stored ones. */
  tombstones(): GarbageChunk[] {
    return this.chunks.tombstoneList();
  }

  /** The same, live and unsorted (the leader's duties read it every round; there may be millions). */
  tombstoneMap(): ReadonlyMap<string, number> {
    return this.chunks.tombstoneMap();
  }

  // ---- snapshot, hash, checks ----

  /** The whole state as plain data that shares nothing with the live state. */
  snapshot(): FsSnapshot {
    return this.buildSnapshot(false);
  }

  /** The same, sharing the immutable file versions: encode it at once; never keep or change it. */
  snapshotForEncoding(): FsSnapshot {
    return this.buildSnapshot(true);
  }

  private buildSnapshot(shareVersions: boolean): FsSnapshot {
    return {
      format: 1,
      lastAppliedIndex: this.appliedIndex,
      lastTimestampMs: this.timestampMs,
      nodes: this.ns.toSnapshot(shareVersions),
      garbage: this.chunks.toSnapshot(),
      tombstones: this.chunks.tombstoneList(),
      locks: this.lockTable.toSnapshot(),
      dataNodes: this.registry.toSnapshot(),
      retiredDataNodes: this.retirements.list(),
      sessions: this.sessions.toSnapshot(),
    };
  }

  static restore(snap: FsSnapshot, opts: FsStateOptions): FsState {
    assert(snap.format === 1, "snapshot: known format");
    assert(Number.isSafeInteger(snap.lastAppliedIndex) && snap.lastAppliedIndex >= 0, "snapshot: index");
    assert(Number.isSafeInteger(snap.lastTimestampMs) && snap.lastTimestampMs >= 0, "snapshot: timestamp");
    const s = new FsState(opts);
    s.appliedIndex = snap.lastAppliedIndex;
    s.timestampMs = snap.lastTimestampMs;
    s.ns = Namespace.fromSnapshot(snap.nodes, s.journal);
    s.chunks = ChunkRefs.fromSnapshot(snap.garbage, s.allChunkLists(), s.journal, snap.tombstones ?? []);
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
    const snap = this.snapshot();
    return {
      meta: hashValue([snap.lastAppliedIndex, snap.lastTimestampMs]),
      namespace: hashValue(snap.nodes),
      garbage: hashValue([snap.garbage, snap.tombstones]),
      locks: hashValue(snap.locks),
      dataNodes: hashValue([snap.dataNodes, snap.retiredDataNodes]),
      sessions: hashValue(snap.sessions),
    };
  }

  private *allChunkLists(): Generator<readonly { id: string; sizeBytes: number }[]> {
    for (const [, node] of this.ns.entries()) {
      if (node.type === "file") for (const v of node.versions) yield chunksOf(v.content);
    }
  }

  /** For tests and debugging: checks every derived index against a recount. O(state). */
  checkInvariants(): void {
    let linked = 0;
    for (const [path, node] of this.ns.entries()) {
      if (path !== ROOT_PATH) {
        const parent = this.ns.get(parentOf(path));
        assert(
          parent?.type === "dir" && parent.children.has(baseName(path)),
          `${path} is linked in its parent`,
        );
      }
      if (node.type === "dir") {
        linked += node.children.size;
        for (const name of node.children)
          assert(this.ns.get(joinPath(path, name)) !== undefined, `${name} exists`);
      } else {
        node.versions.forEach((v, i) => {
          assert(
            i === 0 || v.version === (node.versions[i - 1]?.version ?? 0) + 1,
            "versions are consecutive",
          );
        });
        assert(latestVersion(node).version >= node.versions.length, "versions start at 1");
      }
    }
    assert(linked === this.ns.size - 1, "every node but the root is linked exactly once");
    const recount = ChunkRefs.fromSnapshot([], this.allChunkLists(), new Journal()).referenced();
    const refs = this.chunks.referenced();
    assert(recount.size === refs.size, "refcounts: same chunks as a recount");
    for (const [id, n] of recount) assert(refs.get(id) === n, `refcount of ${id} matches a recount`);
    for (const g of this.chunks.garbageList())
      assert(!refs.has(g.chunkId), "garbage chunks are unreferenced");
    for (const t of this.chunks.tombstoneList()) assert(!refs.has(t.chunkId), "tombstones are unreferenced");
    this.lockTable.checkInvariants(this.timestampMs);
  }
}
