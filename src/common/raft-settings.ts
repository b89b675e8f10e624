/**
 * Every Raft setting, once: its name, default, lower bound and unit. The config schema
 * (`config.ts`, the `raft` section), the driver's tuning and the core's options all derive from this
 * table, so a setting is added, renamed or re-defaulted in one place.
 *
 * It lives in common/ rather than raft/core/ because the config schema is in common/, and common/
 * imports nothing of the other rooms (DESIGN.md: `meta → raft → common`); raft/core re-exports it.
 * Pure data: no I/O, so the pure core may import it.
 */

export type RaftSettingUnit = "ms" | "ticks" | "entries" | "bytes" | "ratio" | "count" | "flag";

interface NumericSetting {
  readonly kind: "integer" | "number";
  readonly default: number;
  readonly minimum: number;
  readonly unit: Exclude<RaftSettingUnit, "flag">;
  readonly doc: string;
}

interface FlagSetting {
  readonly kind: "boolean";
  readonly default: boolean;
  readonly unit: "flag";
  readonly doc: string;
}

export type RaftSettingSpec = NumericSetting | FlagSetting;

const MIB = 1024 * 1024;

export const RAFT_SETTINGS = {
  tickIntervalMs: {
    kind: "integer",
    default: 50,
    minimum: 1,
    unit: "ms",
    doc: "Wall-clock length of one tick; every other time below is counted in ticks",
  },
  electionTimeoutTicks: {
    kind: "integer",
    // 6, not 10: kill -9 of the leader → first write through the library 0.42-0.46 s instead of
    // 0.74-0.81 s (medians of 5 and 3). Spurious term changes in 90 s beside two CPU-bound processes on a
    // machine at load ~25: 10 ticks 1, 6 ticks 2, 5 ticks 6 (bench/election-timeout.ts; RESULTS.md).
    default: 6,
    minimum: 2,
    unit: "ticks",
    doc: "Base election timeout; each node waits a random number of ticks in [base, 2 × base)",
  },
  heartbeatIntervalTicks: {
    kind: "integer",
    default: 1,
    minimum: 1,
    unit: "ticks",
    doc: "A leader heartbeats its followers this often",
  },
  maxInflightAppends: {
    kind: "integer",
    default: 4,
    minimum: 1,
    unit: "count",
    doc: "Appends sent to one follower and not yet acknowledged (pipelining window)",
  },
  maxEntriesPerAppend: {
    kind: "integer",
    default: 512,
    minimum: 1,
    unit: "entries",
    doc: "Entries in one append message",
  },
  maxBytesPerAppend: {
    kind: "integer",
    default: MIB,
    minimum: 1024,
    unit: "bytes",
    doc: "Bytes of entries in one append message",
  },
  maxUncommittedBytes: {
    kind: "integer",
    default: 64 * MIB,
    minimum: 1024,
    unit: "bytes",
    doc: "Proposals are refused (back-pressure) while this many bytes are appended but not committed",
  },
  snapshotChunkBytes: {
    kind: "integer",
    default: MIB,
    minimum: 1024,
    unit: "bytes",
    doc: "Bytes of snapshot in one InstallSnapshot message",
  },
  snapshotEveryEntries: {
    kind: "integer",
    default: 10_000,
    minimum: 1,
    unit: "entries",
    doc: "Take a snapshot once this many entries were applied since the last one…",
  },
  snapshotEveryBytes: {
    kind: "integer",
    default: 64 * MIB,
    minimum: 1024,
    unit: "bytes",
    doc:
      "…or once the entries applied since the last one hold this many bytes. The log, and its mirror in " +
      "memory, must be bounded by bytes as well as by count: a batch entry can carry up to a MiB of inline " +
      "bytes, and ten thousand of them held 600 MiB per replica and took seconds to read back at a restart",
  },
  snapshotLogBytesRatio: {
    kind: "number",
    default: 1,
    minimum: 0,
    unit: "ratio",
    doc:
      "…and the entries applied since hold at least this many times the last snapshot's bytes. A snapshot " +
      "serializes the whole state, so a fixed entry count makes its cost grow with the state; tying it to " +
      "the log's growth keeps the cost per logged byte constant. 0: count only",
  },
  snapshotKeepEntries: {
    kind: "integer",
    default: 1_000,
    minimum: 0,
    unit: "entries",
    doc: "Entries kept behind a snapshot, so that slightly lagging followers need no snapshot transfer…",
  },
  snapshotKeepBytes: {
    kind: "integer",
    default: 64 * MIB,
    minimum: 0,
    unit: "bytes",
    doc:
      "…as long as they hold at most this many bytes. The kept entries stay in each replica's memory, and a " +
      "thousand batch entries of inline bytes held up to a GiB there",
  },
  leaseReads: {
    kind: "boolean",
    default: false,
    unit: "flag",
    doc: "Answer ReadIndex from the leader's check-quorum lease, without a heartbeat round",
  },
  readTimeoutMs: {
    kind: "integer",
    default: 5_000,
    minimum: 1,
    unit: "ms",
    doc: "A linearizable read not confirmed within this time fails as unavailable",
  },
  maxPendingReads: {
    kind: "integer",
    default: 10_000,
    minimum: 1,
    unit: "count",
    doc: "Bound on queued ReadIndex requests (at the leader and in the driver)",
  },
  readRetryTicks: {
    kind: "integer",
    default: 10,
    minimum: 1,
    unit: "ticks",
    doc: "A ReadIndex round not confirmed within this many ticks is sent again (lost message, new leader)",
  },
} as const satisfies Record<string, RaftSettingSpec>;

export type RaftSettingName = keyof typeof RAFT_SETTINGS;

/** One value per setting: a boolean for flags, a number otherwise. */
export type RaftSettings = {
  readonly [K in RaftSettingName]: (typeof RAFT_SETTINGS)[K]["default"] extends boolean ? boolean : number;
};

export const DEFAULT_RAFT_SETTINGS: RaftSettings = Object.freeze(
  Object.fromEntries(Object.entries(RAFT_SETTINGS).map(([name, spec]) => [name, spec.default])),
) as RaftSettings;
