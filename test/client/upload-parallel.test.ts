/**
 * An upload stores several chunks at once: the commit still lists them in file order whatever order
 * they finish in, waits for every one, never names one whose store failed, and the number in flight
 * (the memory bound) never exceeds the window. Stores are held and released by the test, so the
 * interleavings are chosen, not timed.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ChunkWriter } from "../../src/client/chunk-writer.js";
import { sha256Hex } from "../../src/client/chunking.js";
import { Upload } from "../../src/client/upload.js";
import { DfsError } from "../../src/common/errors.js";
import type { WireChunkRef, WireContent } from "../../src/common/protocol/index.js";

interface Held {
  data: Buffer;
  signal: AbortSignal | undefined;
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A writer whose stores wait until the test settles them. */
function heldWriter() {
  const held: Held[] = [];
  const stored = new Set<string>();
  let inFlight = 0;
  let maxInFlight = 0;
  const writer = {
    store(data: Buffer, signal?: AbortSignal): Promise<WireChunkRef> {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      return new Promise<WireChunkRef>((resolve, reject) => {
        const copy = Buffer.from(data);
        const onAbort = () => h.reject(signal?.reason);
        const h: Held = {
          data: copy,
          signal,
          resolve: () => {
            signal?.removeEventListener("abort", onAbort);
            inFlight--;
            stored.add(sha256Hex(copy));
            resolve({ id: sha256Hex(copy), sizeBytes: copy.byteLength });
          },
          reject: (e) => {
            inFlight--;
            reject(e);
          },
        };
        held.push(h);
        signal?.addEventListener("abort", onAbort, { once: true });
      });
    },
  } as unknown as ChunkWriter;
  return { writer, held, stored, maxInFlight: () => maxInFlight };
}

const flush = () => new Promise((r) => setImmediate(r));

function chunkOf(i: number, size: number): Buffer {
  const b = Buffer.alloc(size, i & 0xff);
  b.writeUInt32LE(i, 0);
  return b;
}

describe("parallel chunk stores", () => {
  test("a write waits for a free slot: never more than chunksInFlight stores at once", async () => {
    const w = heldWriter();
    const u = new Upload({
      writer: w.writer,
      commit: async () => ({ version: 1 }),
      abandon: async () => undefined,
      inlineThresholdBytes: 0,
      chunkSizeBytes: 4,
      chunksInFlight: 2,
    });
    await u.write(chunkOf(0, 4));
    await u.write(chunkOf(1, 4));
    let third = false;
    const p = u.write(chunkOf(2, 4)).then(() => {
      third = true;
    });
    await flush();
    expect(w.held).toHaveLength(2);
    expect(third).toBe(false); // back-pressure: the caller holds its bytes until a slot frees
    w.held[1]!.resolve();
    await p;
    expect(w.held).toHaveLength(3);
    for (const h of w.held.slice(0, 1).concat(w.held.slice(2))) h.resolve();
    await u.finish();
    expect(w.maxInFlight()).toBe(2);
  });

  test("property: the commit lists every chunk in file order, whatever order the stores finish in", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 12 }),
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.nat(), { minLength: 40, maxLength: 40 }),
        async (nChunks, window, picks) => {
          const w = heldWriter();
          const commits: WireContent[] = [];
          const u = new Upload({
            writer: w.writer,
            commit: async (c) => {
              commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
              // Every chunk the commit names was stored before it was sent.
              if (c.kind === "chunks") for (const ref of c.chunks) expect(w.stored.has(ref.id)).toBe(true);
              return { version: 1 };
            },
            abandon: async () => undefined,
            inlineThresholdBytes: 0,
            chunkSizeBytes: 8,
            chunksInFlight: window,
          });
          const chunks = Array.from({ length: nChunks }, (_, i) => chunkOf(i, 8));
          // The writer side and a releaser settling held stores in the chosen order run together.
          let writing = true;
          const writes = (async () => {
            for (const c of chunks) await u.write(c);
            const r = await u.finish();
            writing = false;
            return r;
          })();
          let k = 0;
          for (let steps = 0; writing && steps < 10_000; steps++) {
            await flush();
            const open = w.held.filter((h) => !w.stored.has(sha256Hex(h.data)));
            if (open.length > 0) open[(picks[k++ % picks.length] ?? 0) % open.length]!.resolve();
          }
          expect(await writes).toEqual({ version: 1, sizeBytes: nChunks * 8 });
          expect(commits).toEqual([
            {
              kind: "chunks",
              sizeBytes: nChunks * 8,
              chunks: chunks.map((c) => ({ id: sha256Hex(c), sizeBytes: 8 })),
            },
          ]);
          expect(w.maxInFlight()).toBeLessThanOrEqual(window);
        },
      ),
      { numRuns: 60 },
    );
  });

  test("one failed store fails the write: the others are cancelled, nothing is committed, stored chunks are abandoned", async () => {
    const w = heldWriter();
    const commits: WireContent[] = [];
    const abandoned: string[][] = [];
    const u = new Upload({
      writer: w.writer,
      commit: async (c) => {
        commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
        return { version: 1 };
      },
      abandon: async (ids) => {
        abandoned.push(ids);
      },
      inlineThresholdBytes: 0,
      chunkSizeBytes: 4,
      chunksInFlight: 3,
    });
    for (let i = 0; i < 3; i++) await u.write(chunkOf(i, 4));
    w.held[0]!.resolve();
    w.held[1]!.reject(new DfsError("UNAVAILABLE", "could not store chunk: every holder refused"));
    await flush();
    // The third store was told to stop, and the next write learns of the failure.
    expect(w.held[2]!.signal?.aborted).toBe(true);
    await expect(u.write(chunkOf(3, 4))).rejects.toMatchObject({ code: "UNAVAILABLE" });
    await expect(u.finish()).rejects.toMatchObject({ code: "UNAVAILABLE" });
    expect(commits).toEqual([]);
    expect(abandoned).toEqual([[sha256Hex(chunkOf(0, 4))]]);
  });

  test("a store failing while finish waits: no commit, and the error is the store's", async () => {
    const w = heldWriter();
    const commits: WireContent[] = [];
    const u = new Upload({
      writer: w.writer,
      commit: async (c) => {
        commits.push(JSON.parse(JSON.stringify(c)) as WireContent);
        return { version: 1 };
      },
      abandon: async () => undefined,
      inlineThresholdBytes: 0,
      chunkSizeBytes: 4,
      chunksInFlight: 4,
    });
    for (let i = 0; i < 3; i++) await u.write(chunkOf(i, 4));
    const done = u.finish();
    await flush();
    w.held[0]!.resolve();
    w.held[2]!.resolve();
    w.held[1]!.reject(new DfsError("TIMEOUT", "no answer"));
    await expect(done).rejects.toMatchObject({ code: "TIMEOUT" });
    expect(commits).toEqual([]);
  });

  test("abort cancels the stores in flight and waits for them before abandoning", async () => {
    const w = heldWriter();
    const abandoned: string[][] = [];
    const u = new Upload({
      writer: w.writer,
      commit: async () => ({ version: 1 }),
      abandon: async (ids) => {
        abandoned.push(ids);
      },
      inlineThresholdBytes: 0,
      chunkSizeBytes: 4,
      chunksInFlight: 3,
    });
    for (let i = 0; i < 3; i++) await u.write(chunkOf(i, 4));
    w.held[1]!.resolve();
    await u.abort();
    expect(w.held.map((h) => h.signal?.aborted)).toEqual([true, true, true]);
    expect(abandoned).toEqual([[sha256Hex(chunkOf(1, 4))]]);
  });
  test("the caller's abort reaches every store in flight, also those started after an inline start", async () => {
    const w = heldWriter();
    const caller = new AbortController();
    const u = new Upload({
      writer: w.writer,
      commit: async () => ({ version: 1 }),
      abandon: async () => undefined,
      inlineThresholdBytes: 4,
      chunkSizeBytes: 4,
      chunksInFlight: 3,
      signal: caller.signal,
    });
    await u.write(chunkOf(0, 4)); // still inline: no store yet
    await u.write(chunkOf(1, 4)); // past the threshold: both chunks go out
    await u.write(chunkOf(2, 4));
    expect(w.held).toHaveLength(3);
    caller.abort(new Error("caller gave up"));
    await flush();
    expect(w.held.map((h) => h.signal?.aborted)).toEqual([true, true, true]);
  });
});
