/** The change feed's long polls, over a scripted network. */
import { describe, expect, test } from "vitest";
import type { JsonRequest } from "../../src/client/http.js";
import { MetaCache } from "../../src/client/meta-cache.js";
import { MetaConnection } from "../../src/client/meta-connection.js";
import { followFeed, watchChanges } from "../../src/client/watch.js";
import { DfsError } from "../../src/common/errors.js";
import type { WatchResponse } from "../../src/common/protocol/index.js";

function feed(answers: (req: JsonRequest, n: number) => WatchResponse | Error) {
  const sent: JsonRequest[] = [];
  const meta = new MetaConnection(
    { endpoints: ["http://a:1"], deadlineMs: 1000, requestTimeoutMs: 500, backoff: { baseMs: 1, maxMs: 2 } },
    {
      send: async (_url, req) => {
        sent.push(req);
        const r = answers(req, sent.length);
        if (r instanceof Error) throw r;
        return r;
      },
    },
  );
  return { meta, sent };
}

describe("watch", () => {
  test("a long poll's attempt outlasts the server's hold, whatever the client's deadline", async () => {
    const { meta, sent } = feed((_req, n) => ({ index: 10 + n, changes: [], reset: false }));
    const controller = new AbortController();
    const it = watchChanges(meta, { after: 5, pollMs: 25_000, signal: controller.signal });
    const pending = it.next().catch((e: unknown) => e);
    await new Promise((r) => setTimeout(r, 300));
    controller.abort(new Error("done"));
    await pending;
    expect(sent[0]!.query).toMatchObject({ after: 5, timeoutMs: 25_000 });
    expect(sent[0]!.timeoutMs).toBeGreaterThan(25_000);
    // A feed that answers at once without news is not polled in a busy loop.
    expect(sent.length).toBeLessThan(10);
  });

  test("yields changes under the prefix, in order, and resets", async () => {
    const { meta, sent } = feed((req, n) => {
      if (n === 1) {
        return {
          index: 7,
          reset: false,
          changes: [
            { index: 6, path: "/a/x", kind: "create", version: 1 },
            { index: 7, path: "/b", kind: "rename", to: "/a/y" },
            { index: 7, path: "/c", kind: "mkdir" },
          ],
        };
      }
      if (n === 2) return { index: 50, reset: true, changes: [] };
      return new DfsError("NOT_FOUND", `stop after ${String(req.query?.after)}`);
    });
    const seen: unknown[] = [];
    const err = await (async () => {
      for await (const e of watchChanges(meta, { after: 5, prefix: "/a" })) seen.push(e);
    })().catch((e: unknown) => e);
    expect(seen).toEqual([
      { type: "change", change: { index: 6, path: "/a/x", kind: "create", version: 1 } },
      { type: "change", change: { index: 7, path: "/b", kind: "rename", to: "/a/y" } },
      { type: "reset", index: 50 },
    ]);
    expect((err as DfsError).message).toBe("stop after 50");
    expect(sent.map((r) => r.query?.after)).toEqual([5, 7, 50]);
  });

  test("the cache follower applies batches, suspends the cache on failure, resumes from its position", async () => {
    const cache = new MetaCache({ maxEntries: 10, maxBytes: 1e6, maxStalenessMs: 1000 });
    const controller = new AbortController();
    const { meta, sent } = feed((req, n) => {
      if (n === 1) return { index: 20, changes: [], reset: false }; // the starting position
      if (n === 2)
        return { index: 21, changes: [{ index: 21, path: "/f", kind: "commit", version: 2 }], reset: false };
      if (n === 3) return new DfsError("INTERNAL", "broken feed");
      if (n === 4) return { index: 22, changes: [], reset: false };
      controller.abort();
      return { index: Number(req.query?.after), changes: [], reset: false };
    });
    const states: (number | null)[] = [];
    const origApply = cache.apply.bind(cache);
    cache.apply = (b, sentAt) => {
      origApply(b, sentAt);
      states.push(cache.feedPosition);
    };
    const origSuspend = cache.suspend.bind(cache);
    cache.suspend = () => {
      origSuspend();
      states.push(null);
    };
    await followFeed(meta, cache, controller.signal, 1000);
    expect(states.slice(0, 4)).toEqual([20, 21, null, 22]);
    // Every poll asks for a quorum-confirmed answer, held for half the staleness bound at most.
    expect(sent.every((r) => r.query?.confirm === "true")).toBe(true);
    expect(sent.slice(1).every((r) => r.query?.timeoutMs === 500)).toBe(true);
    expect(sent.slice(1, 4).map((r) => r.query?.after)).toEqual([20, 21, 21]);
  });
});
