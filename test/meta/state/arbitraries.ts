/**
 * Random command streams for the property tests. A stream is a list of abstract steps (paths from a
 * small universe so that commands collide; tokens as "the k-th latest grant"; sessions as "the k-th
 * opened"), which `materialize` turns into concrete log entries by running them once on a reference
 * FsState. The entries are then replayed on the instances under test.
 */
import fc from "fast-check";
import type { FsStateOptions, LogEntry } from "../../../src/meta/state/index.js";
import { FsState } from "../../../src/meta/state/index.js";
import { chunked, chunkId, hashOf, secretHash } from "./helpers.js";

export const PROP_OPTS: FsStateOptions = {
  versionsRetained: 2,
  sessionTimeoutMs: 8_000,
  maxSessions: 4,
  maxSessionsPerClient: 3,
};

export const pathArb = (names: readonly string[] = ["a", "b", "c"], maxDepth = 3) =>
  fc.array(fc.constantFrom(...names), { maxLength: maxDepth }).map((segs) => `/${segs.join("/")}`);

const contentArb = fc.oneof(
  fc.uint8Array({ maxLength: 4 }).map((data) => ({ kind: "inline" as const, data })),
  fc
    .array(fc.integer({ min: 1, max: 6 }), { maxLength: 3 })
    .map((ids) => chunked(...ids.map((id): [number, number] => [id, 10 * id]))),
);

/** Acting on the granted lease's own path most of the time makes successful fenced writes common. */
const aimArb = fc.constantFrom(true, true, true, false);

/** undefined: no token; k: the k-th most recent grant. */
const tokenRefArb = fc.option(fc.nat(3), { nil: undefined, freq: 2 });

/** `tokenRef`: present a token (the k-th latest grant); `aim`: and act on that lease's path. */
interface TokenSpec {
  tokenRef?: number;
  aim?: boolean;
}

export type OpSpec = TokenSpec &
  (
    | { type: "mkdir"; path: string; parents: boolean }
    | { type: "commit"; path: string; content: unknown; expectedVersion?: number; createParents: boolean }
    | { type: "rename"; from: string; to: string }
    | { type: "delete"; path: string; recursive: boolean }
  );

export const opSpecArb = (paths: fc.Arbitrary<string>): fc.Arbitrary<OpSpec> =>
  fc.oneof(
    fc.record({
      type: fc.constant("mkdir" as const),
      path: paths,
      parents: fc.boolean(),
      tokenRef: tokenRefArb,
      aim: aimArb,
    }),
    fc.record({
      type: fc.constant("commit" as const),
      path: paths,
      content: contentArb,
      expectedVersion: fc.option(fc.nat(3), { nil: undefined, freq: 3 }),
      createParents: fc.boolean(),
      tokenRef: tokenRefArb,
      aim: aimArb,
    }),
    fc.record({
      type: fc.constant("rename" as const),
      from: paths,
      to: paths,
      tokenRef: tokenRefArb,
      aim: aimArb,
    }),
    fc.record({
      type: fc.constant("delete" as const),
      path: paths,
      recursive: fc.boolean(),
      tokenRef: tokenRefArb,
      aim: aimArb,
    }),
  );

const conditionArb = (paths: fc.Arbitrary<string>) =>
  fc.oneof(
    fc.record({ kind: fc.constant("exists" as const), path: paths, exists: fc.boolean() }),
    fc.record({ kind: fc.constant("version" as const), path: paths, version: fc.nat(3) }),
    fc.record({ kind: fc.constant("lockToken" as const), path: paths, tokenRef: fc.nat(2) }),
  );

const chunkIdsArb = fc
  .uniqueArray(fc.integer({ min: 1, max: 8 }), { maxLength: 3 })
  .map((ids) => ids.map(chunkId));

export type Action =
  | { t: "open" }
  | { t: "keepAlive" }
  | { t: "leaderChanged" }
  | { t: "noop" }
  | { t: "op"; op: OpSpec }
  | { t: "txn"; conditions: ({ kind: string; path: string } & Record<string, unknown>)[]; ops: OpSpec[] }
  | { t: "lock"; path: string; mode: "exclusive" | "shared"; ttlMs: number; owner: string }
  | { t: "renew" | "release"; path: string; tokenRef: number; aim: boolean }
  /** An admin breaks the locks on a path (in a session, as the client library sends it). */
  | { t: "break"; path: string }
  | { t: "abandon"; chunkIds: string[] }
  | { t: "gc"; chunkIds: string[]; beforeOffsetMs: number }
  | { t: "revive"; chunkIds: string[] }
  | { t: "forget"; beforeOffsetMs: number }
  | { t: "register" | "removeNode"; id: string }
  | { t: "retry"; back: number }
  /** Another client re-sends an earlier session command (its id and seq) without that session's secret. */
  | { t: "forge"; back: number };

export interface Step {
  dtMs: number;
  session: number;
  ackLag: number;
  action: Action;
}

export function actionArb(paths: fc.Arbitrary<string> = pathArb(), lockWeight = 3): fc.Arbitrary<Action> {
  const op = opSpecArb(paths);
  return fc.oneof(
    { weight: 1, arbitrary: fc.constant<Action>({ t: "open" }) },
    { weight: 1, arbitrary: fc.constant<Action>({ t: "keepAlive" }) },
    { weight: 1, arbitrary: fc.constant<Action>({ t: "leaderChanged" }) },
    { weight: 1, arbitrary: fc.constant<Action>({ t: "noop" }) },
    { weight: 12, arbitrary: op.map((o): Action => ({ t: "op", op: o })) },
    {
      weight: 3,
      arbitrary: fc
        .record({
          conditions: fc.array(conditionArb(paths), { maxLength: 2 }),
          ops: fc.array(op, { minLength: 1, maxLength: 4 }),
        })
        .map((x): Action => ({ t: "txn", ...x })),
    },
    {
      weight: lockWeight,
      arbitrary: fc
        .record({
          path: paths,
          mode: fc.constantFrom("exclusive" as const, "exclusive" as const, "shared" as const),
          ttlMs: fc.integer({ min: 200, max: 4000 }),
          owner: fc.constantFrom("o1", "o2"),
        })
        .map((x): Action => ({ t: "lock", ...x })),
    },
    {
      weight: lockWeight,
      arbitrary: fc
        .record({
          t: fc.constantFrom("renew" as const, "release" as const),
          path: paths,
          tokenRef: fc.nat(2),
          aim: fc.constantFrom(true, true, true, false),
        })
        .map((x): Action => x),
    },
    { weight: 1, arbitrary: paths.map((path): Action => ({ t: "break", path })) },
    { weight: 1, arbitrary: chunkIdsArb.map((chunkIds): Action => ({ t: "abandon", chunkIds })) },
    { weight: 1, arbitrary: chunkIdsArb.map((chunkIds): Action => ({ t: "revive", chunkIds })) },
    {
      weight: 1,
      arbitrary: fc
        .integer({ min: -2000, max: 2000 })
        .map((beforeOffsetMs): Action => ({ t: "forget", beforeOffsetMs })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({ chunkIds: chunkIdsArb, beforeOffsetMs: fc.integer({ min: -2000, max: 2000 }) })
        .map((x): Action => ({ t: "gc", ...x })),
    },
    {
      weight: 1,
      arbitrary: fc
        .record({
          t: fc.constantFrom("register" as const, "removeNode" as const),
          id: fc.constantFrom("n1", "n2"),
        })
        .map((x): Action => x),
    },
    { weight: 2, arbitrary: fc.nat(4).map((back): Action => ({ t: "retry", back })) },
    { weight: 1, arbitrary: fc.nat(4).map((back): Action => ({ t: "forge", back })) },
  );
}

/** Biased to leases and writes that present (mostly current) tokens on the leased paths. */
export function fencingActionArb(paths: fc.Arbitrary<string>): fc.Arbitrary<Action> {
  const lenient = opSpecArb(paths).map((op): OpSpec => {
    if (op.type === "commit") return { ...op, createParents: true, expectedVersion: undefined };
    if (op.type === "mkdir") return { ...op, parents: true };
    if (op.type === "delete") return { ...op, recursive: true };
    return op;
  });
  const withToken = fc
    .tuple(lenient, fc.nat(1))
    .map(([op, tokenRef]): Action => ({ t: "op", op: { ...op, tokenRef, aim: true } }));
  const withoutToken = lenient.map((op): Action => ({ t: "op", op: { ...op, tokenRef: undefined } }));
  return fc.oneof(
    { weight: 4, arbitrary: actionArb(paths, 1).filter((a) => a.t === "lock") },
    { weight: 6, arbitrary: withToken },
    { weight: 2, arbitrary: withoutToken },
    { weight: 4, arbitrary: actionArb(paths, 1) },
  );
}

export function stepsArb(
  opts: {
    maxLength?: number;
    paths?: fc.Arbitrary<string>;
    lockWeight?: number;
    dtMaxMs?: number;
    action?: fc.Arbitrary<Action>;
  } = {},
): fc.Arbitrary<Step[]> {
  const dtMaxMs = opts.dtMaxMs ?? 1500;
  const step = fc.record({
    // Negative deltas: a new leader whose clock lags.
    dtMs: fc.integer({ min: -Math.floor(dtMaxMs / 3), max: dtMaxMs }),
    session: fc.nat(3),
    ackLag: fc.nat(2),
    action: opts.action ?? actionArb(opts.paths, opts.lockWeight),
  });
  // Start with a session so that most commands have one.
  return fc
    .array(step, { maxLength: opts.maxLength ?? 30 })
    .map((steps) => [{ dtMs: 0, session: 0, ackLag: 0, action: { t: "open" } as Action }, ...steps]);
}

/** The materialized stream: entries, plus which earlier entry each retry (or forgery) re-sends. */
export interface Stream {
  entries: LogEntry[];
  retryOf: Map<number, number>;
  forgeryOf: Map<number, number>;
}

/** The secret hash a forger presents: not the session's own. */
export const FORGED_HASH = secretHash("forged");

export function materialize(steps: readonly Step[], opts: FsStateOptions = PROP_OPTS): Stream {
  const fs = new FsState(opts);
  const entries: LogEntry[] = [];
  const retryOf = new Map<number, number>();
  const forgeryOf = new Map<number, number>();
  const sessions: number[] = [];
  const seqs = new Map<number, number>();
  const grants: { token: number; path: string }[] = [];
  const sent: number[] = []; // positions in `entries` of session commands
  let ts = 1_000;

  const grant = (ref: number | undefined) =>
    ref === undefined || grants.length === 0 ? undefined : grants[grants.length - 1 - (ref % grants.length)];
  const token = (ref: number | undefined): number | undefined => grant(ref)?.token;
  const concreteOp = (o: OpSpec): Record<string, unknown> => {
    const { tokenRef, aim, ...rest } = o;
    const lockToken = token(tokenRef);
    if (lockToken === undefined) return rest;
    const target = aim ? grant(tokenRef)?.path : undefined;
    if (target === undefined) return { ...rest, lockToken };
    return rest.type === "rename"
      ? { ...rest, from: target, lockToken }
      : { ...rest, path: target, lockToken };
  };

  for (const step of steps) {
    ts = Math.max(0, ts + step.dtMs);
    const index = entries.length + 1;
    const sid = sessions.length > 0 ? (sessions[step.session % sessions.length] as number) : 999_999;
    const withSession = (cmd: Record<string, unknown>): Record<string, unknown> => {
      const seq = (seqs.get(sid) ?? 0) + 1;
      seqs.set(sid, seq);
      sent.push(entries.length);
      const ackedSeq = Math.max(0, seq - 1 - step.ackLag);
      return { ...cmd, session: { id: sid, seq, ackedSeq, secretHash: hashOf(sid) } };
    };
    const a = step.action;
    let command: Record<string, unknown>;
    switch (a.t) {
      case "open":
        // The harness's convention: session `id` is opened with secret hash `hashOf(id)`.
        command = { type: "openSession", secretHash: hashOf(index), client: `client ${step.session % 2}` };
        break;
      case "keepAlive":
        command = { type: "keepAlive", sessionId: sid, secretHash: hashOf(sid) };
        break;
      case "leaderChanged":
      case "noop":
        command = { type: a.t };
        break;
      case "op":
        command = withSession(concreteOp(a.op));
        break;
      case "txn":
        command = withSession({
          type: "txn",
          conditions: a.conditions.map((c) => {
            if (c.kind !== "lockToken") return c;
            const ref = c.tokenRef as number;
            return { kind: "lockToken", path: grant(ref)?.path ?? c.path, token: token(ref) };
          }),
          ops: a.ops.map(concreteOp),
        });
        break;
      case "lock":
        command = withSession({
          type: "lockAcquire",
          path: a.path,
          mode: a.mode,
          ttlMs: a.ttlMs,
          owner: a.owner,
          // The lock's own secret (kept in the state and its snapshots, never shown).
          secretHash: secretHash(`lock ${index}`),
        });
        break;
      case "renew":
      case "release":
        command = withSession({
          type: a.t === "renew" ? "lockRenew" : "lockRelease",
          path: (a.aim ? grant(a.tokenRef)?.path : undefined) ?? a.path,
          token: token(a.tokenRef),
        });
        break;
      case "break":
        command = withSession({ type: "breakLock", path: a.path, by: "admin" });
        break;
      case "abandon":
        command = { type: "abandonChunks", chunkIds: a.chunkIds };
        break;
      case "revive":
        command = { type: "reviveChunks", chunkIds: a.chunkIds };
        break;
      case "forget":
        command = { type: "forgetTombstones", beforeMs: Math.max(0, ts + a.beforeOffsetMs) };
        break;
      case "gc":
        command = {
          type: "collectGarbage",
          chunkIds: a.chunkIds,
          beforeMs: Math.max(0, ts + a.beforeOffsetMs),
        };
        break;
      case "register":
        command = {
          type: "registerDataNode",
          id: a.id,
          url: `http://${a.id}`,
          zone: "z",
          capacityBytes: 100,
        };
        break;
      case "removeNode":
        command = { type: "removeDataNode", id: a.id };
        break;
      case "retry": {
        const pos = sent[sent.length - 1 - (a.back % Math.max(1, sent.length))];
        if (pos === undefined) {
          command = { type: "noop" };
        } else {
          command = (entries[pos] as LogEntry).command as unknown as Record<string, unknown>;
          retryOf.set(entries.length, pos);
        }
        break;
      }
      case "forge": {
        const pos = sent[sent.length - 1 - (a.back % Math.max(1, sent.length))];
        if (pos === undefined) {
          command = { type: "noop" };
        } else {
          const original = (entries[pos] as LogEntry).command as unknown as Record<string, unknown>;
          const session = { ...(original.session as object), secretHash: FORGED_HASH };
          command = { ...original, session };
          forgeryOf.set(entries.length, pos);
        }
        break;
      }
    }
    const entry = { index, timestampMs: ts, command } as unknown as LogEntry;
    entries.push(entry);
    const r = fs.apply(entry);
    if (r.ok && a.t === "open") sessions.push((r.value as { sessionId: number }).sessionId);
    if (r.ok && a.t === "lock") grants.push({ token: (r.value as { token: number }).token, path: a.path });
  }
  return { entries, retryOf, forgeryOf };
}

/** The same stream, with a filler (a command from no session: it changes nothing) at `position`. */
export function withFiller(entries: readonly LogEntry[], position: number): LogEntry[] {
  return entries.map((e, i) =>
    i === position
      ? ({
          ...e,
          command: {
            type: "mkdir",
            path: "/",
            session: { id: 987_654_321, seq: 1, ackedSeq: 0, secretHash: hashOf(987_654_321) },
          },
        } as LogEntry)
      : e,
  );
}
