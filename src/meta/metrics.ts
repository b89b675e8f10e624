/**
 * Prometheus metrics of a metadata replica (`GET /metrics`): Raft (term, role, indexes, lag, fsync and
 * proposal latency, leader changes), the file-system API (operations by kind and result) and the
 * state (locks held, sessions), and the leader's data duties (repair copies, garbage collection). Names follow raftfs_<subsystem>_<name>_<unit>.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { PersistentStorage, RaftDriver } from "../raft/index.js";
import type { GarbageMetrics, RepairMetrics } from "./data-nodes/duty-metrics.js";
import type { FsState } from "./state/index.js";

/**
 * What the gauges read, and nothing more. The replica fits it as it is; naming only these parts
 * keeps this module below the replica (which records into these metrics) instead of in a cycle with it.
 */
export interface MetricsSource {
  readonly driver: Pick<RaftDriver, "status" | "onLeaderChange">;
  readonly fs: Pick<FsState, "locks" | "sessionCount">;
  readonly tracker: { underReplicated(): readonly unknown[] } | null;
  readonly feed: {
    readonly waiterCount: number;
    readonly clientCount: number;
    readonly refusedCount: number;
  };
}

const ROLES = ["follower", "pre-candidate", "candidate", "leader"] as const;
const LATENCY_BUCKETS_S = [0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export class MetaMetrics {
  readonly registry = new Registry();
  readonly fsyncSeconds: Histogram;
  readonly proposalSeconds: Histogram;
  readonly ops: Counter<"op" | "result">;
  readonly leaderChanges: Counter;
  readonly sessionOpensLimited: Counter;
  /** Recorded by the leader's repair duty (src/meta/data-nodes/repair.ts). */
  readonly repair: RepairMetrics;
  /** Recorded by the leader's garbage collector (src/meta/data-nodes/garbage.ts). */
  readonly garbage: GarbageMetrics;

  constructor(replicaId: number) {
    const r = this.registry;
    r.setDefaultLabels({ replica: String(replicaId) });
    collectDefaultMetrics({ register: r, prefix: "raftfs_process_" });
    this.fsyncSeconds = new Histogram({
      name: "raftfs_raft_persist_seconds",
      help: "Time to persist one Ready (one LevelDB batch; synced when it holds entries, term or vote)",
      buckets: LATENCY_BUCKETS_S,
      registers: [r],
    });
    this.proposalSeconds = new Histogram({
      name: "raftfs_raft_proposal_seconds",
      help: "From proposal to applied result on the leader",
      buckets: LATENCY_BUCKETS_S,
      registers: [r],
    });
    this.ops = new Counter({
      name: "raftfs_meta_operations_total",
      help: "File-system API operations by kind and result code",
      labelNames: ["op", "result"],
      registers: [r],
    });
    this.leaderChanges = new Counter({
      name: "raftfs_raft_leader_changes_total",
      help: "Times this replica saw the leader change (elections, transfers)",
      registers: [r],
    });
    this.sessionOpensLimited = new Counter({
      name: "raftfs_meta_session_opens_rate_limited_total",
      help: "Session opens refused by the per-client rate limit (RATE_LIMITED), before any proposal",
      registers: [r],
    });
    this.repair = {
      scheduled: new Counter({
        name: "raftfs_meta_repair_copies_scheduled_total",
        help: "Copies of under-replicated chunks handed to a live holder (leader)",
        registers: [r],
      }),
      completed: new Counter({
        name: "raftfs_meta_repair_copies_completed_total",
        help: "Repair copies that arrived: the target reported the chunk (leader)",
        registers: [r],
      }),
      expired: new Counter({
        name: "raftfs_meta_repair_copies_expired_total",
        help: "Repair copies given up: not reported within three dead-node timeouts, or their source or target died; scheduled again (leader)",
        registers: [r],
      }),
      unsourced: new Gauge({
        name: "raftfs_meta_repair_unsourced_chunks",
        help: "Under-replicated chunks with no live copy to repair from, at the last complete repair pass",
        registers: [r],
      }),
      roundSeconds: new Histogram({
        name: "raftfs_meta_repair_round_seconds",
        help: "Length of one repair round (its scan is cut into slices of a few ms)",
        buckets: LATENCY_BUCKETS_S,
        registers: [r],
      }),
    };
    this.garbage = {
      condemned: new Counter({
        name: "raftfs_meta_gc_chunks_condemned_total",
        help: "Unreferenced chunks the log condemned (collectGarbage committed), to be deleted where held",
        registers: [r],
      }),
      deletesSent: new Counter({
        name: "raftfs_meta_gc_deletes_sent_total",
        help: "Delete orders queued for data nodes holding condemned chunks",
        registers: [r],
      }),
      revived: new Counter({
        name: "raftfs_meta_gc_chunks_revived_total",
        help: "Condemned chunks revived: stored again after their deletion",
        registers: [r],
      }),
      proposalFailures: new Counter({
        name: "raftfs_meta_gc_proposal_failures_total",
        help: "GC proposals (collect, revive, forget) that failed; the next round tries again",
        registers: [r],
      }),
      roundsInDoubt: new Counter({
        name: "raftfs_meta_gc_rounds_in_doubt_total",
        help: "Collection rounds that deleted nothing because a data node had not reported or was dead",
        registers: [r],
      }),
      pending: new Gauge({
        name: "raftfs_meta_gc_pending_chunks",
        help: "Unreferenced chunks known and not yet collected: listed garbage and orphans being timed",
        registers: [r],
      }),
      roundSeconds: new Histogram({
        name: "raftfs_meta_gc_round_seconds",
        help: "Length of one collection round (slow rounds are followed by a pause)",
        buckets: LATENCY_BUCKETS_S,
        registers: [r],
      }),
    };
  }

  /** Gauges read from the replica when scraped. */
  watch(replica: MetricsSource): void {
    const r = this.registry;
    const status = () => replica.driver.status();
    new Gauge({
      name: "raftfs_raft_term",
      help: "Current term",
      registers: [r],
      collect() {
        this.set(status().term);
      },
    });
    new Gauge({
      name: "raftfs_raft_role",
      help: "1 for the role this replica is in",
      labelNames: ["role"],
      registers: [r],
      collect() {
        const role = status().role;
        for (const x of ROLES) this.set({ role: x }, x === role ? 1 : 0);
      },
    });
    new Gauge({
      name: "raftfs_raft_commit_index",
      help: "Commit index",
      registers: [r],
      collect() {
        this.set(status().commitIndex);
      },
    });
    new Gauge({
      name: "raftfs_raft_applied_index",
      help: "Applied index",
      registers: [r],
      collect() {
        this.set(status().appliedIndex);
      },
    });
    new Gauge({
      name: "raftfs_raft_apply_lag_entries",
      help: "Committed entries not yet applied",
      registers: [r],
      collect() {
        const s = status();
        this.set(s.commitIndex - s.appliedIndex);
      },
    });
    new Gauge({
      name: "raftfs_raft_snapshot_index",
      help: "Index of the latest snapshot",
      registers: [r],
      collect() {
        this.set(status().snapshotIndex);
      },
    });
    new Gauge({
      name: "raftfs_raft_snapshots_installed",
      help: "Leader snapshots this replica installed since it started",
      registers: [r],
      collect() {
        this.set(status().snapshotsInstalled);
      },
    });
    new Gauge({
      name: "raftfs_meta_locks_held",
      help: "Live lock leases",
      registers: [r],
      collect() {
        this.set(replica.fs.locks().length);
      },
    });
    new Gauge({
      name: "raftfs_meta_sessions",
      help: "Open client sessions",
      registers: [r],
      collect() {
        this.set(replica.fs.sessionCount);
      },
    });
    new Gauge({
      name: "raftfs_meta_watch_waiters",
      help: "Watch long-polls held by this replica (bounded per client and in all)",
      registers: [r],
      collect() {
        this.set(replica.feed.waiterCount);
      },
    });
    new Gauge({
      name: "raftfs_meta_watch_clients",
      help: "Clients (token names, or addresses without tokens) holding a watch long-poll",
      registers: [r],
      collect() {
        this.set(replica.feed.clientCount);
      },
    });
    new Counter({
      name: "raftfs_meta_watch_refused_total",
      help: "Watch long-polls refused with TOO_MANY_WATCHERS (a per-client or total bound was reached)",
      registers: [r],
      collect() {
        this.reset();
        this.inc(replica.feed.refusedCount);
      },
    });
    new Gauge({
      name: "raftfs_meta_under_replicated_chunks",
      help: "Referenced chunks with fewer live replicas than configured (leader only)",
      registers: [r],
      collect() {
        this.set(replica.tracker?.underReplicated().length ?? 0);
      },
    });
    replica.driver.onLeaderChange(() => this.leaderChanges.inc());
  }

  /** Times every persist of the storage. */
  instrument(storage: PersistentStorage): PersistentStorage {
    const persist = storage.persist.bind(storage);
    const h = this.fsyncSeconds;
    storage.persist = async (rd) => {
      const end = h.startTimer();
      try {
        await persist(rd);
      } finally {
        end();
      }
    };
    return storage;
  }
}
