/**
 * The metadata replicas' HTTP API as both sides see it: routes, request bodies and responses.
 * JSON everywhere; binary inline content travels as base64. Errors are `ErrorBody` (errors.ts) with
 * the status of their code; `NOT_LEADER` carries `leaderId` and `leaderUrl`.
 *
 * Client requests may carry `authorization: Bearer <token>`; internal ones carry `x-raftfs-secret`.
 */

export const META_ROUTES = {
  openSession: "/v1/sessions",
  keepAlive: "/v1/sessions/keepalive",
  mkdir: "/v1/fs/mkdir",
  commit: "/v1/fs/commit",
  rename: "/v1/fs/rename",
  delete: "/v1/fs/delete",
  txn: "/v1/fs/txn",
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
  abandon: "/v1/chunks/abandon",
  locations: "/v1/chunks/locations",
  replicaStatus: "/status",
  clusterStatus: "/v1/cluster/status",
  adminAddMeta: "/v1/admin/meta/add",
  adminRemoveMeta: "/v1/admin/meta/remove",
  adminDecommissionData: "/v1/admin/data/decommission",
  adminRemoveData: "/v1/admin/data/remove",
  adminBreakLock: "/v1/admin/locks/break",
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
  commit: "write",
  rename: "write",
  delete: "write",
  txn: "write",
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
  abandon: "write",
  locations: "read",
  replicaStatus: "open",
  clusterStatus: "open",
  adminAddMeta: "admin",
  adminRemoveMeta: "admin",
  adminDecommissionData: "admin",
  adminRemoveData: "admin",
  adminBreakLock: "admin",
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

/** Exactly-once: every mutation names its session and a per-session sequence number. */
export interface WireSession {
  id: number;
  seq: number;
  /** Every result up to this seq has been received; the server may forget them. */
  ackedSeq: number;
  /** The secret the session was opened with: the proof that the caller holds this session. */
  secret: string;
}

export interface WireChunkRef {
  /** SHA-256 of the chunk's bytes, lowercase hex. */
  id: string;
  sizeBytes: number;
}

export type WireContent =
  | { kind: "inline"; dataBase64: string }
  | { kind: "chunks"; chunks: WireChunkRef[]; sizeBytes: number };

export interface MkdirRequest {
  path: string;
  parents?: boolean;
  lockToken?: number;
  /** With `lockToken`, the lock's secret: lets a session other than the acquirer's write under it. */
  lockSecret?: string;
  session: WireSession;
}
export interface CommitRequest {
  path: string;
  content: WireContent;
  /** Compare-and-set on the latest version; 0 means the file must not exist yet. */
  expectedVersion?: number;
  lockToken?: number;
  lockSecret?: string;
  createParents?: boolean;
  session: WireSession;
}
export interface RenameRequest {
  from: string;
  to: string;
  lockToken?: number;
  /** With `lockToken`, the lock's secret: lets a session other than the acquirer's write under it. */
  lockSecret?: string;
  session: WireSession;
}
export interface DeleteRequest {
  path: string;
  recursive?: boolean;
  lockToken?: number;
  /** With `lockToken`, the lock's secret: lets a session other than the acquirer's write under it. */
  lockSecret?: string;
  session: WireSession;
}

export type WireTxnCondition =
  | { kind: "exists"; path: string; exists: boolean }
  | { kind: "version"; path: string; version: number }
  | { kind: "lockToken"; path: string; token: number };

export type WireTxnOp = (
  | { type: "mkdir"; path: string; parents?: boolean; lockToken?: number }
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

export type LockMode = "exclusive" | "shared";

export interface LockAcquireRequest {
  path: string;
  mode: LockMode;
  ttlMs: number;
  owner: string;
  /**
   * A random secret the acquirer draws for this lock (optional; the client library always sends one):
   * presented with the token, it lets another session write under the lock (`raftfs lock` hands it to
   * its child). Renew and release stay with the acquiring session. Only its SHA-256 reaches the log.
   */
  secret?: string;
  session: WireSession;
}
export interface LockTokenRequest {
  path: string;
  token: number;
  session: WireSession;
}

export interface OpenSessionResponse {
  sessionId: number;
  timeoutMs: number;
  /**
   * A random secret (≥128 bits, base64url) known only to the opener: every use of the session must
   * present it. Only its SHA-256 reaches the log. Opening is rate limited per client (RATE_LIMITED).
   */
  secret: string;
}
export interface KeepAliveRequest {
  sessionId: number;
  secret: string;
}
export interface MkdirResponse {
  created: string[];
}
export interface CommitResponse {
  version: number;
}
export interface DeleteResponse {
  removed: number;
}
export interface LockAcquireResponse {
  token: number;
  expiresAtMs: number;
}
export interface LockRenewResponse {
  expiresAtMs: number;
}
export interface TxnResponse {
  results: unknown[];
}

/**
 * A lease as anyone may see it (listings, `stat`, LOCKED errors): never its fencing token, which only
 * the acquirer is told, nor anything of its session but the id.
 */
export interface LockHolder {
  path: string;
  mode: LockMode;
  owner: string;
  sessionId: number;
  ttlMs: number;
  acquiredAtMs: number;
  expiresAtMs: number;
}

export interface StatResponse {
  path: string;
  type: "file" | "dir";
  version?: number;
  sizeBytes?: number;
  createdAtMs: number;
  modifiedAtMs: number;
  lock?: { mode: LockMode; holders: LockHolder[] };
}

export interface ListEntry {
  name: string;
  path: string;
  type: "file" | "dir";
  version?: number;
  sizeBytes?: number;
  modifiedAtMs: number;
}
export interface ListResponse {
  entries: ListEntry[];
}

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

export interface ReadResponse {
  path: string;
  version: number;
  sizeBytes: number;
  createdAtMs: number;
  content: WireContent;
  /** Raft index at which this read was served: clients use it for monotonic reads. */
  index: number;
  /**
   * Read tickets (common/tickets.ts) for the first MAX_READ_TICKETS_PER_READ distinct chunks of a
   * chunked version, by chunk id; the locations route hands out tickets for any chunk.
   */
  tickets?: Record<string, string>;
}

/** Signing costs a few microseconds a chunk: a read of a huge file must not stall its replica. */
export const MAX_READ_TICKETS_PER_READ = 1024;

/** Query strings of the GET routes: `path` (and `version` for read); `stale=true` skips ReadIndex. */
export interface PathQuery {
  path: string;
  stale?: boolean;
}

export interface WireChange {
  index: number;
  path: string;
  kind: "create" | "commit" | "mkdir" | "rename" | "delete" | "lock" | "unlock";
  to?: string;
  version?: number;
}
/** `GET /v1/watch?after=N&timeoutMs=M`: long-polls until a change after N (or the timeout). */
export interface WatchResponse {
  /** The index the client should pass as `after` next time. */
  index: number;
  changes: WireChange[];
  /** The feed no longer holds changes after `after`: drop every cached entry and start over. */
  reset: boolean;
}

export interface NodeAddress {
  id: number;
  url: string;
}

export interface PlacementRequest {
  chunkId: string;
  sizeBytes: number;
  replication?: number;
  /** Nodes that failed for this chunk: place elsewhere. */
  exclude?: number[];
}
export interface PlacementResponse {
  chunkId: string;
  nodes: NodeAddress[];
  /** The leader's signed ticket (see tickets.ts), passed to the first data node. */
  ticket: string;
}

export interface AbandonRequest {
  chunkIds: string[];
  session: WireSession;
}

/** `GET /v1/chunks/locations?ids=a,b`: live holders of each chunk, and a read ticket for each. */
export interface LocationsResponse {
  locations: Record<string, NodeAddress[]>;
  /** Chunk id → a read ticket the holders accept (common/tickets.ts), valid a few minutes. */
  tickets: Record<string, string>;
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

/** Admin routes (role `admin` when tokens are configured): `{id}` names a replica or a data node. */
export interface AdminNodeRequest {
  id: number;
}
export interface AdminRemoveDataRequest {
  id: number;
  /** Remove even if the leader cannot confirm that every chunk has R copies elsewhere. */
  force?: boolean;
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

/** `POST /v1/admin/locks/break`: removes every lease on exactly `path`, whoever holds it (audited). */
export interface AdminBreakLockRequest {
  path: string;
  session: WireSession;
}
export interface AdminBreakLockResponse {
  path: string;
  broken: LockHolder[];
}

/** A data node's first report to the leader (and again to every new leader). */
export interface DataRegisterRequest {
  id: number;
  url: string;
  zone: string;
  pid: number;
  capacityBytes: number;
  freeBytes: number;
  usedBytes: number;
  chunks: string[];
}

export interface DataHeartbeatRequest {
  id: number;
  pid: number;
  freeBytes: number;
  usedBytes: number;
  chunkCount: number;
  /** Chunk ids stored or deleted since the last heartbeat. */
  added: string[];
  removed: string[];
  /** Chunks the scrubber or a reader found corrupt (already deleted locally). */
  corrupt: string[];
  /**
   * Chunks deleted on the leader's order since the last heartbeat (an acknowledgement: `removed` alone
   * cannot tell, as a chunk deleted and stored again in between shows up as `added` only).
   */
  deleted?: string[];
}

/** Work the leader hands a data node in the heartbeat answer. */
export type DataNodeCommand =
  | { type: "replicate"; chunkId: string; sizeBytes: number; targets: NodeAddress[]; ticket: string }
  | { type: "delete"; chunkIds: string[] };

export interface DataHeartbeatResponse {
  /** The leader does not know this node (for example a new leader): register again. */
  reregister: boolean;
  commands: DataNodeCommand[];
}
