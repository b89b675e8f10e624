/**
 * Equal chunks of one file (zeros, repeated data) are stored once: one store per distinct chunk,
 * handed the id the upload already computed, and the commit still lists every chunk in file order.
 * Separate stores of one id were separate placements, free to pick different nodes (up to 2R copies
 * until the leader trimmed them). Stores are held and released by the test, so the interleavings are
 * chosen, not timed.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { ChunkWriter } from "../../src/client/chunk-writer.js";
import { sha256Hex } from "../../src/client/chunking.js";
import { Upload } from "../../src/client/upload.js";
import { DfsError } from "../../src/common/errors.js";
import type { WireChunkRef, WireContent } from "../../src/common/protocol/index.js";

const CHUNK = 8;

interface Held {
  id: string;
  givenId: string | undefined;
  settle: (ok: boolean) => void;
}

/** A writer whose stores wait until the test settles them (in the order the test picks). */
function heldWriter() {
  const held: Held[] = [];
  const calls: Held[] = [];
  const writer = {
    store(data: Buffer, _signal?: AbortSignal, id?: string): Promise<WireChunkRef> {
      const ref = { id: sha256Hex(data), sizeBytes: data.byteLength };
      return new Promise<WireChunkRef>((resolve, reject) => {
        const h: Held = {
          id: ref.id,
          givenId: id,
          settle: (ok) => (ok ? resolve(ref) : reject(new DfsError("UNAVAILABLE", "no data node took it"))),
        };
        held.push(h);
        calls.push(h);
      });
    },
  } as unknown as ChunkWriter;
  return { writer, held, calls };
}

const flush = () => new Promise((r) => setImmediate(r));

function upload(writer: ChunkWriter, commits: WireContent[], abandoned: string[]): Upload {
  return new Upload({
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
    chunksInFlight: 2,
  });
}

/** Writes `file`, settling held stores (pick chooses which) whenever the upload waits for a slot. */
async function writeAll(
  u: Upload,
  w: ReturnType<typeof heldWriter>,
  file: Buffer,
  pick: (n: number) => number,
  ok: (h: Held) => boolean = () => true,
): Promise<unknown> {
  const finish = (async () => {
    for (let at = 0; at < file.byteLength; at += CHUNK) await u.write(file.subarray(at, at + CHUNK));
    return u.finish();
  })().then(
    (r) => r,
    (e: unknown) => e,
  );
  let done = false;
  void finish.then(() => {
    done = true;
  });
  // Bounded: each round settles one store, and there are at most as many stores as chunks.
  for (let round = 0; round <= file.byteLength / CHUNK + 2 && !done; round++) {
    await flush();
    const h = w.held.splice(pick(w.held.length), 1)[0];
    h?.settle(ok(h));
    await flush();
  }
  return finish;
}

describe("equal chunks of one upload", () => {
  test("8 chunks of zeros: one store, given its id; the commit lists the chunk 8 times", async () => {
    const w = heldWriter();
    const commits: WireContent[] = [];
    const u = upload(w.writer, commits, []);
    const file = Buffer.alloc(8 * CHUNK);
    expect(await writeAll(u, w, file, () => 0)).toEqual({ version: 1, sizeBytes: 8 * CHUNK });
    const id = sha256Hex(Buffer.alloc(CHUNK));
    expect(w.calls.map((c) => c.id)).toEqual([id]);
    expect(w.calls[0]?.givenId).toBe(id);
    expect(commits).toEqual([
      { kind: "chunks", chunks: Array.from({ length: 8 }, () => ({ id, sizeBytes: CHUNK })), sizeBytes: 64 },
    ]);
  });

  test("property: one store per distinct chunk, whatever order stores finish in; the list is in file order", async () => {
    await fc.assert(
      fc.asyncProperty(
        // Chunks drawn from a few contents, so most files repeat some; the last may be short.
        fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 12 }),
        fc.integer({ min: 1, max: CHUNK }),
        fc.array(fc.nat(), { minLength: 1, maxLength: 20 }),
        async (kinds, lastBytes, picks) => {
          const file = Buffer.concat(kinds.map((k) => Buffer.alloc(CHUNK, k))).subarray(
            0,
            (kinds.length - 1) * CHUNK + lastBytes,
          );
          const w = heldWriter();
          const commits: WireContent[] = [];
          const u = upload(w.writer, commits, []);
          let step = 0;
          const r = await writeAll(u, w, file, (n) => (picks[step++ % picks.length] ?? 0) % n);
          expect(r).toEqual({ version: 1, sizeBytes: file.byteLength });
          const expected: WireChunkRef[] = [];
          for (let at = 0; at < file.byteLength; at += CHUNK) {
            const c = file.subarray(at, at + CHUNK);
            expected.push({ id: sha256Hex(c), sizeBytes: c.byteLength });
          }
          const ids = w.calls.map((c) => c.id);
          expect(new Set(ids).size).toBe(ids.length);
          expect(new Set(ids)).toEqual(new Set(expected.map((e) => e.id)));
          for (const c of w.calls) expect(c.givenId).toBe(c.id);
          expect(commits).toEqual([{ kind: "chunks", chunks: expected, sizeBytes: file.byteLength }]);
        },
      ),
      { numRuns: 150 },
    );
  });

  test("a failed store of a repeated chunk fails the write: nothing committed, each stored id abandoned once", async () => {
    const w = heldWriter();
    const commits: WireContent[] = [];
    const abandoned: string[] = [];
    const u = upload(w.writer, commits, abandoned);
    const a = Buffer.alloc(CHUNK, 1);
    const b = Buffer.alloc(CHUNK, 2);
    const file = Buffer.concat([a, b, a, b, a]);
    const r = await writeAll(
      u,
      w,
      file,
      () => 0,
      (h) => h.id !== sha256Hex(b),
    );
    expect(r).toMatchObject({ code: "UNAVAILABLE" });
    expect(commits).toEqual([]);
    expect(abandoned).toEqual([sha256Hex(a)]);
  });
});
