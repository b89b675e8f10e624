export { applyConfChange } from "./conf.js";
export { RaftLog } from "./log.js";
export { RaftNode } from "./node.js";
export { Progress } from "./progress.js";
export { DEFAULT_RAFT_OPTIONS, Raft, type RaftOptions } from "./raft.js";
export { seededRandom } from "./random.js";
export { cloneConf, EMPTY_CONF, MemoryStorage, type Storage } from "./storage.js";
export * from "./types.js";
