/**
 * A pass over a large collection cut into time-bounded slices, one per round of the leader's duties,
 * each resuming where the last one stopped. The leader runs Raft on the same thread: a whole pass over
 * millions of chunks at once would hold it past an election timeout.
 */

/** How long a slice may run, and the clock that measures it (injected: tests count rounds, not ms). */
export interface ScanBudget {
  /** A monotonic clock in ms (performance.now in the server). */
  clockMs(): number;
  sliceMs: number;
  /** Items visited between two readings of the clock (reading it costs more than most visits). */
  itemsPerClockRead: number;
}

export class SlicedScan<T> {
  private iter: Iterator<T> | null = null;

  /** `start` opens a new pass; a live iterator (a Map's or Set's) also visits items added meanwhile. */
  constructor(
    private readonly start: () => Iterator<T>,
    private readonly budget: ScanBudget,
  ) {}

  /**
   * Visits items for at most the budget's `sliceMs` (checked every `itemsPerClockRead` items), or until
   * `visit` returns false. Returns true when the pass completed; the next call then starts a new one.
   */
  run(visit: (item: T) => unknown): boolean {
    const { sliceMs, itemsPerClockRead } = this.budget;
    const stopAt = this.budget.clockMs() + sliceMs;
    for (let visited = 1; ; visited++) {
      this.iter ??= this.start();
      const next = this.iter.next();
      if (next.done) {
        this.iter = null;
        return true;
      }
      if (visit(next.value) === false) return false;
      if (visited % itemsPerClockRead === 0 && this.budget.clockMs() > stopAt) return false;
    }
  }

  /** Drops the pass in progress: the next run starts from the beginning. */
  restart(): void {
    this.iter = null;
  }
}
