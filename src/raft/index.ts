/** The Raft shell's public face: storage, transport, codec, the driver, and the core types consumers use. */

export { CodecError, decodeMessages, encodeMessages } from "./codec.js";
export {
  type ConfChange,
  type ConfChangeType,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type MessageType,
  NONE,
  type NodeId,
  type Ready,
  type Role,
  type Snapshot,
  type SnapshotMeta,
} from "./core/index.js";
export { type LeaderChange, RaftDriver, type RaftDriverDeps, type RaftDriverOptions } from "./driver.js";
export type { PeerStatus, RaftStatus } from "./driver-status.js";
export {
  CorruptStoreError,
  LevelStorage,
  type LevelStorageOptions,
  type NodeIdentity,
  type PersistBatch,
  type PersistentStorage,
  StorageFailedError,
  StoreIdentityError,
} from "./level-storage.js";
export type { StateMachine } from "./machine-runner.js";
export { bytesSource, collectChunks, SNAPSHOT_SLICE_BYTES, type SnapshotSource } from "./snapshot-shell.js";
export {
  HttpTransport,
  type HttpTransportDeps,
  type HttpTransportOptions,
  RAFT_STREAM_PATH,
  RAFT_STREAM_PROTOCOL,
  SECRET_HEADER,
  type Transport,
} from "./transport.js";
