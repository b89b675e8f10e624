/**
 * Results, queries and snapshot shapes of the file-system state machine.
 */
import type { ErrorBody } from "../../common/errors.js";
import type {
  AdminBreakLockResponse,
  CommitResponse,
  DeleteResponse,
  LockAcquireResponse,
  LockHolder,
  LockRenewResponse,
  MkdirResponse,
  OpenSessionResponse,
  TxnResponse,
} from "../../common/protocol/meta-types.js";
import type { VersionMeta } from "../../common/protocol/version-meta.js";
import type { ChunkRef, FileContent, LockMode } from "./commands.js";
import type { AttrFields } from "./records.js";

export interface FsStateOptions {
  /** How many versions of each file stay readable (and keep their chunks alive); ≥ 1. */
  versionsRetained: number;
  /** A session with no request for longer than this expires (judged with entry timestamps). */
  sessionTimeoutMs: number;
  /** Sessions at once; a full table drops expired ones, never live ones (then opening fails). Default 10 000. */
  maxSessions?: number;
  /** Sessions one client (token name or address) may hold at once. Default 1 000. */
  maxSessionsPerClient?: number;
  /** Live and not-yet-swept lock leases, all paths together. Default 65 536. */
  maxLockHoldings?: number;
  /** Registered data nodes. Default 10 000. */
  maxDataNodes?: number;
  /** Entries one command's renames may move together (RENAME_TOO_LARGE beyond). Default 10 000. */
  maxRenameEntries?: number;
}

export type ChangeKind = "create" | "commit" | "mkdir" | "rename" | "delete" | "lock" | "unlock" | "attrs";

/** One visible effect of an entry, for the watch feed (ordered by `index`, then by position). */
export interface Change {
  index: number;
  path: string;
  kind: ChangeKind;
  /** Destination of a rename. */
  to?: string;
  /** Version written by a create or commit. */
  version?: number;
}

/** Failed entries change nothing visible, hence the empty `changes`. */
export type ApplyResult =
  | { ok: true; value: unknown; changes: Change[] }
  | { ok: false; error: ErrorBody; changes: [] };

/** The value of a batch entry's ApplyResult: each command's own result, in the batch's order. */
export type BatchEntryResult = Array<{ ok: true; value: unknown } | { ok: false; error: ErrorBody }>;

// ---- command results (the `value` of a successful ApplyResult) ----

// The results that a route returns as they are are its answer's type, derived from the route's schema
// (common/protocol/meta-schemas.ts): one definition, and the serializer holds the state machine to it.
export type OpenSessionResult = Omit<OpenSessionResponse, "secret">;
export type MkdirResult = MkdirResponse;
export type CommitResult = CommitResponse;
export interface RenameResult {
  from: string;
  to: string;
}
/** `removed`: number of files and directories removed, the path itself included. */
export type DeleteResult = DeleteResponse;
export type LockAcquireResult = LockAcquireResponse;
export type LockRenewResult = LockRenewResponse;
/** The leases removed (live or expired), as anyone may see them: no tokens. */
export type BreakLockResult = AdminBreakLockResponse;
export type TxnResult = TxnResponse;

// ---- queries: the same shapes the API returns, so they are declared once, in the wire protocol ----

export type { ListEntry, StatResponse as StatResult, VersionInfo } from "../../common/protocol/meta.js";
export type { LockHolder as LockHolderInfo } from "../../common/protocol/meta-types.js";
export type LockInfo = LockHolder;

export interface DataNodeRecord {
  id: string;
  url: string;
  zone: string;
  capacityBytes: number;
  registeredAtMs: number;
  updatedAtMs: number;
}

export interface GarbageChunk {
  chunkId: string;
  sinceMs: number;
  /** In snapshots: the size the chunk's first commit fixed (absent for uploads never committed). */
  sizeBytes?: number;
}

// ---- snapshot: plain data, deep copies, canonical order except where order is state ----

export interface FileVersion {
  version: number;
  sizeBytes: number;
  createdAtMs: number;
  content: FileContent;
  /** The metadata its commit carried (absent: none, and in versions written before it existed). */
  meta?: VersionMeta;
}

/** `attrs`: the inode's attribute fields (records.ts), absent when it has none (written before them). */
export type NodeSnapshot = (
  | { path: string; type: "dir"; createdAtMs: number; modifiedAtMs: number }
  | {
      path: string;
      type: "file";
      createdAtMs: number;
      modifiedAtMs: number;
      versions: FileVersion[];
      /** The highest version number ever given, when its version was dropped (absent otherwise). */
      topVersion?: number;
    }
  | { path: string; type: "symlink"; target: string; createdAtMs: number; modifiedAtMs: number }
) & { attrs?: AttrFields };

/**
 * A lease as the state keeps it: what anyone may see, plus the fencing token only its holder is told and
 * the hash of the lock's own secret, if its acquirer drew one (it may hand that to a delegate writer).
 */
export type LockHoldingSnapshot = LockHolder & { token: number; secretHash?: string };

/** A remembered result; `changes` are not kept, a replay changes nothing. */
/**
 * A session's remembered answer, with the type of the command that produced it (absent in results
 * stored before it was kept): a retry must repeat the same request.
 */
export type StoredResult = ({ ok: true; value: unknown } | { ok: false; error: ErrorBody }) & {
  cmd?: string;
};

export interface SessionSnapshot {
  id: number;
  /** Who opened it (absent: unknown, e.g. written before clients were recorded; counts for nobody). */
  client?: string;
  /** SHA-256 of the session secret (absent in snapshots written before secrets: such sessions are unusable). */
  secretHash?: string;
  lastActiveMs: number;
  ackedSeq: number;
  results: { seq: number; result: StoredResult }[];
}

export interface FsSnapshot {
  format: 1;
  lastAppliedIndex: number;
  lastTimestampMs: number;
  /** Sorted by path, so every parent precedes its children. */
  nodes: NodeSnapshot[];
  /** Reference counts are derived from `nodes` on restore; only the garbage list is state. */
  garbage: GarbageChunk[];
  /** Collected chunks a commit may not name (absent in snapshots written before tombstones existed). */
  tombstones?: GarbageChunk[];
  locks: LockHoldingSnapshot[];
  dataNodes: DataNodeRecord[];
  /** Decommissioned data nodes (absent in snapshots written before decommission existed). */
  retiredDataNodes?: RetirementRecord[];
  /** In activity order (least recently active first): that order decides expiry and eviction. */
  sessions: SessionSnapshot[];
  /** Quotas by directory (absent in snapshots written before quotas); usage is recounted from `nodes`. */
  quotas?: QuotaSnapshot[];
}

export interface QuotaSnapshot {
  dir: string;
  bytes?: number;
  files?: number;
}

export type { ChunkRef, FileContent, LockMode };

/** A data node on its way out (see retirements.ts); nodes with no record are active. */
export type DataNodeState = "draining" | "removed";

export interface RetirementRecord {
  nodeId: number;
  state: DataNodeState;
  sinceMs: number;
}
