/**
 * A Wing–Gong linearizability checker with Lowe's memoisation and P-compositionality.
 *
 * The history is split by the model's `partition` (for a key-value store: one sub-history per key;
 * linearizability is compositional, so the whole history is linearizable iff every part is). Each part
 * is checked by a depth-first search over its event lists (see history.ts). In a configuration (a set
 * of linearized operations and the model state they lead to) the candidates to linearize next are the
 * calls listed before the first return event; linearizing one lifts its call and return events out of
 * the list, and reaching the first return with no candidate left means the operation returning there
 * can no longer be placed, so the search backtracks (popping the explicit stack and putting the events
 * back). A cache of configurations already reached prunes the search: one reached before either led to
 * success (and the search would have stopped) or failed.
 *
 * Operations that never returned (`ret = Infinity`) have no return event: they may be linearized at any
 * point after their call, or never. The search succeeds as soon as no return events remain, leaving any
 * such operations still pending unlinearized. Because they stay candidates until the end, they are kept
 * in a separate list, tried after the calls that returned, and three sound reductions keep them from
 * making the search exponential in their number (see `remember`, `overwritesPending` and `twins`):
 * a configuration with the same state and returned operations as one already reached but more of the
 * never-returned ones linearized is pruned; a never-returned operation immediately overwritten without
 * effect is not tried; and of several identical never-returned calls only the earliest pending is tried.
 */
import {
  buildEventLists,
  describeOperation,
  type EventEntry,
  lift,
  type Operation,
  unlift,
  validateHistory,
} from "./history.js";

/** A sequential specification. `step` with `output === undefined` must accept any result. */
export interface Model<S, I, O> {
  init(): S;
  /**
   * Applies `input` to `state`; `ok` tells whether `output` is a result the specification allows.
   * With `output === undefined` (the result is unknown) it must return `ok: true` and the state after
   * the operation took effect. Must not mutate `state`.
   */
  step(state: S, input: I, output: O | undefined): { ok: boolean; state: S };
  /** Optional split into independent sub-histories (e.g. by key), each checked on its own from `init()`. */
  partition?(ops: Operation<I, O>[]): Operation<I, O>[][];
  /** A string that is equal for two states exactly when they are equal, for memoisation. */
  hash(state: S): string;
  describe?(input: I, output: O | undefined): string;
  /**
   * Optional: true when the operation never changes the state. Read-only calls that never returned and
   * have no output constrain nothing, so they are dropped before the search (a large speed-up when many
   * reads time out).
   */
  readOnly?(input: I): boolean;
}

export interface CheckOptions {
  /** Give up and answer `unknown` after this long (wall clock). Default: no limit. */
  timeoutMs?: number;
}

export type CheckResult<I, O> =
  | { ok: true }
  | {
      ok: false;
      /** The sub-history (from `model.partition`, or the whole history) that is not linearizable. */
      partition: Operation<I, O>[];
      /** The longest sequence of that sub-history's operations the search managed to linearize. */
      longestPrefix: Operation<I, O>[];
      explanation: string;
    }
  | { ok: "unknown"; reason: string };

/** Checks that `history` is linearizable with respect to `model`. Throws on a malformed history. */
export function checkLinearizable<S, I, O>(
  model: Model<S, I, O>,
  history: Operation<I, O>[],
  opts?: CheckOptions,
): CheckResult<I, O> {
  validateHistory(history);
  const timeoutMs = opts?.timeoutMs;
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
  const parts = model.partition ? model.partition(history) : [history];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    const r = checkPartition(model, part, deadline);
    if (r.kind === "ok") continue;
    if (r.kind === "timeout") {
      return {
        ok: "unknown",
        reason:
          `timed out after ${timeoutMs} ms while checking part ${i + 1} of ${parts.length} ` +
          `(${part.length} operations) after ${r.steps} search steps; ` +
          `longest linearizable prefix so far: ${r.bestLength} operations`,
      };
    }
    return {
      ok: false,
      partition: part,
      longestPrefix: r.longestPrefix,
      explanation: `part ${i + 1} of ${parts.length}: ${r.explanation}`,
    };
  }
  return { ok: true };
}

type PartResult<I, O> =
  | { kind: "ok" }
  | { kind: "timeout"; steps: number; bestLength: number }
  | { kind: "fail"; longestPrefix: Operation<I, O>[]; explanation: string };

/** Why the deepest configuration reached got stuck: the operation that had to be placed, and the options. */
interface Stuck {
  blocker: number;
  candidates: { id: number; accepted: boolean }[];
}

function checkPartition<S, I, O>(
  model: Model<S, I, O>,
  part: Operation<I, O>[],
  deadline: number,
): PartResult<I, O> {
  const readOnly = model.readOnly;
  const ops = readOnly
    ? part.filter(
        (op) => !(op.ret === Number.POSITIVE_INFINITY && op.output === undefined && readOnly(op.input)),
      )
    : part;
  const n = ops.length;
  if (n === 0) return { kind: "ok" };

  const { main, pending } = buildEventLists(ops);
  const prevTwin = twins(pending, ops);
  let remainingReturns = 0;
  for (const op of ops) if (op.ret !== Number.POSITIVE_INFINITY) remainingReturns++;

  // The set of linearized operations as a bitset. The cache key hashes (Zobrist, 64 bits) only the
  // operations that returned; see `remember` for why those that never returned are kept apart.
  const words = (n + 31) >>> 5;
  const bits = new Uint32Array(words);
  const pendingMask = new Uint32Array(words);
  ops.forEach((op, id) => {
    if (op.ret === Number.POSITIVE_INFINITY) pendingMask[id >>> 5]! |= 1 << (id & 31);
  });
  const zobrist = zobristTable(n);
  let z1 = 0;
  let z2 = 0;
  const toggle = (id: number): void => {
    bits[id >>> 5]! ^= 1 << (id & 31);
    if (ops[id]!.ret === Number.POSITIVE_INFINITY) return;
    z1 ^= zobrist[2 * id]!;
    z2 ^= zobrist[2 * id + 1]!;
  };
  const cache = new Map<string, Uint32Array[]>();
  /**
   * Records the current configuration; false when a configuration already reached subsumes it. Exact
   * repeats are subsumed, and so is (L ∪ X, state) by (L, state) when X holds only operations that never
   * returned: those are never required and impose no real-time constraint while pending, so every
   * completion of the former is one of the latter. (The search stays complete even when the subsuming
   * configuration is an ancestor still being explored: it then has a shorter completion, found by
   * induction on the completion's length.) This keeps timed-out writes from making failing searches
   * enumerate all their subsets.
   */
  const remember = (stateHash: string): boolean => {
    const key = `${z1}:${z2}:${stateHash}`;
    const bucket = cache.get(key);
    if (!bucket) {
      cache.set(key, [bits.slice()]);
      return true;
    }
    for (const b of bucket) if (subsumes(b, bits, pendingMask)) return false;
    // Entries the new configuration subsumes are no longer needed.
    let kept = 0;
    for (const b of bucket) if (!subsumes(bits, b, pendingMask)) bucket[kept++] = b;
    bucket.length = kept;
    bucket.push(bits.slice());
    return true;
  };

  const stackEntries: EventEntry[] = [];
  const stackStates: S[] = [];
  /**
   * True when the last operation linearized never returned and `op` (a candidate right after it, with
   * resulting state hash `hash`) would leave the same state had that operation been left out, as a
   * write that overwrites an unobserved timed-out write does. Linearizing `op` directly in the parent
   * configuration then reaches the same state with one never-returned operation fewer, which subsumes
   * this configuration (`op` is a candidate there too: removing an operation with no return event does
   * not change which return comes first). Without this, failing searches would try every subset of the
   * timed-out writes overwritten along the way.
   */
  const overwritesPending = (op: Operation<I, O>, hash: string): boolean => {
    const top = stackEntries.length - 1;
    if (top < 0 || stackEntries[top]!.match !== null) return false;
    const without = model.step(stackStates[top]!, op.input, op.output);
    return without.ok && model.hash(without.state) === hash;
  };
  let state = model.init();
  // The deepest configuration reached so far; its path is copied lazily, when the search backs out of it.
  let bestLen = 0;
  let bestDirty = true;
  let best: number[] = [];
  let bestState = state;
  let stuck: Stuck | null = null;
  let steps = 0;
  const isLinearized = (id: number): boolean => (bits[id >>> 5]! & (1 << (id & 31))) !== 0;

  /** Linearizes `entry` next if the model allows it and the configuration is new; true when it did. */
  const tryLinearize = (entry: EventEntry): boolean => {
    const op = ops[entry.id]!;
    const res = model.step(state, op.input, op.output);
    if (!res.ok) return false;
    const hash = model.hash(res.state);
    toggle(entry.id);
    if (overwritesPending(op, hash) || !remember(hash)) {
      toggle(entry.id);
      return false;
    }
    stackEntries.push(entry);
    stackStates.push(state);
    state = res.state;
    lift(entry);
    if (entry.match) remainingReturns--;
    if (stackEntries.length > bestLen) {
      bestLen = stackEntries.length;
      bestDirty = true;
    }
    return true;
  };

  // The candidates of a configuration are the calls listed before the first return `limit` in `main`,
  // tried first, then the never-returned calls in `pending` made before it (seq < limit).
  let inPending = false;
  let limit = 0;
  let entry = main.next;
  while (remainingReturns > 0) {
    if ((++steps & 255) === 0 && Date.now() > deadline) {
      return { kind: "timeout", steps, bestLength: bestLen };
    }
    if (!inPending) {
      if (entry === null) throw new Error("linearizability checker: ran off the event list (internal error)");
      if (entry.isCall) {
        if (tryLinearize(entry)) entry = main.next;
        else entry = entry.next;
      } else {
        inPending = true;
        limit = entry.seq;
        entry = pending.next;
      }
      continue;
    }
    if (entry !== null && entry.seq < limit) {
      const twin = prevTwin[entry.id]!;
      // An identical never-returned call made earlier and still pending is tried instead.
      if (!(twin >= 0 && !isLinearized(twin)) && tryLinearize(entry)) {
        inPending = false;
        entry = main.next;
      } else {
        entry = entry.next;
      }
      continue;
    }
    // Every candidate failed: the operation returning at `limit` can no longer be placed. Backtrack.
    if (bestDirty) {
      best = stackEntries.map((e) => e.id);
      bestState = state;
      bestDirty = false;
      stuck = describeStuck(model, ops, main, pending, state);
    }
    const top = stackEntries.pop();
    if (top === undefined) break;
    state = stackStates.pop()!;
    unlift(top);
    toggle(top.id);
    if (top.match) {
      remainingReturns++;
      inPending = false;
    } else {
      // Resume among the pending calls, before the same first return in `main` as before.
      inPending = true;
      limit = firstReturn(main).seq;
    }
    entry = top.next;
  }
  if (remainingReturns === 0) return { kind: "ok" };

  const longestPrefix = best.map((id) => ops[id]!);
  return { kind: "fail", longestPrefix, explanation: explain(model, ops, longestPrefix, bestState, stuck) };
}

function firstReturn(main: EventEntry): EventEntry {
  let e = main.next;
  while (e?.isCall) e = e.next;
  if (!e) throw new Error("linearizability checker: no return event left (internal error)");
  return e;
}

function describeStuck<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  main: EventEntry,
  pending: EventEntry,
  state: S,
): Stuck {
  const candidates: Stuck["candidates"] = [];
  const add = (e: EventEntry): void => {
    const op = ops[e.id]!;
    candidates.push({ id: e.id, accepted: model.step(state, op.input, op.output).ok });
  };
  let e = main.next;
  for (; e?.isCall; e = e.next) add(e);
  const limit = e ? e.seq : Number.POSITIVE_INFINITY;
  for (let p = pending.next; p !== null && p.seq < limit; p = p.next) add(p);
  return { blocker: e ? e.id : -1, candidates };
}

/** How many operations of the longest prefix an explanation lists (the last ones). */
const EXPLAIN_TAIL = 30;

function explain<S, I, O>(
  model: Model<S, I, O>,
  ops: Operation<I, O>[],
  prefix: Operation<I, O>[],
  state: S,
  stuck: Stuck | null,
): string {
  const d = (op: Operation<I, O>): string => describeOperation(op, model.describe?.bind(model));
  const lines = [
    `not linearizable (${ops.length} operations; the longest linearizable prefix has ${prefix.length})`,
  ];
  if (prefix.length > 0) {
    const from = Math.max(0, prefix.length - EXPLAIN_TAIL);
    lines.push(
      from > 0 ? `linearized prefix (last ${EXPLAIN_TAIL}; all in longestPrefix):` : "linearized prefix:",
    );
    for (let i = from; i < prefix.length; i++) lines.push(`  ${i + 1}. ${d(prefix[i]!)}`);
  }
  lines.push(`model state after the prefix: ${model.hash(state)}`);
  if (stuck && stuck.blocker >= 0) {
    lines.push(
      `stuck: ${d(ops[stuck.blocker]!)} must take effect before it returns, but no pending operation ` +
        `leads to a linearization:`,
    );
    for (const c of stuck.candidates) {
      const why = c.accepted ? "allowed here, but every continuation fails" : "not allowed in this state";
      lines.push(`  - ${d(ops[c.id]!)}: ${why}`);
    }
  }
  return lines.join("\n");
}

/**
 * For each operation that never returned, the closest earlier-called one with an identical input and
 * no output (or -1). Such twins are interchangeable once both are called, so the search only ever
 * linearizes the earliest pending one of a kind: otherwise a read observing a value written by several
 * timed-out writes would split the search into one branch per writer. Inputs that are not plain data
 * (see `plainKey`) never have twins.
 */
function twins<I, O>(pending: EventEntry, ops: Operation<I, O>[]): number[] {
  const prev = ops.map(() => -1);
  const last = new Map<string, number>();
  for (let e = pending.next; e !== null; e = e.next) {
    const op = ops[e.id]!;
    if (op.output !== undefined) continue;
    const key = plainKey(op.input);
    if (key === null) continue;
    const before = last.get(key);
    if (before !== undefined) prev[e.id] = before;
    last.set(key, e.id);
  }
  return prev;
}

/**
 * A canonical string for plain data (strings, finite numbers, booleans, null, arrays and plain objects
 * of those; object keys sorted), equal for two values exactly when they are deeply equal; null for
 * anything else (Maps, class instances, undefined, functions, ...), which is never treated as equal.
 */
function plainKey(v: unknown): string | null {
  if (v === null || typeof v === "string" || typeof v === "boolean") return JSON.stringify(v);
  if (typeof v === "number") return Number.isFinite(v) && !Object.is(v, -0) ? String(v) : null;
  if (Array.isArray(v)) {
    const parts: string[] = [];
    for (const x of v) {
      const k = plainKey(x);
      if (k === null) return null;
      parts.push(k);
    }
    return `[${parts.join(",")}]`;
  }
  if (typeof v === "object") {
    const proto = Object.getPrototypeOf(v);
    if (proto !== Object.prototype && proto !== null) return null;
    const parts: string[] = [];
    for (const name of Object.keys(v).sort()) {
      const k = plainKey((v as Record<string, unknown>)[name]);
      if (k === null) return null;
      parts.push(`${JSON.stringify(name)}:${k}`);
    }
    return `{${parts.join(",")}}`;
  }
  return null;
}

/** True when linearized set `a` is a subset of `b` and everything only `b` holds is in `pending`. */
function subsumes(a: Uint32Array, b: Uint32Array, pending: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if ((x & ~y) !== 0 || (y & ~x & ~pending[i]!) !== 0) return false;
  }
  return true;
}

/** Two pseudo-random 32-bit words per operation (deterministic: a splitmix32-style mixer of the index). */
function zobristTable(n: number): Int32Array {
  const t = new Int32Array(2 * n);
  let x = 0x9e3779b9 | 0;
  for (let i = 0; i < t.length; i++) {
    x = (x + 0x9e3779b9) | 0;
    let z = x;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    t[i] = z ^ (z >>> 16);
  }
  return t;
}
