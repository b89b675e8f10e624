/**
 * The data node's public face: the process entry (`runDataNode`), the in-process start used by tests
 * and launchers, the server factory and the parts it is built from.
 */
export {
  ChunkStore,
  type ChunkStoreOptions,
  type DiskSpace,
  isChunkId,
  MAX_CHUNK_BYTES,
} from "./chunk-store.js";
export { LeaderLink, type LeaderLinkOptions } from "./leader-link.js";
export {
  type DataNodeRunOptions,
  dataNodeStartupFailure,
  type RunningDataNode,
  runDataNode,
  startDataNode,
} from "./main.js";
export { DataMetrics } from "./metrics.js";
export { Pipeline, type PipelineOptions } from "./pipeline.js";
export { type ByteRange, parseRange } from "./range.js";
export { DEFAULT_SCRUBBER_OPTIONS, Scrubber, type ScrubberOptions, type ScrubProgress } from "./scrubber.js";
export { buildDataServer, type DataServerDeps, type DataServerOptions, frameworkErrors } from "./server.js";
