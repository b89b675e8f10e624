/**
 * A rewrite stores only the chunks it changed: chunks the base version already has (`knownChunks`)
 * are listed in the commit without being stored again, and never abandoned.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ChunkWriter } from "../../src/client/chunk-writer.js";
import { sha256Hex } from "../../src/client/chunking.js";
import { Upload, type UploadDeps } from "../../src/client/upload.js";
import { DfsError } from "../../src/common/errors.js";
import type { WireChunkRef, WireContent } from "../../src/common/protocol/index.js";

const CHUNK = 16;

function recorder(knownChunks: ReadonlySet<string>, failCommit = false) {
  const stored: string[] = [];
  const commits: WireContent[] = [];
  const abandoned: string[] = [];
  const writer = {
    async store(data: Buffer): Promise<WireChunkRef> {
      stored.push(sha256Hex(data));
      return { id: sha256Hex(data), sizeBytes: data.byteLength };
    },
  } as unknown as ChunkWriter;
  const deps: UploadDeps = {
    writer,
    commit: async (c) => {
      if (failCommit) throw new DfsError("VERSION_MISMATCH", "changed meanwhile");
      commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
      return { version: 2 };
    },
    abandon: async (ids) => {
      abandoned.push(...ids);
    },
    inlineThresholdBytes: 0,
    chunkSizeBytes: CHUNK,
    knownChunks,
  };
  return { deps, stored, commits, abandoned };
}

const chunksOf = (b: Buffer) =>
  Array.from({ length: Math.ceil(b.byteLength / CHUNK) }, (_, i) => b.subarray(i * CHUNK, (i + 1) * CHUNK));

describe("upload over a base version", () => {
  test("property: only chunks the base lacks are stored; the commit lists every chunk in order", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 400 }),
        fc.array(fc.record({ at: fc.nat(), byte: fc.integer({ min: 0, max: 255 }) }), { maxLength: 5 }),
        fc.integer({ min: 1, max: 64 }),
        async (baseBytes, edits, writeSize) => {
          const base = Buffer.from(baseBytes);
          const known = new Set(chunksOf(base).map(sha256Hex));
          const next = Buffer.from(base);
          for (const e of edits) next[e.at % next.byteLength] = e.byte;
          const r = recorder(known);
          const u = new Upload(r.deps);
          for (let at = 0; at < next.byteLength; at += writeSize)
            await u.write(next.subarray(at, at + writeSize));
          await u.finish();
          const want = chunksOf(next).map((c) => ({ id: sha256Hex(c), sizeBytes: c.byteLength }));
          expect(r.commits).toEqual([{ kind: "chunks", chunks: want, sizeBytes: next.byteLength }]);
          expect(r.stored.sort()).toEqual(
            want
              .map((c) => c.id)
              .filter((id) => !known.has(id))
              .sort(),
          );
        },
      ),
      { numRuns: 200 },
    );
  });

  test("one byte changed in a 64-chunk file stores one chunk; a failed commit abandons only that one", async () => {
    const base = Buffer.from(Array.from({ length: 64 * CHUNK }, (_, i) => (i * 7) & 0xff));
    const known = new Set(chunksOf(base).map(sha256Hex));
    const next = Buffer.from(base);
    const at = 40 * CHUNK + 3;
    next.writeUInt8(next.readUInt8(at) ^ 0xff, at);
    const r = recorder(known, true);
    const u = new Upload(r.deps);
    await u.write(next);
    await expect(u.finish()).rejects.toThrow("changed meanwhile");
    const changed = sha256Hex(next.subarray(40 * CHUNK, 41 * CHUNK));
    expect(r.stored).toEqual([changed]);
    expect(r.abandoned).toEqual([changed]);
  });
});
