/**
 * Histories of concurrent operations, and the doubly linked event list the checker searches.
 *
 * Time and ties. Operation `a` precedes operation `b` in real time exactly when `a.ret < b.call`
 * (strictly). When one operation's return time equals another's call time the two are treated as
 * concurrent, so either may be linearized first. In the event list this means that, at equal
 * timestamps, every call event is placed before every return event. That is the conservative choice:
 * coarse clocks (simulator ticks, millisecond wall clocks) often give causally ordered events the same
 * timestamp, and treating them as concurrent can only make the checker accept more, never reject a
 * history that is linearizable under the finer order. A recorder that wants a strict order should
 * give every event its own timestamp (as {@link HistoryRecorder} does by default).
 *
 * An operation whose `ret` is `Infinity` never returned: it may take effect at any point after its
 * call, or never. It has no return event, so nothing forces it into the linearization.
 */

/** One client call: `ret` is `Infinity` when the call never returned (it may or may not have happened). */
export interface Operation<I, O> {
  clientId: number;
  input: I;
  call: number;
  ret: number;
  /** `undefined` when the result is unknown (a timeout): any result is acceptable. */
  output: O | undefined;
}

/** A node of an event list: the call or return event of operation `id` (an index into the history). */
export interface EventEntry {
  readonly id: number;
  readonly isCall: boolean;
  /** Position in the time order of all events (calls before returns at equal times). */
  readonly seq: number;
  /** For a call: its return event, or null when the operation never returned. Null for a return. */
  match: EventEntry | null;
  prev: EventEntry | null;
  next: EventEntry | null;
}

/** The two event lists of a history, each behind a sentinel head. */
export interface EventLists {
  /** Calls and returns of the operations that returned, in time order. */
  main: EventEntry;
  /** Calls of the operations that never returned (they have no return event), in time order. */
  pending: EventEntry;
}

/** Throws on a malformed history: a call time that is not a finite number, or a return before its call. */
export function validateHistory<I, O>(history: readonly Operation<I, O>[]): void {
  history.forEach((op, i) => {
    if (typeof op.call !== "number" || !Number.isFinite(op.call)) {
      throw new Error(`operation ${i}: call time must be a finite number, got ${String(op.call)}`);
    }
    if (typeof op.ret !== "number" || Number.isNaN(op.ret) || op.ret < op.call) {
      throw new Error(`operation ${i}: return time ${String(op.ret)} must be >= call time ${op.call}`);
    }
  });
}

/** True when `a` must be linearized before `b` (it returned strictly before `b` was called). */
export function precedes<I, O>(a: Operation<I, O>, b: Operation<I, O>): boolean {
  return a.ret < b.call;
}

/**
 * Builds the event lists of a (validated) history. Events are sorted by time, calls before returns at
 * equal times, then by operation index for determinism; `seq` numbers that order. Calls of operations
 * that never returned go to their own list, so the search can try them after the others and skip them
 * cheaply; a pending call is available while its `seq` is below that of the first return still listed.
 */
export function buildEventLists<I, O>(history: readonly Operation<I, O>[]): EventLists {
  interface Ev {
    time: number;
    isCall: boolean;
    id: number;
  }
  const events: Ev[] = [];
  history.forEach((op, id) => {
    events.push({ time: op.call, isCall: true, id });
    if (op.ret !== Number.POSITIVE_INFINITY) events.push({ time: op.ret, isCall: false, id });
  });
  events.sort((a, b) => {
    if (a.time !== b.time) return a.time - b.time;
    if (a.isCall !== b.isCall) return a.isCall ? -1 : 1;
    return a.id - b.id;
  });

  const sentinel = (): EventEntry => ({
    id: -1,
    isCall: false,
    seq: -1,
    match: null,
    prev: null,
    next: null,
  });
  const main = sentinel();
  const pending = sentinel();
  const calls = new Map<number, EventEntry>();
  let lastMain = main;
  let lastPending = pending;
  events.forEach((ev, seq) => {
    const neverReturned = history[ev.id]!.ret === Number.POSITIVE_INFINITY;
    const prev = neverReturned ? lastPending : lastMain;
    const entry: EventEntry = { id: ev.id, isCall: ev.isCall, seq, match: null, prev, next: null };
    prev.next = entry;
    if (neverReturned) lastPending = entry;
    else lastMain = entry;
    if (ev.isCall) calls.set(ev.id, entry);
    else calls.get(ev.id)!.match = entry;
  });
  return { main, pending };
}

/** Removes a call event and its return event (if any) from their list. */
export function lift(call: EventEntry): void {
  unlink(call);
  if (call.match) unlink(call.match);
}

/** Puts back what {@link lift} removed; calls must be undone in the reverse order of lifting. */
export function unlift(call: EventEntry): void {
  if (call.match) relink(call.match);
  relink(call);
}

function unlink(e: EventEntry): void {
  e.prev!.next = e.next;
  if (e.next) e.next.prev = e.prev;
}

function relink(e: EventEntry): void {
  e.prev!.next = e;
  if (e.next) e.next.prev = e;
}

/** A one-line rendering of an operation, using the model's `describe` when it has one. */
export function describeOperation<I, O>(
  op: Operation<I, O>,
  describe?: (input: I, output: O | undefined) => string,
): string {
  const body = describe
    ? describe(op.input, op.output)
    : `${JSON.stringify(op.input)} -> ${op.output === undefined ? "?" : JSON.stringify(op.output)}`;
  const ret = op.ret === Number.POSITIVE_INFINITY ? "∞" : String(op.ret);
  return `client ${op.clientId} [${op.call}, ${ret}] ${body}`;
}

/** A call in flight, as handed out by {@link HistoryRecorder.begin}. */
export interface PendingCall<O> {
  /** Records the call's result at the recorder's current time. */
  complete(output: O): void;
  /** Records that the outcome is unknown and the call may still take effect later (ret = Infinity). */
  unknown(): void;
}

/**
 * Records a history from concurrent clients, for tests that drive real processes. By default the clock
 * is a logical counter that ticks on every event, so events recorded in one process get distinct
 * timestamps in the order they happened and real-time order is exact. Calls never completed (or marked
 * unknown) appear with `ret = Infinity` and no output.
 */
export class HistoryRecorder<I, O> {
  private readonly ops: Operation<I, O>[] = [];
  private counter = 0;
  private readonly clock: () => number;

  constructor(clock?: () => number) {
    this.clock = clock ?? (() => ++this.counter);
  }

  begin(clientId: number, input: I): PendingCall<O> {
    const op: Operation<I, O> = {
      clientId,
      input,
      call: this.clock(),
      ret: Number.POSITIVE_INFINITY,
      output: undefined,
    };
    this.ops.push(op);
    let done = false;
    const finish = (): void => {
      if (done) throw new Error(`call of client ${clientId} finished twice`);
      done = true;
    };
    return {
      complete: (output: O) => {
        finish();
        op.ret = this.clock();
        op.output = output;
      },
      unknown: () => finish(),
    };
  }

  /** A snapshot of the history so far; calls still in flight have `ret = Infinity`. */
  history(): Operation<I, O>[] {
    return this.ops.map((op) => ({ ...op }));
  }
}
