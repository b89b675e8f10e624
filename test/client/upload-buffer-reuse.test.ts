/**
 * An upload fills a bounded set of chunk buffers again and again (chunksInFlight + 1), and never one
 * whose store is still running: a slow writer that checks, when it answers, that the bytes it was
 * handed are still the bytes it was handed, and a commit whose chunk ids are the file's own.
 */
import { createHash } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ChunkWriter } from "../../src/client/chunk-writer.js";
import { Upload } from "../../src/client/upload.js";
import type { WireChunkRef, WireContent } from "../../src/common/protocol/index.js";

const CHUNK = 64;

function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** Deterministic, mostly distinct bytes (a seed per file, so equal chunks are rare but possible). */
function fileOf(sizeBytes: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(sizeBytes);
  let x = seed | 1;
  for (let i = 0; i < sizeBytes; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = x >> 16;
  }
  return out;
}

/**
 * A writer whose stores answer after `delays()` turns of the event loop each (so later chunks may be
 * acknowledged first), recording what it saw: the bytes at the start and at the answer must agree.
 */
function slowWriter(delays: () => number) {
  /** Where each chunk's bytes live: small buffers share Node's pool, so by offset as well. */
  const buffers = new Set<string>();
  const arrays = new Map<ArrayBufferLike, number>();
  const changedWhilePending: number[] = [];
  let stores = 0;
  const writer = {
    async store(data: Buffer, _signal?: AbortSignal, id?: string): Promise<WireChunkRef> {
      const index = stores++;
      if (!arrays.has(data.buffer)) arrays.set(data.buffer, arrays.size);
      buffers.add(`${arrays.get(data.buffer)}:${data.byteOffset}`);
      const atStart = Buffer.from(data);
      const turns = delays();
      for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
      // What a real PUT would have sent by now: the bytes must not have moved under it.
      if (!data.equals(atStart) || sha256(data) !== id) changedWhilePending.push(index);
      return { id: sha256(atStart), sizeBytes: atStart.byteLength };
    },
  } as unknown as ChunkWriter;
  return { writer, buffers, changedWhilePending, stores: () => stores };
}

async function upload(file: Buffer, pieces: number[], writer: ChunkWriter, chunksInFlight: number) {
  const commits: WireContent[] = [];
  const u = new Upload({
    writer,
    commit: async (c) => {
      commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
      return { version: 1 };
    },
    abandon: async () => undefined,
    inlineThresholdBytes: 0,
    chunkSizeBytes: CHUNK,
    chunksInFlight,
  });
  // A stream's pieces: each copied by the chunker, so one reused buffer of ours is fine too.
  let offset = 0;
  let p = 0;
  while (offset < file.byteLength) {
    const n = Math.min(file.byteLength - offset, pieces[p++ % pieces.length]!);
    await u.write(file.subarray(offset, offset + n));
    offset += n;
  }
  await u.finish();
  return commits;
}

function expectedIds(file: Buffer): string[] {
  const ids: string[] = [];
  for (let s = 0; s < file.byteLength; s += CHUNK) ids.push(sha256(file.subarray(s, s + CHUNK)));
  return ids;
}

describe("an upload's chunk buffers", () => {
  test("a 200-chunk stream in quarter chunks fills chunksInFlight + 1 buffers, none while its store runs", async () => {
    const file = fileOf(200 * CHUNK + 17, 7);
    let n = 0;
    const w = slowWriter(() => [5, 0, 2, 9, 1][n++ % 5]!);
    const commits = await upload(file, [CHUNK / 4], w.writer, 4);
    expect(w.changedWhilePending).toEqual([]);
    // 4 in flight, one filling; the short last chunk is one of them. One buffer per chunk before.
    expect(w.buffers.size).toBeLessThanOrEqual(5);
    const [commit] = commits;
    expect(commit?.kind === "chunks" && commit.chunks.map((c) => c.id)).toEqual(expectedIds(file));
  });

  test("any piece sizes, window and answer order: the bytes stored are the file's", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 40 * CHUNK }),
        fc.array(fc.integer({ min: 1, max: CHUNK }), { minLength: 1, maxLength: 8 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.integer({ min: 0, max: 6 }), { minLength: 1, maxLength: 16 }),
        fc.integer(),
        async (size, pieces, window, delays, seed) => {
          const file = fileOf(size + 1, seed);
          let n = 0;
          const w = slowWriter(() => delays[n++ % delays.length]!);
          const commits = await upload(file, pieces, w.writer, window);
          expect(w.changedWhilePending).toEqual([]);
          const [commit] = commits;
          expect(commit?.kind === "chunks" && commit.chunks.map((c) => c.id)).toEqual(expectedIds(file));
          // A piece that completes a chunk and starts the next holds one more while the full one
          // waits for a slot: window + 2 at most (window + 1 when pieces divide the chunk size).
          expect(w.buffers.size).toBeLessThanOrEqual(window + 2);
        },
      ),
      { numRuns: 60 },
    );
  });
});
