/**
 * The chunk-by-chunk local copy of a chunked file (src/mount/patch-copy.ts): whatever writes,
 * truncates and reads a handle makes, the chunks it commits spell the same bytes as a plain copy
 * would hold, it keeps every base chunk it did not change, and it reads from the base only the
 * chunks it touched.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, describe, expect, it } from "vitest";
import { sha256Hex } from "../../src/client/chunking.js";
import { PatchCopy } from "../../src/mount/patch-copy.js";
import { Spool } from "../../src/mount/spool.js";

const dir = mkdtempSync(join(tmpdir(), "raftfs-patch-copy-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

const C = 16;

function baseOf(bytes: Buffer) {
  const chunks = [];
  const byId = new Map<string, Buffer>();
  for (let at = 0; at < bytes.byteLength; at += C) {
    const data = bytes.subarray(at, Math.min(bytes.byteLength, at + C));
    const id = sha256Hex(data);
    byId.set(id, data);
    chunks.push({ id, sizeBytes: data.byteLength });
  }
  return { base: { sizeBytes: bytes.byteLength, chunks }, byId };
}

type Op =
  | { kind: "write"; at: number; data: Uint8Array }
  | { kind: "truncate"; size: number }
  | { kind: "read"; at: number; length: number };

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant("write" as const),
    at: fc.nat(120),
    data: fc.uint8Array({ minLength: 1, maxLength: 40 }),
  }),
  fc.record({ kind: fc.constant("truncate" as const), size: fc.nat(120) }),
  fc.record({ kind: fc.constant("read" as const), at: fc.nat(120), length: fc.integer({ min: 1, max: 40 }) }),
);

async function run(baseBytes: Buffer, ops: Op[], memoryMaxBytes: number) {
  const { base, byId } = baseOf(baseBytes);
  const loaded: number[] = [];
  const spool = new Spool(join(dir, `s${files++}`), memoryMaxBytes);
  const copy = await PatchCopy.open(spool, base, C, async (start, end) => {
    loaded.push(start / C);
    return baseBytes.subarray(start, end);
  });
  let model = Buffer.from(baseBytes);
  for (const op of ops) {
    if (op.kind === "write") {
      const end = op.at + op.data.byteLength;
      if (end > model.byteLength) model = Buffer.concat([model, Buffer.alloc(end - model.byteLength)]);
      model.set(op.data, op.at);
      await copy.write(Buffer.from(op.data), op.at);
    } else if (op.kind === "truncate") {
      model =
        op.size <= model.byteLength
          ? model.subarray(0, op.size)
          : Buffer.concat([model, Buffer.alloc(op.size - model.byteLength)]);
      await copy.truncate(op.size);
    } else {
      const buf = Buffer.alloc(op.length);
      const n = await copy.read(buf, op.length, op.at);
      expect(buf.subarray(0, n)).toEqual(model.subarray(op.at, op.at + op.length));
    }
    expect(copy.sizeBytes).toBe(model.byteLength);
  }
  const parts: Buffer[] = [];
  const kept: number[] = [];
  let index = 0;
  for await (const c of copy.chunks()) {
    if ("keep" in c) {
      expect(c.keep).toEqual(base.chunks[index]);
      kept.push(index);
      parts.push(byId.get(c.keep.id)!);
    } else parts.push(c.data);
    index++;
  }
  await spool.close();
  return { bytes: Buffer.concat(parts), model, loaded, kept, parts };
}

describe("PatchCopy", () => {
  it("commits the bytes a whole copy would hold, whatever the writes, truncates and reads", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ minLength: 1, maxLength: 100 }),
        fc.array(opArb, { maxLength: 12 }),
        fc.constantFrom(8, 1024),
        async (base, ops, memoryMaxBytes) => {
          const r = await run(Buffer.from(base), ops, memoryMaxBytes);
          expect(r.bytes).toEqual(r.model);
          // Every chunk but the last is whole: the next patch of this version lines up too.
          for (const p of r.parts.slice(0, -1)) expect(p.byteLength).toBe(C);
          // A base chunk is read at most once.
          expect(new Set(r.loaded).size).toBe(r.loaded.length);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("a write inside one chunk reads that chunk only and keeps every other one", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 3, max: 8 }),
        fc.nat(),
        fc.integer({ min: 1, max: C - 1 }),
        async (chunks, pick, length) => {
          const baseBytes = Buffer.alloc(chunks * C - 5, 7);
          const i = pick % (chunks - 1); // not the last, shorter one
          const at = i * C + (pick % (C - length + 1));
          const r = await run(baseBytes, [{ kind: "write", at, data: new Uint8Array(length).fill(1) }], 1024);
          expect(r.loaded).toEqual([i]);
          expect(r.kept).toEqual([...Array(chunks).keys()].filter((k) => k !== i));
          expect(r.bytes).toEqual(r.model);
        },
      ),
    );
  });

  it("a write covering a chunk whole reads nothing from the base", async () => {
    const baseBytes = Buffer.alloc(4 * C, 3);
    const r = await run(baseBytes, [{ kind: "write", at: C, data: new Uint8Array(2 * C).fill(9) }], 1024);
    expect(r.loaded).toEqual([]);
    expect(r.kept).toEqual([0, 3]);
  });

  it("fits only fixed-size chunks, the last one shorter", () => {
    const ref = (sizeBytes: number) => ({ id: "a".repeat(64), sizeBytes });
    expect(PatchCopy.fits({ sizeBytes: 40, chunks: [ref(16), ref(16), ref(8)] }, 16)).toBe(true);
    expect(PatchCopy.fits({ sizeBytes: 32, chunks: [ref(16), ref(16)] }, 16)).toBe(true);
    expect(PatchCopy.fits({ sizeBytes: 40, chunks: [ref(8), ref(16), ref(16)] }, 16)).toBe(false);
    expect(PatchCopy.fits({ sizeBytes: 40, chunks: [ref(20), ref(20)] }, 16)).toBe(false);
    expect(PatchCopy.fits({ sizeBytes: 0, chunks: [] }, 16)).toBe(false);
  });
});
