/**
 * The metadata replicas' HTTP API as both sides see it: routes, request bodies and responses.
 * JSON everywhere; binary inline content travels as base64. Errors are `ErrorBody` (errors.ts) with
 * the status of their code; `NOT_LEADER` carries `leaderId` and `leaderUrl`.
 *
 * Client requests may carry `authorization: Bearer <token>`; internal ones carry `x-raftfs-secret`.
 *
 * The request and answer types whose route schema is exact are derived from it (meta-schemas.ts); the
 * ones here are finer than their schema on purpose: txn items are checked in depth by the state
 * machine's parser, and status and listing answers are open objects of which the schema declares only
 * what clients read.
 */
import type { LockHolder, LockMode, NodeAddress, WireContent, WireSession } from "./meta-types.js";

export const META_ROUTES = {
  openSession: "/v1/sessions",
  keepAlive: "/v1/sessions/keepalive",
  mkdir: "/v1/fs/mkdir",
  symlink: "/v1/fs/symlink",
  commit: "/v1/fs/commit",
  setAttrs: "/v1/fs/attrs",
  rename: "/v1/fs/rename",
  delete: "/v1/fs/delete",
  dropVersion: "/v1/fs/drop-version",
  txn: "/v1/fs/txn",
  batch: "/v1/fs/batch",
  stat: "/v1/fs/stat",
  list: "/v1/fs/list",
  versions: "/v1/fs/versions",
  read: "/v1/fs/read",
  lockAcquire: "/v1/locks/acquire",
  lockRenew: "/v1/locks/renew",
  lockRelease: "/v1/locks/release",
  locks: "/v1/locks",
  watch: "/v1/watch",
  placement: "/v1/chunks/placement",
  placements: "/v1/chunks/placements",
  abandon: "/v1/chunks/abandon",
  locations: "/v1/chunks/locations",
  deadDataNodes: "/v1/chunks/dead-nodes",
  replicaStatus: "/status",
  clusterStatus: "/v1/cluster/status",
  adminAddMeta: "/v1/admin/meta/add",
  adminRemoveMeta: "/v1/admin/meta/remove",
  adminDecommissionData: "/v1/admin/data/decommission",
  adminRemoveData: "/v1/admin/data/remove",
  adminBreakLock: "/v1/admin/locks/break",
  adminQuotaSet: "/v1/admin/quota/set",
  adminQuotaClear: "/v1/admin/quota/clear",
  quota: "/v1/fs/quota",
  dataRegister: "/internal/data/register",
  dataHeartbeat: "/internal/data/heartbeat",
  dashboard: "/",
  metrics: "/metrics",
  events: "/v1/events",
} as const;

/**
 * Who may call a route. `open`: anyone (observability and the dashboard: they reveal no file names,
 * contents or tokens). `read` / `write` / `admin`: a client token of at least that role, when the
 * cluster has tokens (without tokens the API is open, and the replica says so at start-up).
 * `secret`: the cluster secret in SECRET_HEADER (data nodes, Raft peers), tokens or not.
 */
export type RouteAccess = "open" | "read" | "write" | "admin" | "secret";

/**
 * The one table of who may call each metadata route. The server authorizes a request by the route
 * that matched (never by its raw URL, which can be spelled many ways that the router decodes to the
 * same route), and a route without an entry here is refused.
 */
export const META_ACCESS: { readonly [K in keyof typeof META_ROUTES]: RouteAccess } = {
  openSession: "write",
  keepAlive: "write",
  mkdir: "write",
  symlink: "write",
  commit: "write",
  setAttrs: "write",
  rename: "write",
  delete: "write",
  dropVersion: "write",
  txn: "write",
  // The least role of any item; each item is authorized again by its own route's rule (batch-route.ts).
  batch: "read",
  stat: "read",
  list: "read",
  versions: "read",
  read: "read",
  lockAcquire: "write",
  lockRenew: "write",
  lockRelease: "write",
  locks: "read",
  watch: "read",
  placement: "write",
  placements: "write",
  abandon: "write",
  locations: "read",
  deadDataNodes: "read",
  replicaStatus: "open",
  clusterStatus: "open",
  adminAddMeta: "admin",
  adminRemoveMeta: "admin",
  adminDecommissionData: "admin",
  adminRemoveData: "admin",
  adminBreakLock: "admin",
  adminQuotaSet: "admin",
  adminQuotaClear: "admin",
  quota: "read",
  dataRegister: "secret",
  dataHeartbeat: "secret",
  dashboard: "open",
  metrics: "open",
  events: "open",
};

/** Token roles in rising order of power: each may do what the ones before it may. */
export const ROLE_RANK = { read: 1, write: 2, admin: 3 } as const;

export const SECRET_HEADER = "x-raftfs-secret";

/**
 * A write's chunks must be committed within this long of the start of their upload. The cluster keeps
 * the tombstones of collected chunks at least twice as long (`tombstoneRetentionMs`), so a commit
 * naming a chunk collected meanwhile is always refused (CHUNK_GONE), never acknowledged.
 */
export const MAX_UPLOAD_AGE_MS = 24 * 60 * 60 * 1000;

export type WireTxnCondition =
  | { kind: "exists"; path: string; exists: boolean }
  | { kind: "version"; path: string; version: number }
  | { kind: "lockToken"; path: string; token: number };

export type WireTxnOp = (
  | { type: "mkdir"; path: string; parents?: boolean; lockToken?: number }
  | { type: "symlink"; path: string; target: string; lockToken?: number }
  | {
      type: "commit";
      path: string;
      content: WireContent;
      expectedVersion?: number;
      lockToken?: number;
      createParents?: boolean;
    }
  | { type: "rename"; from: string; to: string; lockToken?: number }
  | { type: "delete"; path: string; recursive?: boolean; lockToken?: number }
) & { lockSecret?: string };

export interface TxnRequest {
  conditions: WireTxnCondition[];
  ops: WireTxnOp[];
  session: WireSession;
}

/** What a path names. A symlink's `target` is its text, never followed by the server (the client does). */
export type NodeKind = "file" | "dir" | "symlink";

export interface StatResponse {
  path: string;
  type: NodeKind;
  /** Symbolic links: the target, verbatim. */
  target?: string;
  version?: number;
  sizeBytes?: number;
  createdAtMs: number;
  modifiedAtMs: number;
  /** POSIX attributes (absent from replicas older than attributes): permission bits, owner, ctime. */
  mode?: number;
  uid?: number;
  gid?: number;
  changedAtMs?: number;
  lock?: { mode: LockMode; holders: LockHolder[] };
  /** The node's id in the metadata: kept by renames, never reused (the mount's inode numbers). */
  ino?: number;
}

export interface ListEntry {
  name: string;
  path: string;
  type: NodeKind;
  /** As StatResponse's. */
  target?: string;
  version?: number;
  sizeBytes?: number;
  modifiedAtMs: number;
  /** As StatResponse's. */
  ino?: number;
  /**
   * As StatResponse's (absent from replicas older than them): with these an entry carries all a
   * mount's getattr needs, so `ls -l` of a big directory costs its pages, not one stat per entry.
   */
  mode?: number;
  uid?: number;
  gid?: number;
  changedAtMs?: number;
}
/**
 * `GET /v1/fs/list?path=P&limit=N&startAfter=NAME`: one page of a directory, in name order (UTF-16 code
 * units, the state's order), never more than LIST_PAGE_MAX entries whatever `limit` asks (as S3's
 * ListObjectsV2 caps max-keys at 1,000); `limit` defaults to that maximum. `startAfter` (the cursor) is a
 * name, not necessarily a present one: the page holds the names after it.
 *
 * `truncated`: names after the last entry existed when the page was read; `nextCursor` (then the last
 * entry's name) is the `startAfter` of the next page. Each page is one consistent read; between pages the
 * directory may change. Walking the pages by cursor, a name is listed at most once (cursors only grow),
 * and every entry present from the first page to the last is listed; entries created, deleted or
 * renamed meanwhile may or may not appear, as with S3's listings and POSIX readdir.
 */
export interface ListResponse {
  entries: ListEntry[];
  truncated: boolean;
  nextCursor?: string;
}

/** The most entries one listing answer carries: a million-entry directory is listed in pages. */
export const LIST_PAGE_MAX = 1000;

export interface VersionInfo {
  path: string;
  version: number;
  sizeBytes: number;
  createdAtMs: number;
  contentKind: "inline" | "chunks";
}
export interface VersionsResponse {
  versions: VersionInfo[];
}

/** Signing costs a few microseconds a chunk: a read of a huge file must not stall its replica. */
export const MAX_READ_TICKETS_PER_READ = 1024;

export interface WireChange {
  index: number;
  path: string;
  kind: "create" | "commit" | "mkdir" | "rename" | "delete" | "lock" | "unlock" | "attrs";
  to?: string;
  version?: number;
}
/**
 * `GET /v1/watch?after=N&timeoutMs=M[&confirm=true]`: long-polls until a change after N (or the
 * timeout). With `confirm`, the answer is also a proof of freshness: the replica confirmed with a
 * quorum (ReadIndex) that it held every entry committed before a moment `confirmedAfterMs` after the
 * request arrived, and the answer reaches at least that far. A client that sent the request at `t`
 * knows its feed position misses nothing committed before `t + confirmedAfterMs` (its own clock may only
 * be trusted to tick at about the server's rate, as with any lease).
 */
export interface WatchResponse {
  /** The index the client should pass as `after` next time. */
  index: number;
  changes: WireChange[];
  /** The feed no longer holds changes after `after`: drop every cached entry and start over. */
  reset: boolean;
  /** With `confirm`: present when the answer covers the confirmed point (absent: no proof this time). */
  confirmedAfterMs?: number;
}

/** A configured metadata replica's part in the Raft membership. */
export type Membership = "voter" | "learner" | "none";

export interface ReplicaStatus {
  id: number;
  url: string;
  role: "follower" | "pre-candidate" | "candidate" | "leader";
  term: number;
  leader: number | null;
  leaderUrl: string | null;
  commitIndex: number;
  appliedIndex: number;
  lastLogIndex: number;
  snapshotIndex: number;
  /** Leader snapshots this replica installed since it started. */
  snapshotsInstalled: number;
  pid: number;
  /** This replica's place in the membership it has applied. */
  member?: Membership;
  peers: {
    id: number;
    url: string;
    member?: Membership;
    match?: number;
    next?: number;
    state?: string;
    recentActive?: boolean;
  }[];
}

export interface ClusterStatus {
  leader: number | null;
  term: number;
  meta: {
    id: number;
    url: string;
    pid: number | null;
    role: string | null;
    term: number | null;
    commitIndex: number | null;
    appliedIndex: number | null;
    alive: boolean;
    /** As the answering replica sees the membership: a configured replica may have been removed. */
    member?: Membership;
  }[];
  data: {
    id: number;
    url: string;
    zone: string;
    pid: number | null;
    alive: boolean;
    chunks: number;
    usedBytes: number;
    freeBytes: number;
    capacityBytes: number;
    /** Decommission: "draining" nodes take no new chunks; "removed" ones left the cluster. */
    state?: "active" | "draining" | "removed";
    /** While draining: chunks on it that still lack R copies on active nodes. */
    drainRemainingChunks?: number;
  }[];
  underReplicatedChunks: number;
  corruptChunks: number;
}

/** A metadata replica's row of the cluster status, from its own `/status` (undefined: no answer). */
export function metaStatusRow(
  id: number,
  url: string,
  s: ReplicaStatus | undefined,
): ClusterStatus["meta"][number] {
  return {
    id,
    url,
    pid: s?.pid ?? null,
    role: s?.role ?? null,
    term: s?.term ?? null,
    commitIndex: s?.commitIndex ?? null,
    appliedIndex: s?.appliedIndex ?? null,
    alive: s !== undefined,
  };
}

export interface AdminMetaResponse {
  id: number;
  url?: string;
  state?: "learner";
  removed?: true;
}
export interface AdminDataResponse {
  id: number;
  state: "active" | "draining" | "removed";
  remainingChunks?: number;
}

/** Work the leader hands a data node in the heartbeat answer. */
export type DataNodeCommand =
  | { type: "replicate"; chunkId: string; sizeBytes: number; targets: NodeAddress[]; ticket: string }
  | { type: "delete"; chunkIds: string[] };

export interface DataHeartbeatResponse {
  /** The leader does not know this node (for example a new leader): register again. */
  reregister: boolean;
  commands: DataNodeCommand[];
  /**
   * Nodes this leader judges dead: a forward or repair copy to one of them fails now instead of
   * waiting out its connect or answer timeout (a pulled cable answers nothing for 30 s).
   */
  deadNodes?: number[];
}
