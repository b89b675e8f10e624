/**
 * A pass over a large collection cut into time-bounded slices, one per round of the leader's duties,
 * each resuming where the last one stopped. The leader runs Raft on the same thread: a whole pass over
 * millions of chunks at once would hold it past an election timeout.
 */
export class SlicedScan<T> {
  private iter: Iterator<T> | null = null;

  /** `start` opens a new pass; a live iterator (a Map's or Set's) also visits items added meanwhile. */
  constructor(private readonly start: () => Iterator<T>) {}

  /**
   * Visits items for at most `budgetMs` (checked every 256 items), or until `visit` returns false.
   * Returns true when the pass completed; the next call then starts a new one.
   */
  run(budgetMs: number, visit: (item: T) => unknown): boolean {
    const stopAt = performance.now() + budgetMs;
    for (let visited = 1; ; visited++) {
      this.iter ??= this.start();
      const next = this.iter.next();
      if (next.done) {
        this.iter = null;
        return true;
      }
      if (visit(next.value) === false) return false;
      if (visited % 256 === 0 && performance.now() > stopAt) return false;
    }
  }

  /** Drops the pass in progress: the next run starts from the beginning. */
  restart(): void {
    this.iter = null;
  }
}
