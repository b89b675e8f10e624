/**
 * What the HTTP API (buildMetaServer) asks of a metadata replica, and nothing more: MetaReplica
 * implements it, and the API's tests pass a fake that returns each outcome the routes must map to HTTP,
 * without Raft, LevelDB or processes.
 */
import type { DfsError } from "../common/errors.js";
import type { ClusterStatus, ReplicaStatus } from "../common/protocol/index.js";
import type { DataTracker } from "./data-tracker.js";
import type { EventLog } from "./events.js";
import type { BatchableCommand, Command, FsState } from "./state/index.js";
import type { WatchFeed } from "./watch-feed.js";

/** The file-system queries the routes run through `read`. */
export type FsQueries = Pick<
  FsState,
  "stat" | "listAsync" | "versions" | "readVersion" | "locks" | "dataNodeState" | "quota"
>;

/** The leader's data-node duties the data-path routes use. */
export type LeaderDataPath = Pick<
  DataTracker,
  | "choose"
  | "recordPlacement"
  | "ticket"
  | "locations"
  | "deadNodeIds"
  | "register"
  | "heartbeat"
  | "nodes"
  | "signQueued"
>;

export interface ReplicaApi {
  readonly feed: Pick<WatchFeed, "wait">;
  readonly events: Pick<EventLog, "add" | "recent">;
  readonly fs: Pick<FsState, "dataNodeState">;
  /** The data-node tracker while this replica leads, else null. */
  readonly tracker: LeaderDataPath | null;
  isLeader(): boolean;
  /** NOT_LEADER with the leader's id and URL as hints (null when no leader is known). */
  notLeader(): DfsError;
  /** Proposes a command; resolves with its result once applied, or rejects with a DfsError. */
  mutate(command: Command): Promise<unknown>;
  /**
   * Proposes several requests as one log entry; each settles with its own result or DfsError. Rejects
   * as a whole (e.g. NOT_LEADER) when the entry itself did not commit.
   */
  mutateBatch(commands: BatchableCommand[]): Promise<PromiseSettledResult<unknown>[]>;
  /** A read at least as new as every write acknowledged before it began, unless stale. */
  read<T>(stale: boolean, query: (fs: FsQueries) => T): Promise<{ value: T; index: number }>;
  status(): ReplicaStatus;
  dataStatus(): Pick<ClusterStatus, "data" | "underReplicatedChunks" | "corruptChunks">;
  addMetaReplica(id: number): Promise<{ id: number; url: string; state: "learner" }>;
  removeMetaReplica(id: number): Promise<{ id: number; removed: true }>;
  decommissionDataNode(id: number): Promise<{ id: number; state: string; remainingChunks: number }>;
  removeDataNode(id: number, force: boolean): Promise<{ id: number; state: string }>;
}
