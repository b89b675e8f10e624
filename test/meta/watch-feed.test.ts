import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { WatchResponse, WireChange } from "../../src/common/protocol/index.js";
import { WatchFeed, type WatchFeedOptions } from "../../src/meta/watch-feed.js";

const change = (index: number, path: string) => ({ index, path, kind: "commit" as const });

const OPTS: WatchFeedOptions = {
  maxChanges: 100,
  maxWaiters: 10_000,
  maxWaitersPerClient: 10_000,
  afterSlackEntries: 10,
};
const feedOf = (o: Partial<WatchFeedOptions> = {}) => new WatchFeed({ ...OPTS, ...o });
const LONG = 60_000;

/** A waiter whose answer can be looked at without awaiting (undefined while it waits). */
function hold(feed: WatchFeed, after: number, client = "c", signal?: AbortSignal) {
  const out: { answer?: WatchResponse } = {};
  const p = feed.wait({ after, timeoutMs: LONG, client, ...(signal ? { signal } : {}) }).then((r) => {
    out.answer = r;
    return r;
  });
  return Object.assign(out, { p });
}

describe("watch feed", () => {
  test("answers at once with changes after the position, and waits when there are none", async () => {
    const feed = feedOf();
    feed.publish(1, [change(1, "/a")]);
    feed.publish(2, []);
    expect(await feed.wait({ after: 0, timeoutMs: 1000, client: "c" })).toEqual({
      index: 2,
      changes: [change(1, "/a")],
      reset: false,
    });
    const pending = feed.wait({ after: 2, timeoutMs: 5000, client: "c" });
    feed.publish(3, [change(3, "/b")]);
    expect(await pending).toEqual({ index: 3, changes: [change(3, "/b")], reset: false });
    expect(await feed.wait({ after: 3, timeoutMs: 10, client: "c" })).toEqual({
      index: 3,
      changes: [],
      reset: false,
    });
    expect(feed.waiterCount).toBe(0);
  });

  test("a position that fell out of the bounded ring gets reset", async () => {
    const feed = feedOf({ maxChanges: 16 });
    for (let i = 1; i <= 40; i++) feed.publish(i, [change(i, `/f${i}`)]);
    expect((await feed.wait({ after: 1, timeoutMs: 0, client: "c" })).reset).toBe(true);
    const recent = await feed.wait({ after: 39, timeoutMs: 0, client: "c" });
    expect(recent).toEqual({ index: 40, changes: [change(40, "/f40")], reset: false });
  });

  test("a waiter whose entry does not fit in the ring gets reset", async () => {
    const feed = feedOf({ maxChanges: 16 });
    feed.publish(1, [change(1, "/a")]);
    const w = hold(feed, 1);
    feed.publish(
      2,
      Array.from({ length: 40 }, (_, i) => change(2, `/big${i}`)),
    );
    expect(await w.p).toEqual({ index: 2, changes: [], reset: true });
  });

  test("a snapshot restore resets everyone", async () => {
    const feed = feedOf({ maxChanges: 16 });
    const pending = feed.wait({ after: 0, timeoutMs: 5000, client: "c" });
    feed.resetTo(50);
    expect(await pending).toMatchObject({ reset: true });
    expect(feed.waiterCount).toBe(0);
  });

  test("one pass per applied entry: 1,000 waiters do not each read the ring", async () => {
    // Count every read of a change's index in the ring: the old feed filtered the whole ring once
    // per waiter on every entry (1,000 waiters × 90 changes = 90,000 reads for one entry).
    let reads = 0;
    const counted = (index: number, path: string): WireChange => ({
      get index() {
        reads++;
        return index;
      },
      path,
      kind: "commit",
    });
    const feed = feedOf({ maxChanges: 100 });
    for (let i = 1; i <= 90; i++) feed.publish(i, [counted(i, `/f${i}`)]);
    const waiters = Array.from({ length: 1000 }, (_, i) => hold(feed, 90, `client-${i % 7}`));
    expect(feed.waiterCount).toBe(1000);

    reads = 0;
    feed.publish(91, [counted(91, "/new"), counted(91, "/new2")]);
    // The entry's own changes, and the ring's ends: never ring × waiters, nor the ring once per entry.
    expect(reads).toBeLessThanOrEqual(8);
    const answers = await Promise.all(waiters.map((w) => w.p));
    expect(feed.waiterCount).toBe(0);
    for (const a of answers) {
      expect(a.index).toBe(91);
      expect(a.reset).toBe(false);
      expect(a.changes.map((c) => c.path)).toEqual(["/new", "/new2"]);
    }

    // A position that still has changes is answered by a binary search, not a scan.
    reads = 0;
    const r = await feed.wait({ after: 89, timeoutMs: LONG, client: "c" });
    expect(r.changes.map((c) => c.path)).toEqual(["/f90", "/new", "/new2"]);
    expect(reads).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(100)) + 2);
  });

  test("an aborted request (the client went away) removes its waiter at once", async () => {
    const feed = feedOf();
    feed.publish(5, [change(5, "/a")]);
    const gone = new AbortController();
    const w = hold(feed, 5, "c", gone.signal);
    const stays = hold(feed, 5, "c");
    expect(feed.waiterCount).toBe(2);
    gone.abort();
    expect(feed.waiterCount).toBe(1);
    expect(await w.p).toEqual({ index: 5, changes: [], reset: false });
    feed.publish(6, [change(6, "/b")]);
    expect((await stays.p).changes).toEqual([change(6, "/b")]);
    // Already aborted on arrival: answered at once, nothing held.
    const late = new AbortController();
    late.abort();
    expect(await feed.wait({ after: 6, timeoutMs: LONG, client: "c", signal: late.signal })).toEqual({
      index: 6,
      changes: [],
      reset: false,
    });
    expect(feed.waiterCount).toBe(0);
  });

  test("waiters are bounded per client and in all, with TOO_MANY_WATCHERS; a slot frees when one ends", async () => {
    const feed = feedOf({ maxWaiters: 5, maxWaitersPerClient: 3 });
    feed.publish(1, [change(1, "/w")]);
    const a = [hold(feed, 1, "alice"), hold(feed, 1, "alice"), hold(feed, 1, "alice")];
    await expect(feed.wait({ after: 1, timeoutMs: LONG, client: "alice" })).rejects.toMatchObject({
      code: "TOO_MANY_WATCHERS",
      details: { scope: "client", limit: 3 },
    });
    const b = [hold(feed, 1, "bob"), hold(feed, 1, "bob")];
    await expect(feed.wait({ after: 1, timeoutMs: LONG, client: "carol" })).rejects.toMatchObject({
      code: "TOO_MANY_WATCHERS",
      details: { scope: "replica", limit: 5 },
    });
    expect(feed.waiterCount).toBe(5);
    expect(feed.clientCount).toBe(2);
    expect(feed.refusedCount).toBe(2);
    // An answer that needs no waiting is never refused.
    expect(await feed.wait({ after: 1, timeoutMs: 0, client: "carol" })).toMatchObject({ index: 1 });
    expect(await feed.wait({ after: 0, timeoutMs: LONG, client: "alice" })).toMatchObject({ index: 1 });
    feed.publish(2, [change(2, "/x")]);
    await Promise.all([...a, ...b].map((w) => w.p));
    expect(feed.waiterCount).toBe(0);
    expect(feed.clientCount).toBe(0);
    const again = hold(feed, 2, "carol");
    expect(feed.waiterCount).toBe(1);
    feed.close();
    expect(await again.p).toMatchObject({ index: 2, reset: false });
  });

  test("`after` is checked against the log: beyond applied + slack, negative or fractional → BAD_REQUEST", async () => {
    const feed = feedOf({ afterSlackEntries: 10 });
    feed.publish(100, [change(100, "/a")]);
    for (const after of [111, 1e15, -1, 1.5, Number.NaN]) {
      await expect(feed.wait({ after, timeoutMs: LONG, client: "c" }), String(after)).rejects.toMatchObject({
        code: "BAD_REQUEST",
      });
    }
    expect(feed.waiterCount).toBe(0);
    expect(await feed.wait({ after: 110, timeoutMs: 0, client: "c" })).toEqual({
      index: 110,
      changes: [],
      reset: false,
    });
  });

  test("a position ahead of this replica waits until the replica passes it", async () => {
    const feed = feedOf({ afterSlackEntries: 10 });
    feed.publish(3, [change(3, "/a")]);
    const ahead = hold(feed, 5);
    const behind = hold(feed, 3);
    feed.publish(4, [change(4, "/b")]);
    expect((await behind.p).changes).toEqual([change(4, "/b")]);
    expect(ahead.answer).toBeUndefined();
    feed.publish(5, []);
    expect(ahead.answer).toBeUndefined();
    feed.publish(9, [change(9, "/c")]);
    expect(await ahead.p).toEqual({ index: 9, changes: [change(9, "/c")], reset: false });
    expect(feed.waiterCount).toBe(0);
  });

  test("property: every waiter gets what a full scan of the ring would give it, when it would", async () => {
    // The reference is the old feed's rule: a waiter answers at the first entry after which the ring
    // holds changes newer than its position (or has dropped some it needed), with exactly those.
    const step = fc.oneof(
      fc.record({ kind: fc.constant("publish" as const), gap: fc.integer({ min: 1, max: 3 }), n: fc.nat(6) }),
      fc.record({ kind: fc.constant("wait" as const), back: fc.integer({ min: -3, max: 12 }) }),
      fc.record({ kind: fc.constant("abort" as const), pick: fc.nat() }),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.array(step, { maxLength: 60 }),
        fc.integer({ min: 16, max: 24 }),
        async (steps, max) => {
          const feed = feedOf({ maxChanges: max, afterSlackEntries: 3 });
          const ring: WireChange[] = [];
          let dropped = 0;
          let last = 0;
          const scan = (after: number): WatchResponse =>
            after < dropped
              ? { index: last, changes: [], reset: true }
              : { index: Math.max(after, last), changes: ring.filter((c) => c.index > after), reset: false };
          const open: {
            after: number;
            expected?: WatchResponse;
            got: ReturnType<typeof hold>;
            ac: AbortController;
          }[] = [];
          for (const s of steps) {
            if (s.kind === "publish") {
              last += s.gap;
              const cs = Array.from({ length: s.n }, (_, i) => change(last, `/p${last}-${i}`));
              feed.publish(last, cs);
              ring.push(...cs);
              if (ring.length > max) {
                const gone = ring.splice(0, ring.length - Math.floor((max * 3) / 4));
                dropped = Math.max(dropped, gone[gone.length - 1]!.index);
              }
              for (const o of open) {
                if (o.expected !== undefined) continue;
                const r = scan(o.after);
                if (r.reset || r.changes.length > 0) o.expected = r;
              }
            } else if (s.kind === "wait") {
              const after = Math.max(0, last - s.back);
              const ac = new AbortController();
              const got = hold(feed, after, "c", ac.signal);
              const r = scan(after);
              open.push({ after, got, ac, ...(r.reset || r.changes.length > 0 ? { expected: r } : {}) });
            } else if (open.length > 0) {
              const o = open[s.pick % open.length]!;
              if (o.expected === undefined) o.expected = scan(o.after);
              o.ac.abort();
            }
          }
          for (const o of open) if (o.expected === undefined) o.expected = scan(o.after);
          feed.close();
          for (const o of open) expect(await o.got.p).toEqual(o.expected);
          expect(feed.waiterCount).toBe(0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
