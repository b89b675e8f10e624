/**
 * Symbolic links on disk: the durable machine (LevelDB) and the in-memory one agree on every history
 * that makes and moves links, a restart keeps them, and a streamed snapshot installs them.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterEach, describe, expect, it } from "vitest";
import { encodeEntry } from "../../../src/meta/entry-codec.js";
import { FsMachine } from "../../../src/meta/fs-machine.js";
import type { ApplyResult, Command, FsStateOptions, ListEntry } from "../../../src/meta/state/index.js";
import { WatchFeed } from "../../../src/meta/watch-feed.js";
import { hashOf, inline } from "../state/helpers.js";

const OPTS: FsStateOptions = { versionsRetained: 2, sessionTimeoutMs: 600_000 };
const feed = () =>
  new WatchFeed({ maxChanges: 1000, maxWaiters: 10, maxWaitersPerClient: 10, afterSlackEntries: 10 });
const dirs: string[] = [];

afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function tempDir(): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), "raftfs-symlink-"));
  dirs.push(d);
  return d;
}

/** Applies the same session commands to each machine, entry by entry; the first machine's results. */
function run(machines: FsMachine[], commands: Record<string, unknown>[]): ApplyResult[] {
  const all = [{ type: "openSession", secretHash: hashOf(1) }, ...commands];
  return all.map((c, i) => {
    const index = i + 1;
    const command = (
      i === 0 ? c : { ...c, session: { id: 1, seq: i, ackedSeq: i - 1, secretHash: hashOf(1) } }
    ) as Command;
    const results = machines.map((m) =>
      m.apply({ index, term: 1, data: encodeEntry({ timestampMs: 1_000 + index, command }) }),
    );
    for (const r of results.slice(1)) expect(r).toEqual(results[0]);
    return results[0] as ApplyResult;
  });
}

/** Every entry below `/`, depth first, as the listing answers it. */
async function tree(m: FsMachine, dir = "/"): Promise<ListEntry[]> {
  const out: ListEntry[] = [];
  for (const e of await m.fs.listAsync(dir)) {
    out.push(e);
    if (e.type === "dir") out.push(...(await tree(m, e.path)));
  }
  return out;
}

const NAMES = ["/a", "/b", "/d", "/d/a", "/d/b"];
const nameArb = fc.constantFrom(...NAMES);
const opArb = fc.oneof(
  fc.record({
    type: fc.constant("symlink"),
    path: nameArb,
    target: fc.string({ minLength: 1, maxLength: 6 }),
  }),
  fc.record({ type: fc.constant("commit"), path: nameArb, content: fc.constant(inline("c")) }),
  fc.record({ type: fc.constant("mkdir"), path: nameArb }),
  fc.record({ type: fc.constant("rename"), from: nameArb, to: nameArb }),
  fc.record({ type: fc.constant("delete"), path: nameArb, recursive: fc.boolean() }),
);

describe("symbolic links on disk", () => {
  it("the LevelDB and in-memory machines agree on every history with links (property)", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 15 }), async (ops) => {
        const durable = await FsMachine.openDurable(OPTS, feed(), join(await tempDir(), "s"));
        const memory = new FsMachine(OPTS, feed());
        try {
          // A link to start from, so that every history has one to move, replace or remove.
          const start = [
            { type: "mkdir", path: "/d" },
            { type: "symlink", path: "/d/a", target: "../b" },
          ];
          const results = run([memory, durable], [...start, ...ops]);
          expect(results.slice(1, 3).map((r) => r.ok)).toEqual([true, true]);
          expect(await tree(durable)).toEqual(await tree(memory));
        } finally {
          await durable.close();
        }
      }),
      { numRuns: 20 },
    );
  });

  it("a restart keeps links, and a streamed snapshot installs them into a fresh store", async () => {
    const base = await tempDir();
    const a = await FsMachine.openDurable(OPTS, feed(), join(base, "a"));
    run(
      [a],
      [
        { type: "mkdir", path: "/d" },
        { type: "commit", path: "/d/f", content: inline("x") },
        { type: "symlink", path: "/d/l", target: "f" },
        { type: "symlink", path: "/abs", target: "/d/f", attrs: { mode: 0o777, uid: 7, gid: 8 } },
      ],
    );
    const before = await tree(a);
    expect(before.filter((e) => e.type === "symlink").map((e) => [e.path, e.target, e.uid])).toEqual([
      ["/abs", "/d/f", 7],
      ["/d/l", "f", 0],
    ]);
    await a.flushed();
    const src = a.openSnapshot();
    const chunks: Uint8Array[] = [];
    for await (const c of src.chunks()) chunks.push(c);
    src.close();
    await a.close();
    const reopened = await FsMachine.openDurable(OPTS, feed(), join(base, "a"));
    expect(await tree(reopened)).toEqual(before);
    await reopened.close();
    const b = await FsMachine.openDurable(OPTS, feed(), join(base, "b"));
    async function* stream() {
      yield* chunks;
    }
    await b.installSnapshot(src.index, stream());
    expect(await tree(b)).toEqual(before);
    await b.close();
  });
});
