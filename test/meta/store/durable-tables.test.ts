/**
 * The durable machine answers the leader's duties and the listing route as the in-memory one does:
 * the chunk tables (references, garbage, tombstones) are built by a scan when the store opens and kept
 * current per entry, across restarts; a listing waits only for what was applied before it, not for a
 * stream of writes to stop.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { encodeEntry } from "../../../src/meta/entry-codec.js";
import { FsMachine } from "../../../src/meta/fs-machine.js";
import type { Command, FsStateOptions } from "../../../src/meta/state/index.js";
import { WatchFeed } from "../../../src/meta/watch-feed.js";
import { chunked, chunkId, hashOf, inline } from "../state/helpers.js";

const OPTS: FsStateOptions = { versionsRetained: 2, sessionTimeoutMs: 600_000 };
const feed = () =>
  new WatchFeed({ maxChanges: 1000, maxWaiters: 10, maxWaitersPerClient: 10, afterSlackEntries: 10 });
const dirs: string[] = [];

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function stateDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "raftfs-durable-"));
  dirs.push(d);
  return join(d, "state");
}

/** Feeds the same entries to several machines, numbered as the log would. */
class Feeder {
  index = 0;
  seq = 0;
  constructor(public machines: FsMachine[]) {}

  apply(command: Record<string, unknown>, session = false): void {
    this.index++;
    const withSession = session
      ? { ...command, session: { id: 1, seq: ++this.seq, ackedSeq: this.seq - 1, secretHash: hashOf(1) } }
      : command;
    const data = encodeEntry({ timestampMs: 1_000 * this.index, command: withSession as Command });
    for (const m of this.machines) m.apply({ index: this.index, term: 1, data });
  }
}

type Op =
  | { k: "commit"; file: number; chunks: number[] }
  | { k: "inline"; file: number }
  | { k: "delete"; file: number }
  | { k: "abandon"; chunk: number }
  | { k: "collect"; chunk: number }
  | { k: "forget" }
  | { k: "restart" };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    k: fc.constant("commit" as const),
    file: fc.nat(5),
    chunks: fc.array(fc.nat(12), { minLength: 1, maxLength: 3 }),
  }),
  fc.record({ k: fc.constant("inline" as const), file: fc.nat(5) }),
  fc.record({ k: fc.constant("delete" as const), file: fc.nat(5) }),
  fc.record({ k: fc.constant("abandon" as const), chunk: fc.nat(12) }),
  fc.record({ k: fc.constant("collect" as const), chunk: fc.nat(12) }),
  fc.constant({ k: "forget" as const }),
  fc.constant({ k: "restart" as const }),
);

function tables(m: FsMachine) {
  return {
    refs: [...m.fs.referencedChunks()].sort(),
    garbage: m.fs.garbageChunks(),
    tombstones: m.fs.tombstones(),
  };
}

describe("the durable machine's chunk tables and listings", () => {
  it("match the in-memory machine's after any sequence of commits, deletes, collections and restarts (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 25 }), async (ops) => {
        const dir = await stateDir();
        const memory = new FsMachine(OPTS, feed());
        let durable = await FsMachine.openDurable(OPTS, feed(), dir);
        const f = new Feeder([memory, durable]);
        f.apply({ type: "openSession", secretHash: hashOf(1) });
        try {
          for (const op of ops) {
            switch (op.k) {
              case "commit":
                f.apply(
                  {
                    type: "commit",
                    path: `/d/f${op.file}`,
                    content: chunked(...op.chunks.map((c): [number, number] => [c, 100 + c])),
                    createParents: true,
                  },
                  true,
                );
                break;
              case "inline":
                f.apply(
                  { type: "commit", path: `/d/f${op.file}`, content: inline("x"), createParents: true },
                  true,
                );
                break;
              case "delete":
                f.apply({ type: "delete", path: `/d/f${op.file}` }, true);
                break;
              case "abandon":
                f.apply({ type: "abandonChunks", chunkIds: [chunkId(op.chunk)] });
                break;
              case "collect":
                f.apply({
                  type: "collectGarbage",
                  chunkIds: [chunkId(op.chunk)],
                  beforeMs: 1_000 * f.index,
                });
                break;
              case "forget":
                f.apply({ type: "forgetTombstones", beforeMs: 1_000 * f.index });
                break;
              case "restart":
                await durable.close();
                durable = await FsMachine.openDurable(OPTS, feed(), dir);
                f.machines[1] = durable;
                break;
            }
            expect(tables(durable)).toEqual(tables(memory));
          }
          expect(await durable.fs.listAsync("/d").catch(() => [])).toEqual(
            await memory.fs.listAsync("/d").catch(() => []),
          );
        } finally {
          await durable.close();
        }
      }),
      { numRuns: 25 },
    );
  });

  it("a listing answers while writes keep coming, and holds every entry applied before it", async () => {
    const m = await FsMachine.openDurable(OPTS, feed(), await stateDir());
    const f = new Feeder([m]);
    f.apply({ type: "openSession", secretHash: hashOf(1) });
    f.apply({ type: "mkdir", path: "/d", parents: true }, true);
    const TOTAL = 4000;
    let written = 0;
    let stop = false;
    // A writer that never pauses long enough for the store's backlog to drain.
    const writer = (async () => {
      while (written < TOTAL && !stop) {
        f.apply({ type: "commit", path: `/d/f${written}`, content: inline("x") }, true);
        written++;
        if (written % 5 === 0) await new Promise((r) => setImmediate(r));
      }
    })();
    while (written < 200) await new Promise((r) => setImmediate(r));
    const before = written;
    const page = await m.fs.listAsync("/d");
    const seenWhileWriting = written;
    stop = true;
    await writer;
    expect(page.length).toBeGreaterThanOrEqual(before);
    // The old scan waited for the whole backlog to drain: with the writer still going, it never did.
    expect(seenWhileWriting).toBeLessThan(TOTAL);
    await m.close();
  });
});
