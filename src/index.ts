/** The `raftfs` package: the client library, its typed errors and the wire types it returns. */
export * from "./client/index.js";
export { ConfigError } from "./common/config.js";
export { DfsError, ERROR_CODES, type ErrorCode, isDfsError } from "./common/errors.js";
export type {
  ClusterStatus,
  ListEntry,
  LockHolder,
  LockMode,
  ReadResponse,
  StatResponse,
  VersionInfo,
  WireChange,
} from "./common/protocol/index.js";
