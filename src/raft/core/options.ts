import { DEFAULT_RAFT_SETTINGS, type RaftSettings } from "../../common/raft-settings.js";
import type { Storage } from "./storage.js";
import type { NodeId, Random } from "./types.js";

/** The settings the core itself reads (the rest are the driver's: ticks in ms, snapshots, read retries). */
export const CORE_SETTING_NAMES = [
  "electionTimeoutTicks",
  "heartbeatIntervalTicks",
  "maxInflightAppends",
  "maxEntriesPerAppend",
  "maxBytesPerAppend",
  "maxUncommittedBytes",
  "snapshotChunkBytes",
  "maxPendingReads",
] as const satisfies readonly (keyof RaftSettings)[];

type CoreSettings = { [K in (typeof CORE_SETTING_NAMES)[number]]: RaftSettings[K] };

/** Protocol switches: always on in production; the simulator turns them off to test the bare protocol. */
export interface RaftProtocolOptions {
  preVote: boolean;
  checkQuorum: boolean;
  /** "lease" answers ReadIndex without a heartbeat round while the leader's check-quorum lease holds. */
  readOnly: "safe" | "lease";
}

/** Setting meanings and units: RAFT_SETTINGS (src/common/raft-settings.ts). */
export interface RaftOptions extends CoreSettings, RaftProtocolOptions {
  id: NodeId;
  storage: Storage;
  random: Random;
  /**
   * The store was found empty (or a recovery was cut short): this replica may have voted before it
   * lost its disk, so it votes again only after the recovery in recovery.ts.
   */
  recovering?: boolean;
}

function coreSettings(settings: RaftSettings): CoreSettings {
  return Object.fromEntries(CORE_SETTING_NAMES.map((name) => [name, settings[name]])) as CoreSettings;
}

export const DEFAULT_RAFT_OPTIONS: Readonly<CoreSettings & RaftProtocolOptions> = Object.freeze({
  ...coreSettings(DEFAULT_RAFT_SETTINGS),
  preVote: true,
  checkQuorum: true,
  readOnly: "safe",
});

/** The core's options from the cluster's settings: the one mapping, used by the driver. */
export function raftOptionsFrom(
  settings: RaftSettings,
  deps: { id: NodeId; storage: Storage; random: Random; recovering?: boolean },
): RaftOptions {
  return {
    ...DEFAULT_RAFT_OPTIONS,
    ...coreSettings(settings),
    readOnly: settings.leaseReads ? "lease" : "safe",
    ...deps,
  };
}
