/** The client library's public face. */

export type { BackoffOptions } from "../common/backoff.js";
export { backoffMs } from "../common/backoff.js";
export type { AdminApi } from "./admin.js";
export type { CacheStats } from "./chunk-cache.js";
export { ChunkPatcher, type PatchCommitOptions, type PatchedChunk } from "./chunk-patch.js";
export {
  connect,
  RaftfsClient,
  type ReadFileOptions,
  type ReadStreamOptions,
  type WriteData,
  type WriteFileOptions,
} from "./client.js";
export type { AttrChange } from "./file-options.js";
export type { SymlinkOptions } from "./links.js";
export type { ListOptions, ListPageOptions } from "./listing.js";
export type { LockHandle, LockOptions, RenewObservation } from "./locks.js";
export type { ConnectOptions, MetadataCacheMode } from "./options.js";
export type { RaftfsReadStream, RaftfsWriteStream } from "./streams.js";
export type { WriteResult } from "./upload.js";
export type { WatchEvent, WatchOptions } from "./watch.js";
