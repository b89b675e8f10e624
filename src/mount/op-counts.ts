/**
 * Requests served, by operation. The mount reports them in its log when it ends, which is what
 * shows a listing's cost: `ls -l` of a directory read with READDIRPLUS needs no LOOKUP or GETATTR per
 * entry, and one read without it needs both.
 */
import { Op } from "./protocol.js";

const NAMES: ReadonlyMap<number, string> = new Map(Object.entries(Op).map(([name, code]) => [code, name]));

export class OpCounts {
  private readonly byOpcode = new Map<number, number>();

  count(opcode: number): void {
    this.byOpcode.set(opcode, (this.byOpcode.get(opcode) ?? 0) + 1);
  }

  get(opcode: number): number {
    return this.byOpcode.get(opcode) ?? 0;
  }

  /** `LOOKUP 12, GETATTR 3, …`, most frequent first (an opcode we do not name: `op<N>`). */
  summary(): string {
    const rows = [...this.byOpcode].sort((a, b) => b[1] - a[1]);
    if (rows.length === 0) return "none";
    return rows.map(([op, n]) => `${NAMES.get(op) ?? `op${op}`} ${n}`).join(", ");
  }
}
