/**
 * The metadata state machine's public face: pure and deterministic (see fs-state.ts).
 */

export type {
  BatchableCommand,
  ChunkRef,
  Command,
  CommandType,
  CommitOp,
  DeleteOp,
  FileContent,
  LockMode,
  LogEntry,
  MkdirOp,
  NamespaceOp,
  RenameOp,
  SessionRef,
  TxnCondition,
} from "./commands.js";
export { isBatchable, LIMITS } from "./commands.js";
export { FsState, MAX_RESULTS_PER_SESSION } from "./fs-state.js";
export { hashValue } from "./hash.js";
export type { ListOptions } from "./queries.js";
export type { QuotaInfo } from "./quotas.js";
export type {
  ApplyResult,
  BatchEntryResult,
  BreakLockResult,
  Change,
  ChangeKind,
  CommitResult,
  DataNodeRecord,
  DataNodeState,
  DeleteResult,
  FileVersion,
  FsSnapshot,
  FsStateOptions,
  GarbageChunk,
  ListEntry,
  LockAcquireResult,
  LockHolderInfo,
  LockInfo,
  LockRenewResult,
  MkdirResult,
  OpenSessionResult,
  QuotaSnapshot,
  RenameResult,
  RetirementRecord,
  StatResult,
  StoredResult,
  TxnResult,
  VersionInfo,
} from "./types.js";
export { recountUsageIfMissing } from "./usage-recount.js";
export { parseCommand } from "./validate.js";
