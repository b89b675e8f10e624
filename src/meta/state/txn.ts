/**
 * Transactions, like etcd's Txn: if every condition holds, every op applies, in order, each seeing the
 * effects of the ones before; otherwise nothing applies. Atomicity comes from the overlay: FsState
 * drops everything this function wrote when it throws, so an op failing half-way leaves no trace.
 */
import { DfsError } from "../../common/errors.js";
import type { NamespaceOp, TxnCondition } from "./commands.js";
import { applyNamespaceOp, type OpContext } from "./ops.js";
import { fail, type Outcome } from "./outcome.js";
import type { Change } from "./types.js";

function holds(ctx: OpContext, c: TxnCondition): boolean {
  const node = ctx.ns.get(c.path);
  switch (c.kind) {
    case "exists":
      return (node !== undefined) === c.exists;
    case "version":
      if (node === undefined) return c.version === 0;
      return node.rec.t === "f" && node.rec.hi === c.version;
    case "lockToken":
      // Only the holding session may lean on its token: to anyone else it is just a guessable number.
      return ctx.locks.holds(c.path, c.token, ctx.sessionId, ctx.nowMs);
  }
}

export function applyTxn(
  ctx: OpContext,
  txn: { conditions: readonly TxnCondition[]; ops: readonly NamespaceOp[] },
): Outcome {
  txn.conditions.forEach((c, conditionIndex) => {
    if (!holds(ctx, c)) {
      fail("CONDITION_FAILED", `condition ${conditionIndex} (${c.kind} on ${c.path}) does not hold`, {
        conditionIndex,
        condition: { ...c },
      });
    }
  });
  const results: unknown[] = [];
  const changes: Change[] = [];
  txn.ops.forEach((op, opIndex) => {
    try {
      const out = applyNamespaceOp(ctx, op);
      results.push(out.value);
      changes.push(...out.changes);
    } catch (err) {
      // Say which op failed; the code stays the op's own (NOT_FOUND, LOCKED...).
      if (!(err instanceof DfsError)) throw err;
      throw new DfsError(
        err.code,
        `op ${opIndex} (${op.type}): ${err.message}`,
        { ...err.details, opIndex },
        { cause: err },
      );
    }
  });
  return { value: { results }, changes };
}
