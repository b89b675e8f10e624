/**
 * Directory listings answered as READDIR and READDIRPLUS (src/mount/dirs.ts), against a fake list
 * service: whatever the kernel's buffer sizes, every name is listed once and in order, each entry's
 * cookie resumes after it, each READDIRPLUS entry that names a node counts one kernel lookup of it,
 * and entries go without attributes once their page is older than the attribute timeout or the
 * directory changed after it was read.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RaftfsClient } from "../../src/client/index.js";
import type { ListResponse } from "../../src/common/protocol/index.js";
import { attrOfStat } from "../../src/mount/attrs.js";
import { DirListings } from "../../src/mount/dirs.js";
import { NodeTable } from "../../src/mount/nodes.js";
import { encodeEntry, ROOT_INO } from "../../src/mount/protocol.js";

const PAGE = 1000;

/** A list service over `names` in /d (sorted as the state sorts them), counting its page reads. */
function fakeClient(names: string[]): { client: RaftfsClient; pages: () => number } {
  const sorted = [...names].sort();
  let pages = 0;
  const listPage = async (_path: string, opts: { startAfter?: string } = {}): Promise<ListResponse> => {
    pages++;
    const from = opts.startAfter === undefined ? 0 : sorted.findIndex((n) => n > opts.startAfter!);
    const rest = from < 0 ? [] : sorted.slice(from);
    const entries = rest.slice(0, PAGE).map((name, i) => ({
      name,
      path: `/d/${name}`,
      type: "file" as const,
      version: 1,
      sizeBytes: name.length,
      modifiedAtMs: 1000 * i,
      ino: 100 + sorted.indexOf(name),
      mode: 0o640,
      uid: 7,
      gid: 8,
      changedAtMs: 1000 * i,
    }));
    return {
      entries,
      truncated: rest.length > PAGE,
      ...(rest.length > PAGE ? { nextCursor: entries.at(-1)!.name } : {}),
    };
  };
  return { client: { listPage } as unknown as RaftfsClient, pages: () => pages };
}

function ioBody(fh: bigint, offset: number, size: number): Buffer {
  const b = Buffer.alloc(40);
  b.writeBigUInt64LE(fh, 0);
  b.writeBigUInt64LE(BigInt(offset), 8);
  b.writeUInt32LE(size, 16);
  return b;
}

interface Got {
  name: string;
  nextOffset: number;
  nodeid: bigint;
}

function parse(buf: Buffer, plus: boolean): Got[] {
  const out: Got[] = [];
  let at = 0;
  while (at < buf.byteLength) {
    const nodeid = plus ? buf.readBigUInt64LE(at) : 0n;
    if (plus) at += 128;
    const nameLen = buf.readUInt32LE(at + 16);
    out.push({
      nodeid,
      nextOffset: Number(buf.readBigUInt64LE(at + 8)),
      name: buf.toString("utf8", at + 24, at + 24 + nameLen),
    });
    at += (24 + nameLen + 7) & ~7;
  }
  return out;
}

function setUp(names: string[], attrValidMs: number) {
  const nodes = new NodeTable();
  const dirId = nodes.lookup("/d")!;
  const fake = fakeClient(names);
  const dirs = new DirListings({
    client: fake.client,
    nodes,
    attrValidMs,
    entryFor: (path, st, validMs) => {
      const ino = nodes.lookup(path)!;
      return encodeEntry(ino, attrOfStat(ino, st, { uid: 0, gid: 0 }), validMs);
    },
  });
  return { nodes, dirId, dirs, fake };
}

/** Reads a whole listing with the given buffer sizes (cycled), as the kernel does. */
async function readAll(dirs: DirListings, fh: bigint, sizes: number[], plus: boolean): Promise<Got[]> {
  const all: Got[] = [];
  let offset = 0;
  for (let i = 0; i < 100_000; i++) {
    const got = parse(await dirs.read(ioBody(fh, offset, sizes[i % sizes.length]!), plus), plus);
    if (got.length === 0) return all;
    all.push(...got);
    offset = got.at(-1)!.nextOffset;
  }
  throw new Error("listing did not end");
}

const nameArb = fc.stringMatching(/^[a-z0-9._-]{1,40}$/);

describe("directory listings", () => {
  it("list every name once, in order, whatever the buffer sizes; READDIRPLUS counts one lookup per named entry (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(nameArb, { maxLength: 2500 }),
        fc.array(fc.integer({ min: 200, max: 131_072 }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        async (names, sizes, plus) => {
          const { nodes, dirId, dirs, fake } = setUp(names, 600_000);
          await dirs.open(1n, dirId);
          const got = await readAll(dirs, 1n, sizes, plus);
          expect(got.map((g) => g.name)).toEqual([".", "..", ...[...names].sort()]);
          expect(got.map((g) => g.nextOffset)).toEqual(got.map((_, i) => i + 1));
          expect(fake.pages()).toBe(Math.max(1, Math.ceil(names.length / PAGE)));
          if (plus) {
            for (const g of got.slice(2)) {
              expect(g.nodeid).toBe(nodes.peek(`/d/${g.name}`));
              // One lookup each: a FORGET of 1 drops the node.
              nodes.forget(g.nodeid, 1);
              expect(nodes.peek(`/d/${g.name}`)).toBeUndefined();
            }
          }
          expect(nodes.size).toBe(2); // the root and /d
          expect(nodes.path(ROOT_INO)).toBe("/");
        },
      ),
      { numRuns: 40 },
    );
  }, 120_000);

  it("entries go without attributes once their page is older than the timeout, or the directory changed", async () => {
    const names = ["a", "b", "c"];
    const { dirId, dirs } = setUp(names, 60_000);
    await dirs.open(1n, dirId);
    expect(
      parse(await dirs.read(ioBody(1n, 0, 4096), true), true).every((g, i) => i < 2 || g.nodeid !== 0n),
    ).toBe(true);
    dirs.changed("/d", Date.now() + 1);
    expect(parse(await dirs.read(ioBody(1n, 2, 4096), true), true).map((g) => g.nodeid)).toEqual([
      0n,
      0n,
      0n,
    ]);

    const old = setUp(names, 0); // no timeout: a page is stale as soon as it is read
    await old.dirs.open(2n, old.dirId);
    expect(parse(await old.dirs.read(ioBody(2n, 2, 4096), true), true).map((g) => g.nodeid)).toEqual([
      0n,
      0n,
      0n,
    ]);
  });
});
