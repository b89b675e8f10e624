export {
  DEFAULT_RAFT_SETTINGS,
  RAFT_SETTINGS,
  type RaftSettingName,
  type RaftSettingSpec,
  type RaftSettings,
} from "../../common/raft-settings.js";
export { applyConfChange } from "./conf.js";
export { RaftLog } from "./log.js";
export { RaftNode } from "./node.js";
export { DEFAULT_RAFT_OPTIONS, type RaftOptions, raftOptionsFrom } from "./options.js";
export { Progress } from "./progress.js";
export { seededRandom } from "./random.js";
export { Recovery } from "./recovery.js";
export type { ProgressView, RaftStatusView } from "./status.js";
export { cloneConf, EMPTY_CONF, entrySizeBytes, MemoryStorage, type Storage } from "./storage.js";
export * from "./types.js";
