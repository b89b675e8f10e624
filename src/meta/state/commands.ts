/**
 * The commands of the metadata log. Every replica applies the same commands in the same order, so a
 * command carries everything it needs (paths, tokens, content) and nothing that a replica would have to
 * look up elsewhere. Time is not in the command: it is the timestamp of the log entry.
 *
 * These are the *shapes*; `parseCommand` (validate.ts) turns untrusted input into them.
 */
import type { VersionMeta } from "../../common/protocol/version-meta.js";

/**
 * Exactly-once: a client session numbers its mutating requests. `ackedSeq` tells the state machine that
 * the client has seen every result up to it, so those can be forgotten (Raft dissertation §6.3).
 */
export interface SessionRef {
  id: number;
  seq: number;
  ackedSeq: number;
  /**
   * SHA-256 (lowercase hex) of the secret the session was opened with. The shell hashes the secret the
   * client presents; the log and the state only ever hold the hash, so neither a log nor a snapshot
   * hands out the capability.
   */
  secretHash: string;
}

/** A chunk is content-addressed: `id` is the SHA-256 of its bytes, in lowercase hex. */
export interface ChunkRef {
  id: string;
  sizeBytes: number;
}

/** Small files live inline in the metadata (one Raft write); larger ones are a list of chunks. */
export type FileContent =
  | { kind: "inline"; data: Uint8Array }
  | { kind: "chunks"; chunks: ChunkRef[]; sizeBytes: number };

export type LockMode = "exclusive" | "shared";

/** POSIX owner and permission bits a create or mkdir gives the node it makes (the caller's umask applied). */
export interface NodeAttrs {
  /** Permission bits only (≤ 0o7777): the type is the node's. */
  mode: number;
  uid: number;
  gid: number;
}

/**
 * chmod, chown and utimens: each field present is set, the change time becomes the entry's time.
 * `mtimeMs` is the caller's (tar restores archived times); atime is not kept separately (reads would
 * otherwise each be a Raft write): it reads as the modification time, as on `noatime`.
 */
export interface AttrChange {
  mode?: number;
  uid?: number;
  gid?: number;
  mtimeMs?: number;
}

/** An attribute change in a command of its own. */
export interface SetAttrsOp extends AttrChange {
  type: "setAttrs";
  path: string;
  lockToken?: number;
  lockSecretHash?: string;
}

export interface MkdirOp {
  type: "mkdir";
  path: string;
  /** Create missing ancestors, and succeed if the directory already exists (`mkdir -p`). */
  parents?: boolean;
  /** The new directory's attributes (not its missing ancestors', which get the defaults). */
  attrs?: NodeAttrs;
  lockToken?: number;
  lockSecretHash?: string;
}

export interface CommitOp {
  type: "commit";
  path: string;
  content: FileContent;
  /** Compare-and-set on the latest version; 0 means "the file must not exist". */
  expectedVersion?: number;
  lockToken?: number;
  lockSecretHash?: string;
  createParents?: boolean;
  /** The file's attributes if this commit creates it (ignored for a new version of an existing file). */
  attrs?: NodeAttrs;
  /**
   * Applied after the new version, whether or not it creates the file (over `attrs`, and its mtime over
   * the commit's own): the chmod/chown/utimens a writer made before closing, in the same entry.
   */
  setAttrs?: AttrChange;
  /** Metadata kept with this version only (version-meta.ts); absent: the version has none. */
  meta?: VersionMeta;
}

/**
 * A symbolic link at `path` holding `target` verbatim (1 to MAX_SYMLINK_TARGET_BYTES bytes). The server
 * never follows links when it resolves a path, as HDFS and S3 do not: the client (the kernel, for the
 * mount) reads the target and follows it.
 */
export interface SymlinkOp {
  type: "symlink";
  path: string;
  target: string;
  /** Owner (and mode, 0777 by default) of the link. */
  attrs?: NodeAttrs;
  lockToken?: number;
  lockSecretHash?: string;
}

export interface RenameOp {
  type: "rename";
  from: string;
  to: string;
  lockToken?: number;
  lockSecretHash?: string;
}

export interface DeleteOp {
  type: "delete";
  path: string;
  recursive?: boolean;
  lockToken?: number;
  lockSecretHash?: string;
}

/** Drops one retained version of a file (drop-version.ts); the file goes with its last one. */
export interface DropVersionOp {
  type: "dropVersion";
  path: string;
  version: number;
  lockToken?: number;
  lockSecretHash?: string;
}

/**
 * `lockSecretHash` (with `lockToken`): the SHA-256 of the lock's own secret, which lets a holder
 * delegate writing under its lock to another session (`raftfs lock` hands it to its child process).
 * Renewing and releasing stay with the acquiring session.
 */
/** The operations a transaction may contain. */
export type NamespaceOp = MkdirOp | CommitOp | RenameOp | DeleteOp | SymlinkOp;

export type TxnCondition =
  | { kind: "exists"; path: string; exists: boolean }
  /** Latest version of a file; 0 holds when nothing exists at the path. */
  | { kind: "version"; path: string; version: number }
  /** A live lease on exactly this path has this token. */
  | { kind: "lockToken"; path: string; token: number };

interface WithSession {
  session: SessionRef;
}

/**
 * Commands proposed by the leader itself (registry, GC bookkeeping) are idempotent, so the session is
 * optional for them; when present it gives them the same exactly-once treatment as client requests.
 */
interface WithOptionalSession {
  session?: SessionRef;
}

export type Command =
  /** Proposed by a new leader to commit an entry of its term; also a harmless heartbeat of the clock. */
  | { type: "noop" }
  /** The first command of every new leader: leases and sessions restart in full. */
  | { type: "leaderChanged" }
  /**
   * `secretHash`: SHA-256 of a random secret the shell drew and returns to the client alone; `client`:
   * who asked (token name or address), so that no one client can hold the whole session table.
   */
  | { type: "openSession"; secretHash: string; client?: string }
  | { type: "keepAlive"; sessionId: number; secretHash: string }
  | { type: "closeSession"; sessionId: number; secretHash: string }
  | (MkdirOp & WithSession)
  | (SymlinkOp & WithSession)
  | (CommitOp & WithSession)
  | (RenameOp & WithSession)
  | (DeleteOp & WithSession)
  | (SetAttrsOp & WithSession)
  | (DropVersionOp & WithSession)
  | ({ type: "txn"; conditions: TxnCondition[]; ops: NamespaceOp[] } & WithSession)
  | ({
      type: "lockAcquire";
      path: string;
      mode: LockMode;
      ttlMs: number;
      owner: string;
      /** SHA-256 of a secret the acquirer drew for this lock (optional): see NamespaceOp. */
      secretHash?: string;
    } & WithSession)
  | ({ type: "lockRenew"; path: string; token: number } & WithSession)
  | ({ type: "lockRelease"; path: string; token: number } & WithSession)
  /** An admin removes every lease on exactly `path`, whoever holds it; `by` names the admin (audit). */
  | ({ type: "breakLock"; path: string; by: string } & WithOptionalSession)
  /** An admin replaces (or clears) the quota of a top-level directory (quotas.ts). */
  | ({ type: "setQuota"; path: string; bytes?: number; files?: number } & WithOptionalSession)
  | ({ type: "clearQuota"; path: string } & WithOptionalSession)
  | ({
      type: "registerDataNode";
      id: string;
      url: string;
      zone: string;
      capacityBytes: number;
    } & WithOptionalSession)
  | ({ type: "removeDataNode"; id: string } & WithOptionalSession)
  /** Decommission: the node takes no new chunks; the leader copies its chunks elsewhere. */
  | ({ type: "drainDataNode"; nodeId: number } & WithOptionalSession)
  /** After draining: the node leaves the cluster for good. */
  | ({ type: "retireDataNode"; nodeId: number } & WithOptionalSession)
  /** The leader proposes this after data nodes deleted these chunks; only entries older than `beforeMs` go. */
  | ({ type: "collectGarbage"; chunkIds: string[]; beforeMs: number } & WithOptionalSession)
  /** Chunks written for a commit that never happened: garbage unless something references them. */
  | ({ type: "abandonChunks"; chunkIds: string[] } & WithOptionalSession)
  | ({ type: "reviveChunks"; chunkIds: string[] } & WithOptionalSession)
  /**
   * Tombstones older than `beforeMs` go (the leader proposes this past the retention period): a commit
   * naming such a chunk can no longer come from the client library, which never commits an upload
   * older than MAX_UPLOAD_AGE_MS, so the state stops growing with every chunk ever collected.
   */
  | ({ type: "forgetTombstones"; beforeMs: number } & WithOptionalSession)
  /**
   * Several clients' requests in one log entry (the leader's batch route): applied in order, each
   * exactly as if it had an entry of its own at this index, each with its own result. One entry costs
   * every replica one log record, one decode and one store write instead of one per request.
   */
  | { type: "batch"; commands: BatchableCommand[] };

export type CommandType = Command["type"];

/**
 * The commands a batch entry may carry: those whose apply takes nothing from the entry's index but the
 * index stamped on their changes. A session id and a fencing token ARE the index of their entry, so
 * two opens or two acquires in one entry would get the same one: those stay one per entry.
 */
export const BATCHABLE_TYPES = ["mkdir", "commit", "rename", "delete", "setAttrs", "dropVersion"] as const;
export type BatchableCommand = Extract<Command, { type: (typeof BATCHABLE_TYPES)[number] }>;

export function isBatchable(c: Command): c is BatchableCommand {
  return (BATCHABLE_TYPES as readonly string[]).includes(c.type);
}

/** What the Raft layer hands to `FsState.apply`. */
export interface LogEntry {
  index: number;
  timestampMs: number;
  command: Command;
}

/**
 * Hard limits checked by the state machine itself. They are sanity bounds against hostile or buggy
 * input; servers apply tighter, configurable limits before proposing. They are constants, not options,
 * because replicas must agree on them to stay deterministic.
 */
export const LIMITS = {
  maxInlineBytes: 1024 * 1024,
  maxChunksPerVersion: 1_000_000,
  maxChunkIdsPerCommand: 100_000,
  maxTxnConditions: 128,
  maxTxnOps: 128,
  /** Commands in one batch entry: the batch route's item bound (common/protocol/batch-schemas.ts). */
  maxBatchCommands: 64,
  maxLockTtlMs: 24 * 60 * 60 * 1000,
  maxOwnerLength: 256,
  maxActorLength: 256,
  maxNodeIdLength: 256,
  maxUrlLength: 2048,
  maxZoneLength: 256,
} as const;
