/**
 * What the repair and garbage-collection duties record, as the shapes of prom-client's counters, gauges
 * and histograms (MetaMetrics supplies the real ones; named here so these rooms need no registry and
 * tests may read the real metrics back). Each default records nothing.
 */
export interface Count {
  inc(value?: number): void;
}
export interface Level {
  set(value: number): void;
}
export interface Timing {
  observe(value: number): void;
}

export interface RepairMetrics {
  /** Copies of under-replicated chunks handed to a holder. */
  scheduled: Count;
  /** Copies that arrived: a target reported the chunk while its repair was in flight. */
  completed: Count;
  /** Copies given up (never reported within their deadline, or a node they involve died): scheduled again. */
  expired: Count;
  /** Under-replicated chunks that have no live copy to repair from. */
  unsourced: Level;
  /** A repair round's length, in seconds of the scan budget's clock. */
  roundSeconds: Timing;
}

export interface GarbageMetrics {
  /** Chunks the log condemned (collectGarbage committed them as tombstones). */
  condemned: Count;
  /** Delete orders queued for holders of condemned chunks. */
  deletesSent: Count;
  /** Tombstones revived: the chunk was stored again after its deletion. */
  revived: Count;
  /** GC proposals (collect, revive, forget) that failed: the next round tries again. */
  proposalFailures: Count;
  /** Rounds that deleted nothing because of a doubt (an unreported or dead node). */
  roundsInDoubt: Count;
  /** Unreferenced chunks known and waiting: listed garbage plus orphans being timed. */
  pending: Level;
  /** A collection round's length, in seconds of the scan budget's clock. */
  roundSeconds: Timing;
}

const NONE = { inc() {}, set() {}, observe() {} };

export const NO_REPAIR_METRICS: RepairMetrics = {
  scheduled: NONE,
  completed: NONE,
  expired: NONE,
  unsourced: NONE,
  roundSeconds: NONE,
};

export const NO_GARBAGE_METRICS: GarbageMetrics = {
  condemned: NONE,
  deletesSent: NONE,
  revived: NONE,
  proposalFailures: NONE,
  roundsInDoubt: NONE,
  pending: NONE,
  roundSeconds: NONE,
};
