/** Recent cluster events seen by this replica (elections, data nodes dying or returning, repairs). */
export interface ClusterEvent {
  atMs: number;
  kind:
    | "leader"
    | "data-node-dead"
    | "data-node-alive"
    | "repair"
    | "corrupt"
    | "gc"
    | "membership"
    | "decommission"
    /** An admin broke a lock: who, which path, whose leases. */
    | "lock-break";
  message: string;
}

export class EventLog {
  private readonly events: ClusterEvent[] = [];

  constructor(
    private readonly maxEvents: number,
    private readonly now: () => number,
  ) {}

  add(kind: ClusterEvent["kind"], message: string): void {
    this.events.push({ atMs: this.now(), kind, message });
    if (this.events.length > this.maxEvents) this.events.splice(0, this.events.length - this.maxEvents);
  }

  /** Newest first. */
  recent(limit = 50): ClusterEvent[] {
    return this.events.slice(-limit).reverse();
  }
}
