/**
 * Concurrent chunk stores share placement requests: the first goes alone at once, those asked while
 * the slots are busy leave together in one placements request, each gets its own chunk's answer;
 * exclusions go alone; a replica without the route (NOT_FOUND) or a failed batch gets each item alone.
 * The fake connection holds every call until the test answers it, so the interleavings are chosen.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { PlacementBatcher } from "../../src/client/placement-batcher.js";
import { DfsError } from "../../src/common/errors.js";
import { META_ROUTES, type PlacementResponse } from "../../src/common/protocol/index.js";

interface Held {
  path: string;
  body: { chunkId?: string; exclude?: number[]; chunks?: { chunkId: string }[] };
  answer: (fail?: DfsError) => void;
}

const idOf = (i: number) => i.toString(16).padStart(64, "0");
const placementOf = (chunkId: string): PlacementResponse => ({
  chunkId,
  nodes: [{ id: 1, url: "http://127.0.0.1:1" }],
  ticket: `t-${chunkId.slice(-4)}`,
});

function heldMeta(opts: { batchRoute?: boolean } = {}) {
  const held: Held[] = [];
  const calls: Held[] = [];
  const meta = {
    call<T>(req: { path: string; body?: unknown }): Promise<T> {
      return new Promise<T>((resolve, reject) => {
        const body = req.body as Held["body"];
        const h: Held = {
          path: req.path,
          body,
          answer: (fail) => {
            if (fail) return reject(fail);
            if (req.path === META_ROUTES.placements) {
              if (opts.batchRoute === false) return reject(new DfsError("NOT_FOUND", "no such route"));
              return resolve({ placements: body.chunks!.map((c) => placementOf(c.chunkId)) } as T);
            }
            resolve(placementOf(body.chunkId!) as T);
          },
        };
        held.push(h);
        calls.push(h);
      });
    },
  };
  // Refills run when the test says (the batcher's `defer`).
  const deferred: (() => void)[] = [];
  const batcher = new PlacementBatcher({ requestsInFlight: 2 }, { meta, defer: (fn) => deferred.push(fn) });
  const turn = async () => {
    await new Promise((r) => setImmediate(r));
    for (const fn of deferred.splice(0)) fn();
    await new Promise((r) => setImmediate(r));
  };
  return { held, calls, batcher, turn };
}

const ask = (i: number, exclude: number[] = []) => ({
  id: idOf(i),
  sizeBytes: 10,
  exclude: new Set(exclude),
  deadlineMs: 1000,
});

describe("placement batcher", () => {
  test("two alone at once, the rest together in one placements request, each answered for its chunk", async () => {
    const m = heldMeta();
    const answers = Array.from({ length: 10 }, (_, i) => m.batcher.place(ask(i)));
    await m.turn();
    expect(m.calls.map((c) => c.path)).toEqual([META_ROUTES.placement, META_ROUTES.placement]);
    m.held.shift()!.answer();
    await m.turn();
    expect(m.calls.map((c) => c.path)).toEqual([
      META_ROUTES.placement,
      META_ROUTES.placement,
      META_ROUTES.placements,
    ]);
    expect(m.calls[2]!.body.chunks!.map((c) => c.chunkId)).toEqual([2, 3, 4, 5, 6, 7, 8, 9].map(idOf));
    for (const h of m.held.splice(0)) h.answer();
    const got = await Promise.all(answers);
    expect(got.map((p) => p.chunkId)).toEqual(Array.from({ length: 10 }, (_, i) => idOf(i)));
  });

  test("a placement that leaves nodes out goes alone, with its exclusions", async () => {
    const m = heldMeta();
    const a = m.batcher.place(ask(0));
    const b = m.batcher.place(ask(1));
    const c = m.batcher.place(ask(2, [3]));
    await m.turn();
    expect(m.calls.map((x) => [x.path, x.body.exclude])).toEqual([
      [META_ROUTES.placement, undefined],
      [META_ROUTES.placement, undefined],
      [META_ROUTES.placement, [3]],
    ]);
    for (const h of m.held.splice(0)) h.answer();
    expect((await Promise.all([a, b, c])).map((p) => p.chunkId)).toEqual([0, 1, 2].map(idOf));
  });

  test("a replica without the route: each asked alone, and batching stays off", async () => {
    const m = heldMeta({ batchRoute: false });
    const first = [0, 1, 2, 3].map((i) => m.batcher.place(ask(i)));
    await m.turn();
    for (const h of m.held.splice(0)) h.answer();
    await m.turn();
    // The batch of 2 and 3 was refused: they were asked again alone.
    for (let round = 0; round < 4 && m.held.length > 0; round++) {
      for (const h of m.held.splice(0)) h.answer();
      await m.turn();
    }
    expect((await Promise.all(first)).map((p) => p.chunkId)).toEqual([0, 1, 2, 3].map(idOf));
    const before = m.calls.length;
    const later = [4, 5, 6].map((i) => m.batcher.place(ask(i)));
    await m.turn();
    expect(m.calls.slice(before).map((c) => c.path)).toEqual([
      META_ROUTES.placement,
      META_ROUTES.placement,
      META_ROUTES.placement,
    ]);
    for (const h of m.held.splice(0)) h.answer();
    expect((await Promise.all(later)).map((p) => p.chunkId)).toEqual([4, 5, 6].map(idOf));
  });

  test("property: whatever order requests are answered or fail in, each ask gets its own chunk or its own error", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.record({ pick: fc.nat(), fail: fc.boolean() }), { minLength: 1, maxLength: 60 }),
        async (n, script) => {
          const m = heldMeta();
          const settled = Array.from({ length: n }, (_, i) =>
            m.batcher.place(ask(i)).then(
              (p) => ({ ok: p.chunkId }),
              (e: unknown) => ({ err: (e as DfsError).code }),
            ),
          );
          await m.turn();
          // Bounded: each step answers one held call; fallbacks add at most n alone calls per batch.
          for (let step = 0; step < 10 * n + script.length && m.held.length > 0; step++) {
            const s = script[step % script.length]!;
            const h = m.held.splice(s.pick % m.held.length, 1)[0]!;
            // Only alone calls fail for real; a failed batch is asked again item by item.
            h.answer(s.fail ? new DfsError("UNAVAILABLE", "too few nodes") : undefined);
            await m.turn();
          }
          expect(m.held).toEqual([]);
          const results = await Promise.all(settled);
          results.forEach((r, i) => {
            if ("ok" in r) expect(r.ok).toBe(idOf(i));
            else expect(r.err).toBe("UNAVAILABLE");
          });
        },
      ),
      { numRuns: 100 },
    );
  });
});
