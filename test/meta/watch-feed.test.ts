import { describe, expect, test } from "vitest";
import { WatchFeed } from "../../src/meta/watch-feed.js";

const change = (index: number, path: string) => ({ index, path, kind: "commit" as const });

describe("watch feed", () => {
  test("answers at once with changes after the position, and waits when there are none", async () => {
    const feed = new WatchFeed({ maxChanges: 100, maxWaiters: 10 });
    feed.publish(1, [change(1, "/a")]);
    feed.publish(2, []);
    expect(await feed.wait(0, 1000)).toEqual({ index: 2, changes: [change(1, "/a")], reset: false });
    const pending = feed.wait(2, 5000);
    feed.publish(3, [change(3, "/b")]);
    expect(await pending).toEqual({ index: 3, changes: [change(3, "/b")], reset: false });
    expect(await feed.wait(3, 10)).toEqual({ index: 3, changes: [], reset: false });
  });

  test("a position that fell out of the bounded ring gets reset", async () => {
    const feed = new WatchFeed({ maxChanges: 8, maxWaiters: 10 });
    for (let i = 1; i <= 20; i++) feed.publish(i, [change(i, `/f${i}`)]);
    expect((await feed.wait(1, 0)).reset).toBe(true);
    const recent = await feed.wait(19, 0);
    expect(recent).toEqual({ index: 20, changes: [change(20, "/f20")], reset: false });
  });

  test("a snapshot restore resets everyone", async () => {
    const feed = new WatchFeed({ maxChanges: 8, maxWaiters: 10 });
    const pending = feed.wait(0, 5000);
    feed.resetTo(50);
    expect(await pending).toMatchObject({ reset: true });
  });
});
