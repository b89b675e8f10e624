/**
 * The bound on a file's chunk list (MAX_CHUNKS_PER_FILE): a file up to it is stored and committed in
 * full; a larger one is refused with PAYLOAD_TOO_LARGE before any of its chunks is stored (a whole
 * buffer), or at the first write past the bound (a stream), and nothing is ever committed for it.
 */
import { describe, expect, test } from "vitest";
import type { ChunkWriter } from "../../src/client/chunk-writer.js";
import { Upload } from "../../src/client/upload.js";
import { DfsError } from "../../src/common/errors.js";
import { MAX_CHUNKS_PER_FILE, type WireChunkRef, type WireContent } from "../../src/common/protocol/index.js";

/** Tiny chunks keep a file at the bound small (1 MiB); the count is what is bounded. */
const CHUNK = 16;

function setup() {
  let stores = 0;
  const commits: WireContent[] = [];
  const abandoned: string[] = [];
  const writer = {
    async store(data: Buffer): Promise<WireChunkRef> {
      stores++;
      // Only the count and order matter here: the chunk's index is its id.
      return { id: String(stores).padStart(64, "0"), sizeBytes: data.byteLength };
    },
  } as unknown as ChunkWriter;
  const upload = new Upload({
    writer,
    commit: async (c) => {
      commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
      return { version: 1 };
    },
    abandon: async (ids) => {
      abandoned.push(...ids);
    },
    inlineThresholdBytes: 0,
    chunkSizeBytes: CHUNK,
  });
  return { upload, commits, abandoned, stores: () => stores };
}

const atBound = MAX_CHUNKS_PER_FILE * CHUNK;

describe("the most chunks one file may have", () => {
  test("a file of exactly MAX_CHUNKS_PER_FILE chunks is committed whole", async () => {
    const s = setup();
    await s.upload.write(Buffer.alloc(atBound, 7));
    expect(await s.upload.finish()).toEqual({ version: 1, sizeBytes: atBound });
    const [commit] = s.commits;
    expect(commit?.kind === "chunks" && commit.chunks.length).toBe(MAX_CHUNKS_PER_FILE);
  });

  test("one byte more in one buffer: PAYLOAD_TOO_LARGE before any chunk is stored", async () => {
    const s = setup();
    const err = await s.upload.write(Buffer.alloc(atBound + 1)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DfsError);
    expect(err).toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect((err as DfsError).message).toMatch(/at most 65536 chunks/);
    expect(s.stores()).toBe(0);
    await expect(s.upload.finish()).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(s.commits).toEqual([]);
  });

  test("a stream: refused at the first write past the bound; the chunks so far are abandoned, never committed", async () => {
    const s = setup();
    const piece = Buffer.alloc(CHUNK * 1024, 3);
    for (let written = 0; written < atBound; written += piece.byteLength) await s.upload.write(piece);
    await expect(s.upload.write(Buffer.alloc(1))).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    await expect(s.upload.finish()).rejects.toMatchObject({ code: "PAYLOAD_TOO_LARGE" });
    expect(s.commits).toEqual([]);
    expect(s.abandoned.length).toBe(s.stores());
    expect(s.stores()).toBeGreaterThan(0);
  });
});
