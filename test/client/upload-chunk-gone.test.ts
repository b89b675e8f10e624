/**
 * A chunk collected between its store and the commit (the write stalled past the garbage grace
 * period): the commit is refused with CHUNK_GONE. A write whose bytes the library still holds
 * (writeFile of a buffer, the Upload's `source`) stores its chunks again and commits, instead of
 * failing; a source changed meanwhile is never committed under the old list.
 *
 * The cluster is a fake with the real rules (src/meta/state/chunks.ts, src/meta/data-nodes/garbage.ts):
 * collecting a chunk deletes it from the data node and leaves a tombstone; a commit naming a tombstone
 * is refused; the tombstone is revived once the node holds the chunk again — at the next commit, or
 * one commit later (the report comes with a heartbeat).
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ChunkWriter } from "../../src/client/chunk-writer.js";
import { chunkBounds, sha256Hex } from "../../src/client/chunking.js";
import type { CommitContent } from "../../src/client/inline-bytes.js";
import { Upload } from "../../src/client/upload.js";
import { DfsError } from "../../src/common/errors.js";
import type { WireChunkRef, WireContent } from "../../src/common/protocol/index.js";

function fakeCluster(opts: { collect: (ids: string[]) => string[]; reviveLags: boolean }) {
  const held = new Set<string>();
  const tombstones = new Set<string>();
  const reported = new Set<string>();
  const committed: WireContent[] = [];
  let stores = 0;
  let collected = false;
  const writer = {
    async store(data: Buffer): Promise<WireChunkRef> {
      await Promise.resolve();
      const id = sha256Hex(data);
      held.add(id);
      stores++;
      return { id, sizeBytes: data.byteLength };
    },
  } as unknown as ChunkWriter;
  const commit = async (content: CommitContent): Promise<{ version: number }> => {
    if (content.kind !== "chunks") throw new Error("the fake takes chunked commits only");
    const ids = content.chunks.map((c) => c.id);
    if (!collected) {
      // The garbage collector ran between the stores and this commit.
      collected = true;
      for (const id of opts.collect(ids)) {
        held.delete(id);
        tombstones.add(id);
      }
    }
    for (const id of [...tombstones]) {
      if (!held.has(id)) continue;
      // Stored again: the node's report revives it (one commit later when the report lags).
      if (!opts.reviveLags || reported.has(id)) tombstones.delete(id);
      else reported.add(id);
    }
    const gone = ids.filter((id) => tombstones.has(id));
    if (gone.length > 0)
      throw new DfsError("CHUNK_GONE", `${gone.length} chunk(s) collected`, { chunkIds: gone });
    for (const id of ids) expect(held.has(id), "a commit names only chunks the node holds").toBe(true);
    committed.push(content);
    return { version: committed.length };
  };
  return { writer, commit, committed, held, stores: () => stores };
}

const fileOf = (n: number, seed: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 131 + seed * 7 + (i >> 3)) & 0xff));

describe("a commit refused with CHUNK_GONE", () => {
  test("a write from a whole buffer stores its chunks again and commits them, in file order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 9 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        fc.boolean(),
        async (size, chunkSize, seed, pick, reviveLags) => {
          const data = fileOf(size, seed);
          const ids = chunkBounds(size, chunkSize).map((b) => sha256Hex(data.subarray(b.start, b.end)));
          // At least one chunk vanishes: the first, plus those picked.
          const collect = (listed: string[]) => listed.filter((_, i) => i === 0 || pick[i % pick.length]);
          const c = fakeCluster({ collect, reviveLags });
          const u = new Upload({
            writer: c.writer,
            commit: c.commit,
            abandon: async () => undefined,
            inlineThresholdBytes: 0,
            chunkSizeBytes: chunkSize,
            source: data,
          });
          await u.write(data);
          expect(await u.finish()).toEqual({ version: 1, sizeBytes: size });
          expect(c.committed).toEqual([
            {
              kind: "chunks",
              sizeBytes: size,
              chunks: chunkBounds(size, chunkSize).map((b, i) => ({
                id: ids[i],
                sizeBytes: b.end - b.start,
              })),
            },
          ]);
          // Every chunk was stored twice: once by the write, once again after the refusal.
          expect(c.stores()).toBe(2 * ids.length);
        },
      ),
      { numRuns: 40 },
    );
  });

  test("a source changed since the write is not committed: the refusal stands", async () => {
    const data = fileOf(20, 3);
    const c = fakeCluster({ collect: (ids) => ids, reviveLags: false });
    const u = new Upload({
      writer: c.writer,
      commit: c.commit,
      abandon: async () => undefined,
      inlineThresholdBytes: 0,
      chunkSizeBytes: 8,
      source: data,
    });
    await u.write(data);
    data[0] = data[0]! ^ 0xff; // the caller reused its buffer before the write finished
    await expect(u.finish()).rejects.toMatchObject({ code: "CHUNK_GONE" });
    expect(c.committed).toEqual([]);
  });
});
