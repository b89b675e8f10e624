/**
 * An undo log. Every mutation of the namespace and of the chunk references records its inverse here
 * while a command runs; if the command fails half-way (a transaction's third op, say), the inverses run
 * in reverse and the state is exactly as before. This makes every namespace command and every
 * transaction all-or-nothing at O(work done) cost, without cloning the state.
 *
 * The lock table, sessions and data-node registry do not use it: their commands check everything before
 * they change anything, and transactions never touch them.
 */
import { assert } from "../../common/assert.js";

export class Journal {
  private log: (() => void)[] | null = null;

  get active(): boolean {
    return this.log !== null;
  }

  /** Called by a mutation primitive right after it changed something. No-op outside a command. */
  record(undo: () => void): void {
    this.log?.push(undo);
  }

  begin(): void {
    assert(this.log === null, "journal: commands do not nest");
    this.log = [];
  }

  commit(): void {
    assert(this.log !== null, "journal: commit without begin");
    this.log = null;
  }

  rollback(): void {
    const log = this.log;
    assert(log !== null, "journal: rollback without begin");
    this.log = null;
    for (let i = log.length - 1; i >= 0; i--) log[i]?.();
  }
}
