/**
 * Linearizability checking for test histories: a Wing–Gong search with Lowe's memoisation and
 * per-key partitioning, plus ready-made register and key-value models and a history recorder.
 */
export { type CheckOptions, type CheckResult, checkLinearizable, type Model } from "./checker.js";
export { describeOperation, HistoryRecorder, type Operation, type PendingCall } from "./history.js";
export {
  type KvInput,
  type KvOutput,
  type KvState,
  kvModel,
  partitionBy,
  type RegisterInput,
  type RegisterOutput,
  registerModel,
} from "./models.js";
