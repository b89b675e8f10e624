/**
 * The recount a LevelDB replica runs before opening a store written before quotas (issue 13, mutation
 * testing of usage-recount.ts): the asynchronous recount gives the synchronous one's counters, drops
 * stale counters a crash may have left behind, and runs only once (the `uq` mark), committing at the
 * store's applied index.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState, type FsStateOptions, recountUsageIfMissing } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { encode, META_KEY } from "../../../src/meta/state/records.js";
import { prefixRange } from "../../../src/meta/state/store.js";
import { Harness } from "./helpers.js";
import { stripUsage, writeArb, writePath } from "./pre-quota.js";

const OPTS: FsStateOptions = { versionsRetained: 2, sessionTimeoutMs: 1_000_000 };

function copyOf(store: MemoryStore): MemoryStore {
  const copy = new MemoryStore();
  copy.commit(new Map(store.scanSync(prefixRange(""))), store.appliedIndex);
  return copy;
}

const rows = (store: MemoryStore, prefix: string) => [...store.scanSync(prefixRange(prefix))];

describe("the asynchronous usage recount", () => {
  it("gives the counters the synchronous one gives, dropping stale ones, once (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(writeArb, { minLength: 1, maxLength: 20 }),
        fc.constantFrom("a", "b", "zz"),
        async (writes, staleTop) => {
          const h = new Harness(OPTS);
          for (const w of writes) {
            const r = h.send({
              type: "commit",
              path: writePath(w),
              content: { kind: "inline", data: new Uint8Array(w.size) },
              createParents: true,
            });
            fc.pre(r.ok);
          }
          h.ok({ type: "mkdir", path: "/empty" });
          const store = h.fs.store as MemoryStore;
          const counted = rows(store, "u");
          await stripUsage(store);
          // A counter left behind (a wrong one, or one for a tree that is gone) must not survive.
          store.commit(new Map([[`u${staleTop}`, encode({ b: 999, f: 999 })]]), store.appliedIndex);
          const sync = copyOf(store);
          const index = store.appliedIndex;

          expect(await recountUsageIfMissing(store)).toBe(true);
          expect(store.appliedIndex).toBe(index);
          new FsState(OPTS, sync);
          expect(rows(store, "u")).toEqual(rows(sync, "u"));
          expect(rows(store, "u")).toEqual(counted);
          expect(rows(store, "u").map(([k]) => k)).not.toContain("uempty");
          expect(store.get(META_KEY)).toEqual(sync.get(META_KEY));
          new FsState(OPTS, store).checkInvariants();

          // Counted once: a second call finds the mark and commits nothing.
          store.commit(new Map([[`u${staleTop}`, encode({ b: 1, f: 1 })]]), index);
          expect(await recountUsageIfMissing(store)).toBe(false);
          expect(rows(store, "u").find(([k]) => k === `u${staleTop}`)?.[1]).toEqual(encode({ b: 1, f: 1 }));
        },
      ),
      { numRuns: 60 },
    );
  });

  it("a fresh store (no meta record) has nothing to count", async () => {
    const store = new MemoryStore();
    expect(await recountUsageIfMissing(store)).toBe(false);
    expect(store.size).toBe(0);
  });
});
