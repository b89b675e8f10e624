/**
 * The state store's group commit: entries applied one at a time share one synced LevelDB batch within
 * the window (a lone write no longer costs each replica a second fsync), and nobody who waits on the
 * disk — a scan, `flushed()`, `close()`, a reopen — waits out the window. The windows here are a minute
 * long on purpose: a test that passes did not wait for one.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as nextTurn } from "node:timers/promises";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { encode, META_KEY } from "../../../src/meta/state/records.js";
import { LevelStore } from "../../../src/meta/store/level-store.js";

const A_MINUTE_MS = 60_000;
const dirs: string[] = [];

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "raftfs-group-"));
  dirs.push(d);
  return d;
}

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** An entry's write set as the state writes it: its own key, and the meta record with its index. */
function entry(index: number): Map<string, Uint8Array | null> {
  return new Map<string, Uint8Array | null>([
    [`k/${index}`, Buffer.from(`v${index}`)],
    [META_KEY, encode({ a: index })],
  ]);
}

/** Counts the batches the store cuts (its `beforeBatch` hook runs once per batch). */
function countCuts(store: LevelStore): { cuts: number } {
  const c = { cuts: 0 };
  store.beforeBatch = () => {
    c.cuts++;
    return null;
  };
  return c;
}

describe("the state store's group commit", () => {
  it("entries applied one at a time, turns apart, share one synced batch (the old store cut one per entry)", async () => {
    const store = await LevelStore.open(await tempDir(), { groupCommitWindowMs: A_MINUTE_MS });
    const counter = countCuts(store);
    for (let i = 1; i <= 5; i++) {
      store.commit(entry(i), i);
      await nextTurn();
      await nextTurn();
    }
    await store.flushed();
    expect(store.durableIndex).toBe(5);
    expect(counter.cuts).toBe(1);
    expect(store.batchesWritten).toBe(1);
    await store.close();
  });

  it("a scan right after a write sees it without waiting out the window", async () => {
    const store = await LevelStore.open(await tempDir(), { groupCommitWindowMs: A_MINUTE_MS });
    store.commit(entry(1), 1);
    await nextTurn();
    const keys: string[] = [];
    for await (const [k] of store.scan({ gte: "k/", lt: "k0" })) keys.push(k);
    expect(keys).toEqual(["k/1"]);
    expect(store.durableIndex).toBe(1);
    await store.close();
  });

  it("a close right after a write makes it durable: a reopened store holds it", async () => {
    const dir = await tempDir();
    const store = await LevelStore.open(dir, { groupCommitWindowMs: A_MINUTE_MS });
    store.commit(entry(1), 1);
    store.commit(entry(2), 2);
    await store.close();
    const again = await LevelStore.open(dir);
    expect(again.durableIndex).toBe(2);
    expect(Buffer.from(again.get("k/2")!).toString()).toBe("v2");
    await again.close();
  });

  it("whatever the schedule of writes, turns and flushes, each flush makes everything before it durable, and batches never outnumber the flushes + 1 (property)", async () => {
    const step = fc.oneof(
      fc.constant("commit" as const),
      fc.constant("turn" as const),
      fc.constant("flush" as const),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 30 }), async (steps) => {
        const store = await LevelStore.open(await tempDir(), { groupCommitWindowMs: A_MINUTE_MS });
        const counter = countCuts(store);
        let index = 0;
        let flushes = 0;
        for (const s of steps) {
          if (s === "commit") store.commit(entry(++index), index);
          else if (s === "turn") await nextTurn();
          else {
            flushes++;
            await store.flushed();
            expect(store.durableIndex).toBe(index);
          }
        }
        await store.close();
        expect(store.durableIndex).toBe(index);
        expect(counter.cuts).toBeLessThanOrEqual(flushes + 1);
      }),
      { numRuns: 25 },
    );
  });
});
