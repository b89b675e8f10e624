/**
 * A large file read through an open handle (handles.ts): the kernel's READs, sequential or with the
 * short gaps its background read-ahead can leave, continue one read stream of the library (each new
 * stream is a metadata read and refetched chunks); a seek back or far ahead starts another. Every
 * READ answers exactly the file's bytes at its offset. The library is a fake here: a stream yields
 * the file's bytes from its start offset in parts of a fixed size, and counts the streams opened.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { ChunkPatcher, RaftfsClient } from "../../src/client/index.js";
import { OpenFile } from "../../src/mount/handles.js";

const MiB = 1024 * 1024;

function fakeClient(content: Buffer, partBytes: number) {
  const opened: number[] = [];
  const client = {
    createReadStream(_path: string, opts: { start?: number }) {
      const start = opts.start ?? 0;
      opened.push(start);
      return {
        async *[Symbol.asyncIterator]() {
          for (let at = start; at < content.byteLength; at += partBytes)
            yield content.subarray(at, Math.min(content.byteLength, at + partBytes));
        },
      };
    },
  };
  return { client: client as unknown as RaftfsClient, opened };
}

function handleOn(content: Buffer, partBytes: number) {
  const { client, opened } = fakeClient(content, partBytes);
  const f = new OpenFile(
    1n,
    2n,
    { version: 1, sizeBytes: content.byteLength, mtimeMs: 0 },
    {
      client,
      patcher: {} as ChunkPatcher,
      spoolDir: "/nonexistent",
      pathOf: () => "/f",
      log: () => undefined,
      lockTokenFor: () => undefined,
    },
  );
  return { f, opened };
}

describe("reads of a streamed file through a handle", () => {
  const content = Buffer.alloc(24 * MiB);
  for (let i = 0; i < content.byteLength; i += 4) content.writeUInt32LE(i, i);

  it("READs with gaps of up to 8 MiB ahead continue one stream", async () => {
    const { f, opened } = handleOn(content, 4 * MiB);
    for (const at of [0, 1, 3, 4, 10, 11, 19]) {
      const got = await f.read(at * MiB, MiB);
      expect(got.equals(content.subarray(at * MiB, (at + 1) * MiB))).toBe(true);
    }
    expect(opened).toEqual([0]);
  });

  it("property: any READ sequence answers the file's bytes; only a seek back or past 8 MiB opens a stream", async () => {
    const read = fc.record({
      jumpBytes: fc.oneof(
        fc.constant(0),
        fc.integer({ min: 1, max: 8 * MiB }),
        fc.integer({ min: -20 * MiB, max: 20 * MiB }),
      ),
      sizeBytes: fc.integer({ min: 1, max: MiB }),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(read, { minLength: 1, maxLength: 12 }),
        fc.constantFrom(64 * 1024, MiB, 4 * MiB),
        async (reads, partBytes) => {
          const { f, opened } = handleOn(content, partBytes);
          let position = 0;
          let streams = 0;
          let expectedStreams = 0;
          for (const r of reads) {
            const offset = Math.max(0, Math.min(content.byteLength - 1, position + r.jumpBytes));
            const gap = offset - position;
            // The first stream, a seek back, or a jump past the skip bound (the model of the rule).
            if (streams === 0 || gap < 0 || gap > 8 * MiB) expectedStreams++;
            streams++;
            const got = await f.read(offset, r.sizeBytes);
            const want = content.subarray(offset, Math.min(content.byteLength, offset + r.sizeBytes));
            expect(got.equals(want)).toBe(true);
            position = offset + want.byteLength;
          }
          expect(opened.length).toBe(expectedStreams);
          await f.close();
        },
      ),
      { numRuns: 60 },
    );
  });
});
