/** One write from bytes to commit, with the chunk store and the commit replaced by recorders. */
import { randomBytes } from "node:crypto";
import { describe, expect, test } from "vitest";
import type { ChunkWriter } from "../../src/client/chunk-writer.js";
import { sha256Hex } from "../../src/client/chunking.js";
import type { CommitContent } from "../../src/client/inline-bytes.js";
import { Upload, type UploadDeps } from "../../src/client/upload.js";
import { DfsError } from "../../src/common/errors.js";
import { MAX_UPLOAD_AGE_MS, type WireChunkRef, type WireContent } from "../../src/common/protocol/index.js";

function recorder(opts: {
  threshold: number;
  chunk: number;
  commit?: (c: CommitContent) => Promise<{ version: number }>;
}) {
  const stored: Buffer[] = [];
  const commits: WireContent[] = [];
  const abandoned: string[][] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const writer = {
    async store(data: Buffer): Promise<WireChunkRef> {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      stored.push(Buffer.from(data));
      inFlight--;
      return { id: sha256Hex(data), sizeBytes: data.byteLength };
    },
  } as unknown as ChunkWriter;
  const deps: UploadDeps = {
    writer,
    commit:
      opts.commit ??
      (async (c) => {
        // As the wire carries it (JSON: inline bytes become base64).
        commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
        return { version: 1 };
      }),
    abandon: async (ids) => {
      abandoned.push(ids);
    },
    inlineThresholdBytes: opts.threshold,
    chunkSizeBytes: opts.chunk,
  };
  return { deps, stored, commits, abandoned, maxInFlight: () => maxInFlight };
}

const bytes = (n: number, seed = 1) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) & 0xff));

describe("upload", () => {
  test("content up to the threshold is committed inline (one Raft write, no data node)", async () => {
    const r = recorder({ threshold: 10, chunk: 4 });
    const u = new Upload(r.deps);
    await u.write(bytes(6));
    await u.write(bytes(4, 2));
    expect(await u.finish()).toEqual({ version: 1, sizeBytes: 10 });
    expect(r.stored).toEqual([]);
    expect(r.commits).toEqual([
      { kind: "inline", dataBase64: Buffer.concat([bytes(6), bytes(4, 2)]).toString("base64") },
    ]);
  });

  test("an empty file is inline too", async () => {
    const r = recorder({ threshold: 0, chunk: 4 });
    const u = new Upload(r.deps);
    expect(await u.finish()).toEqual({ version: 1, sizeBytes: 0 });
    expect(r.commits).toEqual([{ kind: "inline", dataBase64: "" }]);
  });

  test("past the threshold: fixed-size chunks in order, then one commit listing them", async () => {
    const r = recorder({ threshold: 5, chunk: 4 });
    const u = new Upload(r.deps);
    const data = bytes(11);
    for (let i = 0; i < data.length; i += 3) await u.write(data.subarray(i, i + 3));
    await u.finish();
    const cut = [data.subarray(0, 4), data.subarray(4, 8), data.subarray(8)];
    expect(r.stored.map((b) => sha256Hex(b)).sort()).toEqual(cut.map((b) => sha256Hex(b)).sort());
    expect(r.commits).toEqual([
      {
        kind: "chunks",
        sizeBytes: 11,
        chunks: cut.map((b) => ({ id: sha256Hex(b), sizeBytes: b.byteLength })),
      },
    ]);
  });

  test("several chunks are stored at once, never more than chunksInFlight (bounded memory)", async () => {
    const r = recorder({ threshold: 0, chunk: 8 });
    const u = new Upload({ ...r.deps, chunksInFlight: 3 });
    for (let i = 0; i < 50; i++) await u.write(bytes(5, i));
    await u.finish();
    expect(r.maxInFlight()).toBe(3);
    expect(r.stored.length).toBe(Math.ceil(250 / 8));
  });

  test("a chunked write older than MAX_UPLOAD_AGE_MS is not committed: CHUNK_GONE, chunks abandoned", async () => {
    let clock = 0;
    const r = recorder({ threshold: 4, chunk: 4 });
    const u = new Upload({ ...r.deps, now: () => clock });
    await u.write(bytes(9));
    clock = MAX_UPLOAD_AGE_MS + 1;
    const err = await u.finish().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DfsError);
    expect((err as DfsError).code).toBe("CHUNK_GONE");
    expect(r.commits).toEqual([]);
    expect(r.abandoned.flat()).toHaveLength(3);
    // Within the limit the same write commits.
    const ok = recorder({ threshold: 4, chunk: 4 });
    let late = 0;
    const v = new Upload({ ...ok.deps, now: () => late });
    await v.write(bytes(9));
    late = MAX_UPLOAD_AGE_MS - 1;
    expect(await v.finish()).toEqual({ version: 1, sizeBytes: 9 });
  });

  test("a failed commit abandons the stored chunks, and the error is the commit's", async () => {
    const r = recorder({
      threshold: 0,
      chunk: 4,
      commit: async () => {
        throw new DfsError("VERSION_MISMATCH", "at version 3, not 1");
      },
    });
    const u = new Upload(r.deps);
    await u.write(bytes(9));
    await expect(u.finish()).rejects.toMatchObject({ code: "VERSION_MISMATCH" });
    expect(r.abandoned.map((ids) => [...ids].sort())).toEqual([r.stored.map((b) => sha256Hex(b)).sort()]);
  });

  test("an aborted upload commits nothing and abandons what it stored", async () => {
    const r = recorder({ threshold: 0, chunk: 4 });
    const u = new Upload(r.deps);
    await u.write(bytes(9));
    await u.abort();
    expect(r.commits).toEqual([]);
    expect(r.abandoned.flat().length).toBeGreaterThan(0);
  });

  test("a cluster whose threshold is lower than assumed (PAYLOAD_TOO_LARGE) gets chunks instead", async () => {
    const commits: WireContent[] = [];
    const r = recorder({
      threshold: 100,
      chunk: 16,
      commit: async (c) => {
        commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
        if (c.kind === "inline") throw new DfsError("PAYLOAD_TOO_LARGE", "inline content exceeds 8 bytes");
        return { version: 4 };
      },
    });
    const u = new Upload(r.deps);
    await u.write(bytes(40));
    expect(await u.finish()).toEqual({ version: 4, sizeBytes: 40 });
    expect(commits.map((c) => c.kind)).toEqual(["inline", "chunks"]);
    expect(r.stored.map((b) => b.byteLength).reduce((a, b) => a + b, 0)).toBe(40);
  });
});

describe("a whole buffer (writeFile)", () => {
  test("is stored as views of the caller's bytes, not copies, in file order", async () => {
    // Random bytes: equal chunks would be stored once (the periodic `bytes` repeats every 256).
    const source = randomBytes(10 * 1024 + 5);
    const seen: Buffer[] = [];
    const writer = {
      async store(data: Buffer): Promise<WireChunkRef> {
        seen.push(data);
        return { id: sha256Hex(data), sizeBytes: data.byteLength };
      },
    } as unknown as ChunkWriter;
    const commits: CommitContent[] = [];
    const u = new Upload({
      writer,
      commit: async (c) => {
        commits.push(c);
        return { version: 1 };
      },
      abandon: async () => undefined,
      inlineThresholdBytes: 1024,
      chunkSizeBytes: 4096,
      source,
    });
    await u.write(source);
    expect(await u.finish()).toEqual({ version: 1, sizeBytes: source.byteLength });
    expect(seen.map((b) => b.byteLength)).toEqual([4096, 4096, 2053]);
    for (const [i, b] of seen.entries()) {
      expect(b.buffer).toBe(source.buffer);
      expect(b.byteOffset).toBe(source.byteOffset + i * 4096);
    }
    expect(Buffer.concat(seen).equals(source)).toBe(true);
    expect(commits[0]).toMatchObject({ kind: "chunks", sizeBytes: source.byteLength });
  });
});
