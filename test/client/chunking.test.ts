import fc from "fast-check";
import { describe, expect, test } from "vitest";
import {
  ChunkBuffer,
  chunkBounds,
  isWholeChunk,
  sha256Hex,
  slicesFor,
  spanOf,
} from "../../src/client/chunking.js";
import type { WireChunkRef } from "../../src/common/protocol/index.js";

function chunksOf(sizes: number[]): WireChunkRef[] {
  return sizes.map((sizeBytes, i) => ({ id: String(i).padStart(64, "0"), sizeBytes }));
}

describe("chunking", () => {
  test("sha256Hex is the lowercase hex SHA-256 (the chunk id)", () => {
    expect(sha256Hex(Buffer.from("abc"))).toBe(
      "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
    );
  });

  test("ChunkBuffer cuts any sequence of writes into full chunks plus one short tail", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 128 }),
        (writes, chunkSize) => {
          const buf = new ChunkBuffer(chunkSize);
          const out: Buffer[] = [];
          for (const w of writes) out.push(...buf.push(w));
          expect(buf.pendingBytes).toBeLessThan(chunkSize);
          const tail = buf.flush();
          for (const c of out) expect(c.byteLength).toBe(chunkSize);
          if (tail) {
            expect(tail.byteLength).toBeGreaterThan(0);
            expect(tail.byteLength).toBeLessThan(chunkSize);
            out.push(tail);
          }
          expect(Buffer.concat(out)).toEqual(Buffer.concat(writes.map((w) => Buffer.from(w))));
          expect(buf.flush()).toBeNull();
        },
      ),
    );
  });

  test("chunkBounds: exact multiples have no empty tail; empty data has no chunk", () => {
    expect(chunkBounds(0, 4)).toEqual([]);
    expect(chunkBounds(8, 4)).toEqual([
      { start: 0, end: 4 },
      { start: 4, end: 8 },
    ]);
    expect(chunkBounds(9, 4).at(-1)).toEqual({ start: 8, end: 9 });
  });

  test("spanOf follows fs.createReadStream: end is inclusive, clipped to the file", () => {
    expect(spanOf(100, {})).toEqual({ start: 0, end: 100 });
    expect(spanOf(100, { start: 10, end: 19 })).toEqual({ start: 10, end: 20 });
    expect(spanOf(100, { start: 90, end: 500 })).toEqual({ start: 90, end: 100 });
    expect(spanOf(100, { start: 150 })).toEqual({ start: 100, end: 100 });
    expect(spanOf(0, {})).toEqual({ start: 0, end: 0 });
    expect(spanOf(100, { start: 10, end: 5 })).toEqual({ start: 10, end: 10 });
    expect(() => spanOf(100, { start: -1 })).toThrow(/start/);
    expect(() => spanOf(100, { end: 1.5 })).toThrow(/end/);
  });

  test("slicesFor covers exactly the span, in order, touching only the chunks it needs", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 12 }),
        fc.nat(),
        fc.nat(),
        (sizes, a, b) => {
          const chunks = chunksOf(sizes);
          const total = sizes.reduce((x, y) => x + y, 0);
          const start = a % (total + 1);
          const end = start + (b % (total - start + 1));
          const slices = slicesFor(chunks, { start, end });
          // Concatenating the slices gives exactly the bytes [start, end).
          let pos = start;
          for (const s of slices) {
            expect(s.chunkStart + s.from).toBe(pos);
            expect(s.to).toBeGreaterThan(s.from);
            expect(s.to).toBeLessThanOrEqual(s.chunk.sizeBytes);
            pos = s.chunkStart + s.to;
          }
          expect(pos).toBe(end === start ? start : end);
          if (end === start) expect(slices).toEqual([]);
          // Only the first and last slice may be partial.
          for (const s of slices.slice(1, -1)) expect(isWholeChunk(s)).toBe(true);
        },
      ),
    );
  });

  test("a range inside one chunk needs that chunk only, partially", () => {
    const slices = slicesFor(chunksOf([10, 10, 10]), { start: 12, end: 15 });
    expect(slices).toHaveLength(1);
    expect(slices[0]).toMatchObject({ index: 1, chunkStart: 10, from: 2, to: 5 });
    expect(isWholeChunk(slices[0]!)).toBe(false);
  });

  test("a range ending exactly on a boundary does not touch the next chunk", () => {
    const slices = slicesFor(chunksOf([10, 10, 10]), { start: 0, end: 20 });
    expect(slices.map((s) => s.index)).toEqual([0, 1]);
    expect(slices.every(isWholeChunk)).toBe(true);
  });
});
