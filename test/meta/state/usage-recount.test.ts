/**
 * Quota usage for stores written before quotas existed (src/meta/state/usage-recount.ts): such a store
 * has no usage counters and no `uq` mark in its meta record. Opening the state over it must count every
 * top-level tree's existing names and retained bytes, so that a quota set afterwards sees them. Here
 * over the in-memory store; test/meta/store/level-store.test.ts does the same over LevelDB.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { FsState, type FsStateOptions } from "../../../src/meta/state/index.js";
import { decode, META_KEY, type MetaRec } from "../../../src/meta/state/records.js";
import { prefixRange, type SyncScanStore } from "../../../src/meta/state/store.js";
import { Harness } from "./helpers.js";
import { stripUsage, writeArb, writePath } from "./pre-quota.js";

const OPTS: FsStateOptions = { versionsRetained: 2, sessionTimeoutMs: 1_000_000 };

describe("usage of a store written before quotas", () => {
  test("opening the state over it counts each tree, and a quota set then sees the existing usage", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(writeArb, { minLength: 1, maxLength: 25 }), async (writes) => {
        const h = new Harness(OPTS);
        for (const w of writes) {
          const r = h.send({
            type: "commit",
            path: writePath(w),
            content: { kind: "inline", data: new Uint8Array(w.size) },
            createParents: true,
          });
          fc.pre(r.ok); // a name used as both a file and a directory
        }
        const tops = h.fs
          .list("/")
          .filter((e) => e.type === "dir")
          .map((e) => e.path);
        const expected = tops.map((t) => h.fs.quota(t).usage);
        const store = h.fs.store as SyncScanStore;
        await stripUsage(store);
        expect([...store.scanSync(prefixRange("u"))]).toEqual([]);

        const reopened = new FsState(OPTS, store);
        reopened.checkInvariants();
        expect(tops.map((t) => reopened.quota(t).usage)).toEqual(expected);
        expect(decode<MetaRec>(store.get(META_KEY)!).uq).toBe(1);
      }),
    );
  });

  test("a quota set after the recount refuses growth past the existing usage", async () => {
    const h = new Harness(OPTS);
    for (let i = 0; i < 5; i++) {
      h.ok({
        type: "commit",
        path: `/p/d/f${i}`,
        content: { kind: "inline", data: new Uint8Array(10) },
        createParents: true,
      });
    }
    await stripUsage(h.fs.store);
    // The in-memory store keeps no session table: the reopened state gets a session of its own.
    h.fs = new FsState(OPTS, h.fs.store);
    const s = h.openSession();
    // 6 names below /p (d and f0..f4), 50 bytes: a limit of 7 names leaves room for exactly one more.
    expect(h.ok({ type: "setQuota", path: "/p", files: 7 }, s)).toMatchObject({
      usage: { files: 6, bytes: 50 },
    });
    h.ok({ type: "commit", path: "/p/d/f5", content: { kind: "inline", data: new Uint8Array(1) } }, s);
    expect(
      h.err({ type: "commit", path: "/p/d/f6", content: { kind: "inline", data: new Uint8Array(1) } }, s)
        .code,
    ).toBe("QUOTA_EXCEEDED");
  });
});
