/**
 * Properties over random command streams (see arbitraries.ts): determinism and snapshots, exactly-once,
 * chunk reference counts, transaction atomicity, fencing.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { isAncestor, isAncestorOrSelf } from "../../../src/common/paths.js";
import { type ApplyResult, FsState, hashValue, type LogEntry } from "../../../src/meta/state/index.js";
import {
  type Action,
  fencingActionArb,
  materialize,
  PROP_OPTS,
  pathArb,
  type Step,
  stepsArb,
  withFiller,
} from "./arbitraries.js";
import { Harness, inline, liveHoldings, recountChunks, visibleParts } from "./helpers.js";

const RUNS = { numRuns: 1000 };

/** Changes every number and byte it can reach: a restored state must not notice. */
function scribble(v: unknown): void {
  if (v instanceof Uint8Array) v.fill(0xee);
  else if (Array.isArray(v)) {
    for (const [i, x] of v.entries()) {
      if (typeof x === "number") v[i] = x + 1;
      else scribble(x);
    }
    v.push({ scribbled: true });
  } else if (typeof v === "object" && v !== null) {
    const o = v as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (typeof o[k] === "number") o[k] = (o[k] as number) + 1;
      else if (typeof o[k] === "string") o[k] = `${o[k]}!`;
      else scribble(o[k]);
    }
  }
}

function stored(r: ApplyResult): unknown {
  return r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error };
}

describe("determinism and snapshots", () => {
  it("replicas agree; snapshot → restore at any point, then continuing, changes nothing (property)", () => {
    fc.assert(
      fc.property(stepsArb(), fc.nat(), (steps, cutSeed) => {
        const { entries } = materialize(steps);
        const cut = cutSeed % (entries.length + 1);
        const a = new FsState(PROP_OPTS);
        const b = new FsState(PROP_OPTS);
        let c = new FsState(PROP_OPTS);
        let kept: { snap: unknown; hash: string } | undefined;
        entries.forEach((e, i) => {
          if (i === cut) {
            const snap = c.snapshot();
            const viaCodec = structuredClone(snap);
            c = FsState.restore(snap, PROP_OPTS);
            scribble(snap); // the restored state shares nothing with the snapshot it came from
            expect(c.stateHash()).toBe(a.stateHash());
            expect(FsState.restore(viaCodec, PROP_OPTS).stateHash()).toBe(a.stateHash());
            const aSnap = a.snapshot();
            kept = { snap: aSnap, hash: hashValue(aSnap) };
          }
          const ra = a.apply(e);
          expect(b.apply(e)).toEqual(ra);
          expect(c.apply(e)).toEqual(ra);
          expect(b.stateHash()).toBe(a.stateHash());
          expect(c.stateHash()).toBe(a.stateHash());
        });
        // The snapshot taken earlier did not follow the live state as it changed.
        if (kept) expect(hashValue(kept.snap)).toBe(kept.hash);
      }),
      RUNS,
    );
  });

  it("the hash tells states apart", () => {
    const h1 = new Harness();
    const h2 = new Harness();
    h1.ok({ type: "mkdir", path: "/a" });
    h2.ok({ type: "mkdir", path: "/b" });
    expect(h1.fs.partHashes().namespace).not.toBe(h2.fs.partHashes().namespace);
    expect(h1.fs.stateHash()).not.toBe(h2.fs.stateHash());
    expect(h1.fs.stateHash()).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe("exactly-once", () => {
  it("a retry returns the first result and changes no visible state (property)", () => {
    let replays = 0;
    fc.assert(
      fc.property(stepsArb(), (steps) => {
        const { entries, retryOf } = materialize(steps);
        const fs = new FsState(PROP_OPTS);
        const results: ApplyResult[] = [];
        entries.forEach((e, i) => {
          const before = visibleParts(fs);
          const r = fs.apply(e);
          results.push(r);
          const original = retryOf.get(i);
          if (original === undefined) return;
          expect(visibleParts(fs)).toEqual(before);
          expect(r.changes).toEqual([]);
          const refused =
            !r.ok &&
            (r.error.code === "SESSION_EXPIRED" ||
              (r.error.code === "BAD_REQUEST" && /acknowledged/.test(r.error.message)));
          if (refused) return;
          replays++;
          expect(stored(r)).toEqual(stored(results[original] as ApplyResult));
        });
      }),
      RUNS,
    );
    expect(replays).toBeGreaterThan(100);
  });

  it("a forged request (another session's id and seq, without its secret) is FORBIDDEN, gets no cached answer and changes nothing (property)", () => {
    let forged = 0;
    fc.assert(
      fc.property(stepsArb(), (steps) => {
        const { entries, forgeryOf } = materialize(steps);
        let fs = new FsState(PROP_OPTS);
        const results: ApplyResult[] = [];
        entries.forEach((e, i) => {
          if (!forgeryOf.has(i)) {
            results.push(fs.apply(e));
            return;
          }
          // The same entry from a session nobody holds: what "changes nothing" means for a refusal.
          const control = FsState.restore(fs.snapshot(), PROP_OPTS);
          const [filler] = withFiller([e], 0) as [LogEntry];
          control.apply(filler);
          const r = fs.apply(e);
          results.push(r);
          expect(fs.stateHash()).toBe(control.stateHash());
          expect(r.changes).toEqual([]);
          // An expired session, or a command malformed before its session is looked at: refused anyway.
          if (!r.ok && (r.error.code === "SESSION_EXPIRED" || r.error.code === "BAD_REQUEST")) return;
          forged++;
          expect(r.ok ? "ok" : r.error.code).toBe("FORBIDDEN");
          fs = control; // also: continuing from the control state is the same future
        });
      }),
      RUNS,
    );
    expect(forged).toBeGreaterThan(30);
  });

  it("applying a mutation twice leaves the same state as applying it once (property)", () => {
    const mutating = (a: Action) =>
      a.t === "op" || a.t === "txn" || a.t === "lock" || a.t === "renew" || a.t === "release";
    fc.assert(
      fc.property(stepsArb(), fc.nat(), (base, pick) => {
        const candidates = base.map((s, i) => (mutating(s.action) ? i : -1)).filter((i) => i >= 0);
        fc.pre(candidates.length > 0);
        const p = candidates[pick % candidates.length] as number;
        const dup: Step = { dtMs: 0, session: 0, ackLag: 0, action: { t: "retry", back: 0 } };
        const steps = [...base.slice(0, p + 1), dup, ...base.slice(p + 1)];
        const twice = materialize(steps).entries;
        const once = withFiller(twice, p + 1);
        const a = new FsState(PROP_OPTS);
        const b = new FsState(PROP_OPTS);
        twice.forEach((e, i) => {
          const ra = a.apply(e);
          const rb = b.apply(once[i] as LogEntry);
          if (i === p + 1) {
            expect(ra.changes).toEqual([]);
          } else {
            expect(ra).toEqual(rb);
          }
          if (i >= p + 1) expect(a.stateHash()).toBe(b.stateHash());
        });
      }),
      RUNS,
    );
  });
});

describe("chunk references", () => {
  it("equal a recount from retained versions after any stream; garbage is never referenced (property)", () => {
    fc.assert(
      fc.property(stepsArb(), (steps) => {
        const { entries } = materialize(steps);
        const fs = new FsState(PROP_OPTS);
        for (const e of entries) {
          fs.apply(e);
          fs.checkInvariants();
        }
        const refs = fs.referencedChunks();
        expect(recountChunks(fs)).toEqual(refs);
        for (const g of fs.garbageChunks()) expect(refs.has(g.chunkId)).toBe(false);
      }),
      RUNS,
    );
  });
});

describe("transactions", () => {
  it("are all-or-nothing and equal their ops applied one by one (property)", () => {
    const paths = pathArb();
    const txnStep = fc.record({
      dtMs: fc.integer({ min: 0, max: 500 }),
      action: fc.record({
        t: fc.constant("txn" as const),
        conditions: fc.array(
          fc.record({ kind: fc.constant("exists" as const), path: paths, exists: fc.boolean() }),
          { maxLength: 1 },
        ),
        ops: fc.array(
          fc.oneof(
            fc.record({ type: fc.constant("mkdir" as const), path: paths, parents: fc.boolean() }),
            fc.record({
              type: fc.constant("commit" as const),
              path: paths,
              content: fc.constant(inline("t")),
              createParents: fc.boolean(),
              expectedVersion: fc.option(fc.nat(2), { nil: undefined }),
            }),
            fc.record({ type: fc.constant("rename" as const), from: paths, to: paths }),
            fc.record({ type: fc.constant("delete" as const), path: paths, recursive: fc.boolean() }),
          ),
          { minLength: 1, maxLength: 5 },
        ),
      }),
    });
    let failedMidway = 0;
    fc.assert(
      fc.property(stepsArb({ maxLength: 20 }), txnStep, (steps, t) => {
        const last: Step = { dtMs: t.dtMs, session: 0, ackLag: 0, action: t.action as Action };
        const { entries } = materialize([...steps, { ...last, action: { t: "keepAlive" } }, last]);
        const txnEntry = entries[entries.length - 1] as LogEntry;
        const fs = new FsState(PROP_OPTS);
        for (const e of entries.slice(0, -1)) fs.apply(e);
        const snap = fs.snapshot();
        const before = visibleParts(fs);
        const r = fs.apply(txnEntry);
        if (!r.ok) {
          expect(visibleParts(fs)).toEqual(before);
          if (r.error.code === "SESSION_EXPIRED" || r.error.code === "CONDITION_FAILED") return;
        }
        // Replay the ops one by one, at the same time, from the same starting state.
        const one = FsState.restore(snap, PROP_OPTS);
        const cmd = txnEntry.command as unknown as {
          ops: Record<string, unknown>[];
          session: { id: number; seq: number };
        };
        const results: ApplyResult[] = [];
        for (const [j, op] of cmd.ops.entries()) {
          const seq = cmd.session.seq + j;
          const res = one.apply({
            index: txnEntry.index + j,
            timestampMs: txnEntry.timestampMs,
            command: { ...op, session: { ...cmd.session, seq, ackedSeq: seq - 1 } } as never,
          });
          results.push(res);
          if (!res.ok) break;
        }
        if (r.ok) {
          expect(results.map(stored)).toEqual(
            (r.value as { results: unknown[] }).results.map((value) => ({ ok: true, value })),
          );
          expect(one.partHashes().namespace).toBe(fs.partHashes().namespace);
          expect(one.partHashes().garbage).toBe(fs.partHashes().garbage);
        } else {
          const k = r.error.opIndex as number;
          if (k > 0) failedMidway++;
          expect(results).toHaveLength(k + 1);
          expect(results.slice(0, k).every((x) => x.ok)).toBe(true);
          const failed = results[k] as ApplyResult;
          expect(failed.ok ? null : failed.error.code).toBe(r.error.code);
        }
      }),
      RUNS,
    );
    expect(failedMidway).toBeGreaterThan(50);
  });
});

describe("locks and fencing", () => {
  type Target = { path: string; subtree: boolean };
  function targetsOf(cmd: Record<string, unknown>): Target[] | undefined {
    switch (cmd.type) {
      case "mkdir":
      case "commit":
        return [{ path: cmd.path as string, subtree: false }];
      case "delete":
        return [{ path: cmd.path as string, subtree: true }];
      case "rename":
        return [
          { path: cmd.from as string, subtree: true },
          { path: cmd.to as string, subtree: true },
        ];
      default:
        return undefined;
    }
  }

  it("tokens increase, no conflicting live holders, and writes succeed only with a live exclusive token (property)", () => {
    let fencedWrites = 0;
    fc.assert(
      fc.property(
        stepsArb({ action: fencingActionArb(pathArb(["a", "b"], 2)), maxLength: 40, dtMaxMs: 300 }),
        (steps) => {
          const { entries, retryOf } = materialize(steps);
          const fs = new FsState(PROP_OPTS);
          let lastToken = 0;
          for (const [i, e] of entries.entries()) {
            // A retry returns the first result: it is not a new grant nor a new write.
            const isRetry = retryOf.has(i);
            const cmd = e.command as unknown as Record<string, unknown>;
            const nowMs = Math.max(fs.lastTimestampMs, e.timestampMs);
            const live = liveHoldings(fs).filter((l) => l.expiresAtMs >= nowMs);
            const r = fs.apply(e);
            fs.checkInvariants();
            if (cmd.type === "lockAcquire" && r.ok && !isRetry) {
              const { token } = r.value as { token: number };
              expect(token).toBeGreaterThan(lastToken);
              lastToken = token;
            }
            // A live lease disappears only by release, by its holder re-acquiring the path, or by an admin.
            const after = new Set(liveHoldings(fs).map((l) => l.token));
            for (const l of live) {
              if (after.has(l.token) || !r.ok) continue;
              const session = cmd.session as { id: number } | undefined;
              // Only the holding session can release it: a token is no capability in another's hands.
              const released =
                cmd.type === "lockRelease" && cmd.token === l.token && session?.id === l.sessionId;
              const replaced =
                cmd.type === "lockAcquire" &&
                cmd.path === l.path &&
                cmd.owner === l.owner &&
                session?.id === l.sessionId;
              const broken = cmd.type === "breakLock" && cmd.path === l.path;
              expect(released || replaced || broken).toBe(true);
            }
            // Never two live holders on a path when one is exclusive (checkInvariants also covers the tree).
            for (const l of liveHoldings(fs)) {
              const others = liveHoldings(fs, l.path).filter((o) => o.path === l.path && o.token !== l.token);
              if (l.mode === "exclusive") expect(others).toEqual([]);
            }
            if (!r.ok || isRetry) continue;
            // Ops inside a transaction are fenced one by one, against the same leases.
            const ops = cmd.type === "txn" ? (cmd.ops as Record<string, unknown>[]) : [cmd];
            for (const op of ops) {
              const targets = targetsOf(op);
              if (targets === undefined) continue;
              const covering = live.filter((l) =>
                targets.some(
                  (t) => isAncestorOrSelf(l.path, t.path) || (t.subtree && isAncestor(t.path, l.path)),
                ),
              );
              const token = op.lockToken as number | undefined;
              if (token === undefined) {
                expect(covering).toEqual([]);
              } else {
                const mine = covering.find((l) => l.token === token);
                expect(mine?.mode).toBe("exclusive");
                // Fencing honours a token only from the session that acquired it.
                if (covering.length > 0)
                  expect(mine?.sessionId).toBe((cmd.session as { id: number } | undefined)?.id);
                for (const l of covering)
                  expect([l.owner, l.sessionId]).toEqual([mine?.owner, mine?.sessionId]);
                if (covering.length > 0) fencedWrites++;
              }
            }
          }
        },
      ),
      RUNS,
    );
    expect(fencedWrites).toBeGreaterThan(100);
  });

  it("after a lease expires and another holder is granted, the old token is refused (property)", () => {
    const paths = pathArb(["a", "b"], 3).filter((p) => p !== "/");
    fc.assert(
      fc.property(
        paths,
        paths,
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.boolean(),
        (lockPath, writePath, ttlMs, gapMs, leaderChange) => {
          fc.pre(isAncestorOrSelf(lockPath, writePath));
          const h = new Harness();
          const [a, b] = [h.openSession(), h.openSession()];
          const acquire = (s: number, owner: string) =>
            h.ok<{ token: number }>(
              { type: "lockAcquire", path: lockPath, mode: "exclusive", ttlMs, owner },
              s,
            ).token;
          const commit = (s: number, lockToken: number) =>
            h.send(
              { type: "commit", path: writePath, content: inline(String(s)), lockToken, createParents: true },
              s,
            );
          const ta = acquire(a, "a");
          expect(commit(a, ta).ok).toBe(true);
          if (leaderChange) h.apply({ type: "leaderChanged" });
          h.advance(ttlMs + gapMs);
          const tb = acquire(b, "b");
          expect(tb).toBeGreaterThan(ta);
          const stale = commit(a, ta);
          expect(stale.ok ? "ok" : stale.error.code).toBe("STALE_TOKEN");
          expect(commit(b, tb).ok).toBe(true);
          expect(h.fs.stat(writePath).version).toBe(2);
        },
      ),
      RUNS,
    );
  });
});
