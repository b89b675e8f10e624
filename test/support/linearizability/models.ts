/** Ready-made sequential specifications: a single register and a key-value map partitioned by key. */
import type { Model } from "./checker.js";
import type { Operation } from "./history.js";

/** Splits a history by a key, keeping each part in history order and parts in order of first appearance. */
export function partitionBy<I, O>(
  key: (input: I) => string,
): (ops: Operation<I, O>[]) => Operation<I, O>[][] {
  return (ops) => {
    const parts = new Map<string, Operation<I, O>[]>();
    for (const op of ops) {
      const k = key(op.input);
      let part = parts.get(k);
      if (!part) parts.set(k, (part = []));
      part.push(op);
    }
    return [...parts.values()];
  };
}

// ------------------------------------------------------------------ a single register

/** `null` is the initial (absent) value; `cas` with `expected: null` succeeds only on the absent value. */
export type RegisterInput =
  | { kind: "write"; value: string }
  | { kind: "read" }
  | { kind: "cas"; expected: string | null; value: string };
export type RegisterOutput = { value: string | null } | { ok: boolean } | Record<string, never>;

/** The shared register semantics; `kind` names are those of the register (read/write/cas). */
function registerStep(
  state: string | null,
  input: RegisterInput,
  output: RegisterOutput | undefined,
): { ok: boolean; state: string | null } {
  switch (input.kind) {
    case "read":
      return { ok: output === undefined || ("value" in output && output.value === state), state };
    case "write":
      return { ok: true, state: input.value };
    case "cas": {
      const success = state === input.expected;
      const ok = output === undefined || ("ok" in output && output.ok === success);
      return { ok, state: success ? input.value : state };
    }
  }
}

function show(v: string | null): string {
  return v === null ? "null" : JSON.stringify(v);
}

/** A single read/write/compare-and-set register, initially `null`. */
export const registerModel: Model<string | null, RegisterInput, RegisterOutput> = {
  init: () => null,
  step: registerStep,
  hash: (s) => (s === null ? "null" : `s${s}`),
  readOnly: (input) => input.kind === "read",
  describe(input, output) {
    const unknown = output === undefined;
    switch (input.kind) {
      case "read":
        return `read() -> ${unknown ? "?" : "value" in output ? show(output.value) : JSON.stringify(output)}`;
      case "write":
        return `write(${show(input.value)})${unknown ? " -> ?" : ""}`;
      case "cas":
        return `cas(${show(input.expected)}, ${show(input.value)}) -> ${unknown ? "?" : "ok" in output ? String(output.ok) : JSON.stringify(output)}`;
    }
  },
};

// ------------------------------------------------------------------ a key-value map

/** A missing key reads as `null`; `cas` with `expected: null` succeeds only when the key is missing. */
export type KvInput =
  | { kind: "put"; key: string; value: string }
  | { kind: "get"; key: string }
  | { kind: "cas"; key: string; expected: string | null; value: string };
/** `{ value }` for get, `{ ok }` for cas, `{}` for put. */
export type KvOutput = { value: string | null } | { ok: boolean } | Record<string, never>;
/** Key to value; keys never written are absent. Never mutated: steps copy on write. */
export type KvState = ReadonlyMap<string, string>;

function toRegister(input: KvInput): RegisterInput {
  switch (input.kind) {
    case "get":
      return { kind: "read" };
    case "put":
      return { kind: "write", value: input.value };
    case "cas":
      return { kind: "cas", expected: input.expected, value: input.value };
  }
}

const EMPTY: KvState = new Map();

/**
 * A key-value map of strings with get/put/cas, partitioned by key: each key's sub-history is checked
 * on its own (so within a part the state holds at most one key, and steps stay cheap).
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => EMPTY,
  step(state, input, output) {
    const before = state.get(input.key) ?? null;
    const r = registerStep(before, toRegister(input), output);
    if (r.state === before || r.state === null) return { ok: r.ok, state };
    const next = new Map(state);
    next.set(input.key, r.state);
    return { ok: r.ok, state: next };
  },
  partition: partitionBy((input: KvInput) => input.key),
  hash(state) {
    if (state.size === 0) return "{}";
    if (state.size === 1) return JSON.stringify([...state]);
    return JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  },
  readOnly: (input) => input.kind === "get",
  describe(input, output) {
    const unknown = output === undefined;
    switch (input.kind) {
      case "get":
        return `get(${show(input.key)}) -> ${unknown ? "?" : "value" in output ? show(output.value) : JSON.stringify(output)}`;
      case "put":
        return `put(${show(input.key)}, ${show(input.value)})${unknown ? " -> ?" : ""}`;
      case "cas":
        return `cas(${show(input.key)}, ${show(input.expected)}, ${show(input.value)}) -> ${unknown ? "?" : "ok" in output ? String(output.ok) : JSON.stringify(output)}`;
    }
  },
};
