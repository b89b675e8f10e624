/**
 * A batch entry (Command "batch"): several clients' requests in one log entry, each applied exactly as
 * if it had an entry of its own at that index and time — same result, same changes, same state — and
 * only request kinds that take no identity from the entry's index may share one.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ApplyResult,
  type BatchEntryResult,
  type Command,
  FsState,
  isBatchable,
  LIMITS,
  type LogEntry,
  parseCommand,
} from "../../../src/meta/state/index.js";
import { materialize, PROP_OPTS, stepsArb } from "./arbitraries.js";
import { Harness, inline } from "./helpers.js";

/** What a client learns of one request, and the changes it made (without the index they carry). */
type Seen = { result: unknown; changes: unknown[] };

const withoutIndex = (changes: readonly { index: number }[]) => changes.map(({ index: _i, ...c }) => c);

function single(r: ApplyResult): Seen {
  return {
    result: r.ok ? { ok: true, value: r.value } : { ok: false, error: r.error },
    changes: withoutIndex(r.changes),
  };
}

function batchable(e: LogEntry): boolean {
  try {
    return isBatchable(parseCommand(e.command));
  } catch {
    return false;
  }
}

/**
 * Cuts a stream into runs: consecutive batchable entries (a `cut` flag or the size bound ends a run);
 * every other entry is a run of its own. Every entry of a run is moved to the run's first time.
 */
function runsOf(entries: readonly LogEntry[], cuts: readonly boolean[]): LogEntry[][] {
  const runs: LogEntry[][] = [];
  let open: LogEntry[] | null = null;
  entries.forEach((e, i) => {
    if (!batchable(e)) {
      runs.push([e]);
      open = null;
      return;
    }
    if (open === null || cuts[i % cuts.length] || open.length === LIMITS.maxBatchCommands) {
      open = [];
      runs.push(open);
    }
    open.push({ ...e, timestampMs: open[0]?.timestampMs ?? e.timestampMs });
  });
  return runs;
}

describe("a batch entry", () => {
  it("applies each request as consecutive entries at one time would: results, changes, state (property)", () => {
    fc.assert(
      fc.property(stepsArb(), fc.array(fc.boolean(), { minLength: 1, maxLength: 8 }), (steps, cuts) => {
        const runs = runsOf(materialize(steps).entries, cuts);
        const alone = new FsState(PROP_OPTS);
        const batched = new FsState(PROP_OPTS);
        for (const run of runs) {
          const expected = run.map((e) => single(alone.apply(e)));
          if (run.length === 1) {
            expect(single(batched.apply(run[0]!))).toEqual(expected[0]);
          } else {
            const last = run[run.length - 1]!;
            const r = batched.apply({
              index: last.index,
              timestampMs: run[0]!.timestampMs,
              command: { type: "batch", commands: run.map((e) => e.command) } as Command,
            });
            if (!r.ok) expect.fail(`batch refused: ${r.error.message}`);
            const got = (r.value as BatchEntryResult).map((result) => ({ result }));
            expect(got).toEqual(expected.map(({ result }) => ({ result })));
            expect(withoutIndex(r.changes)).toEqual(expected.flatMap((s) => s.changes));
            // Every change of the entry carries its index: a watcher resumes after the whole entry.
            for (const c of r.changes) expect(c.index).toBe(last.index);
          }
          expect(batched.stateHash()).toBe(alone.stateHash());
        }
      }),
      { numRuns: 150 },
    );
  });

  it("numbers two commits of one file in one entry as two versions, and answers each", () => {
    const h = new Harness();
    const s = h.session;
    const commit = (seq: number, text: string) => ({
      type: "commit",
      path: "/f",
      content: inline(text),
      createParents: true,
      session: h.ref(s, seq, 0),
    });
    const r = h.apply({ type: "batch", commands: [commit(1, "one"), commit(2, "two")] });
    if (!r.ok) expect.fail(r.error.message);
    expect(r.value).toEqual([
      { ok: true, value: { version: 1 } },
      { ok: true, value: { version: 2 } },
    ]);
    expect(r.changes.map((c) => [c.kind, c.index])).toEqual([
      ["create", h.index],
      ["commit", h.index],
    ]);
    // A retry of the second request on its own (a client that lost the answer) gets its first answer.
    const retry = h.apply(commit(2, "two"));
    expect(retry.ok && retry.value).toEqual({ version: 2 });
    expect(h.fs.stat("/f").version).toBe(2);
  });

  it("keeps one request's failure to itself: the others apply", () => {
    const h = new Harness();
    const s = h.session;
    const r = h.apply({
      type: "batch",
      commands: [
        { type: "mkdir", path: "/d", parents: false, session: h.ref(s, 1, 0) },
        { type: "delete", path: "/missing", recursive: false, session: h.ref(s, 2, 0) },
        { type: "commit", path: "/d/f", content: inline("x"), session: h.ref(s, 3, 0) },
      ],
    });
    if (!r.ok) expect.fail(r.error.message);
    const results = r.value as BatchEntryResult;
    expect(results.map((x) => x.ok)).toEqual([true, false, true]);
    expect(results[1]).toMatchObject({ ok: false, error: { code: "NOT_FOUND" } });
    expect(h.fs.stat("/d/f").version).toBe(1);
  });

  it("refuses, applying nothing, what takes its identity from the index, a nested batch, or no commands", () => {
    const h = new Harness();
    const s = h.session;
    const commit = { type: "commit", path: "/f", content: inline("x"), session: h.ref(s, 1, 0) };
    const refused: unknown[] = [
      // A session id and a fencing token are their entry's index: two in one entry would collide.
      [commit, { type: "openSession", secretHash: "a".repeat(64) }],
      [
        commit,
        {
          type: "lockAcquire",
          path: "/f",
          mode: "exclusive",
          ttlMs: 1000,
          owner: "o",
          session: h.ref(s, 2, 0),
        },
      ],
      [commit, { type: "batch", commands: [commit] }],
      [],
      Array.from({ length: LIMITS.maxBatchCommands + 1 }, () => commit),
    ];
    for (const commands of refused) {
      const r = h.apply({ type: "batch", commands });
      expect(r).toMatchObject({ ok: false, error: { code: "BAD_REQUEST" } });
      expect(r.changes).toEqual([]);
      expect(() => h.fs.stat("/f")).toThrow();
    }
    // Nothing of them was applied: the commit's seq is still unused, and applies now.
    const r = h.apply(commit);
    expect(r.ok && r.value).toEqual({ version: 1 });
  });
});
