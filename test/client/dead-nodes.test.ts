/**
 * The dead-node watch (client/dead-nodes.ts): a request still out is given up, with UNAVAILABLE naming
 * its node, once the leader's dead list names that node, and only then. Fast requests never ask; the
 * leader is asked once for every request waiting at the same time; a leader that cannot answer counts
 * as "nobody is dead".
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { DeadNodeWatch } from "../../src/client/dead-nodes.js";
import { DfsError } from "../../src/common/errors.js";

/** A leader whose successive answers are `lists` (the last one repeats); counts the asks. */
function leader(lists: number[][] | (() => never)) {
  const asked = { count: 0 };
  const meta = {
    call: async <T>(): Promise<T> => {
      asked.count++;
      if (typeof lists === "function") return lists();
      const deadNodes = lists[Math.min(asked.count, lists.length) - 1] ?? [];
      return { deadNodes } as T;
    },
  };
  return { meta, asked };
}

/** A request that never answers by itself: it ends only when its signal aborts it. */
function silent(signal: AbortSignal): Promise<never> {
  return new Promise((_resolve, reject) => {
    signal.addEventListener("abort", () => reject(signal.reason), { once: true });
  });
}

const QUICK = { suspectAfterMs: 5, refreshMs: 5 };

describe("the dead-node watch", () => {
  test("a silent request is given up with UNAVAILABLE naming its node once the leader judges it dead", async () => {
    const { meta, asked } = leader([[], [4], [4, 7]]);
    const watch = new DeadNodeWatch(QUICK, { meta });
    const err = await watch.guard(7, silent).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DfsError);
    expect(err).toMatchObject({ code: "UNAVAILABLE", details: { failedNode: 7 } });
    // It went on while the leader named only other nodes.
    expect(asked.count).toBe(3);
  });

  test("a request that answers before it is suspect never asks the leader", async () => {
    const { meta, asked } = leader([[7]]);
    const watch = new DeadNodeWatch({ suspectAfterMs: 60_000, refreshMs: 1000 }, { meta });
    expect(await watch.guard(7, async () => "stored")).toBe("stored");
    expect(asked.count).toBe(0);
  });

  test("a slow request to a live node is not given up", async () => {
    const { meta, asked } = leader([[1], [2], [3]]);
    const watch = new DeadNodeWatch(QUICK, { meta });
    const answer = await watch.guard(7, async (signal) => {
      while (asked.count < 5) await new Promise((r) => setTimeout(r, 5));
      expect(signal.aborted).toBe(false);
      return "stored";
    });
    expect(answer).toBe("stored");
  });

  test("a leader that cannot answer leaves the request alone; the caller's abort still ends it", async () => {
    const { meta, asked } = leader(() => {
      throw new DfsError("UNAVAILABLE", "no leader");
    });
    const watch = new DeadNodeWatch(QUICK, { meta });
    const caller = new AbortController();
    const pending = watch.guard(7, silent, caller.signal).catch((e: unknown) => e);
    while (asked.count < 3) await new Promise((r) => setTimeout(r, 5));
    const reason = new Error("the caller gave up");
    caller.abort(reason);
    expect(await pending).toBe(reason);
  });

  test("requests waiting at the same time share one ask of the leader", async () => {
    const { meta, asked } = leader([[9]]);
    const watch = new DeadNodeWatch({ suspectAfterMs: 5, refreshMs: 60_000 }, { meta });
    const results = await Promise.all(
      [1, 2, 3, 4, 5, 6, 7, 8, 9].map((id) =>
        watch.guard(id, id === 9 ? silent : async () => id).catch((e: unknown) => e),
      ),
    );
    expect(results.slice(0, 8)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(results[8]).toMatchObject({ code: "UNAVAILABLE", details: { failedNode: 9 } });
    expect(asked.count).toBe(1);
  });

  test("property: a request is given up exactly when a list seen while it is out names its node", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uniqueArray(fc.integer({ min: 1, max: 5 }), { maxLength: 3 }), {
          minLength: 1,
          maxLength: 6,
        }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 8 }),
        async (lists, node, answersAfterLooks) => {
          const { meta, asked } = leader(lists);
          const watch = new DeadNodeWatch({ suspectAfterMs: 1, refreshMs: 1 }, { meta });
          // The request answers by itself once the leader has been asked `answersAfterLooks` times.
          const outcome = await watch
            .guard(node, async (signal) => {
              while (asked.count < answersAfterLooks && !signal.aborted) {
                await new Promise((r) => setTimeout(r, 1));
              }
              if (signal.aborted) throw signal.reason;
              return "answered";
            })
            .catch((e: unknown) => e);
          const seen = Array.from({ length: asked.count }, (_, i) => lists[Math.min(i, lists.length - 1)]!);
          const namedAt = seen.findIndex((l) => l.includes(node));
          if (outcome === "answered") {
            // Never named while it was out (a list that named it must have come after its answer).
            expect(namedAt === -1 || namedAt + 1 >= answersAfterLooks).toBe(true);
          } else {
            expect(outcome).toMatchObject({ code: "UNAVAILABLE", details: { failedNode: node } });
            expect(namedAt).toBeGreaterThanOrEqual(0);
          }
        },
      ),
      { numRuns: 60 },
    );
  });
});
