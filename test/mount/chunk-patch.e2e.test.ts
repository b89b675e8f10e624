/**
 * A small write into a big file through the mount moves one chunk (src/mount/patch-copy.ts and the
 * library's ChunkPatcher): 4 KiB written into the middle of a 64 MiB file reads that chunk from one
 * data node and stores it on its R holders, counted in the data nodes' own /metrics, and the new
 * version names the other 63 chunks of the old one. The test process only drives the mount, which
 * runs in a child process.
 */
import { randomBytes } from "node:crypto";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const MiB = 1024 * 1024;
const CHUNK = MiB;

let cluster: TestCluster;
let m: TestMount;
let client: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3, overrides: { chunkSizeBytes: CHUNK } });
  client = await connect({ config: cluster.configPath, deadlineMs: 20_000 });
  m = await TestMount.start(cluster.configPath);
}, 120_000);

afterAll(async () => {
  await m?.stop();
  await client?.close();
  await cluster?.stop();
}, 60_000);

/** Each counter summed over the three data nodes. */
async function moved() {
  const sum = async (name: string, filter = "") => {
    let s = 0;
    for (const id of cluster.dataIds) s += await cluster.dataMetric(id, name, filter);
    return s;
  };
  return {
    chunkReads: await sum("raftfs_data_chunk_reads_total", 'result="OK"'),
    servedBytes: await sum("raftfs_data_served_bytes_total"),
    chunkWrites: await sum("raftfs_data_chunk_writes_total", 'result="OK"'),
    writtenBytes: await sum("raftfs_data_written_bytes_total"),
  };
}

describe("partial writes through the mount", () => {
  test("4 KiB written into the middle of a 64 MiB file reads one chunk and stores one chunk", async () => {
    const content = randomBytes(64 * MiB);
    await client.writeFile("/big.bin", content);
    const before = await client.fileInfo("/big.bin");
    if (before.content.kind !== "chunks") throw new Error("expected a chunked file");
    expect(before.content.chunks).toHaveLength(64);

    const at = 32 * MiB + 100_000; // inside chunk 32
    const patch = randomBytes(4096);
    const start = await moved();
    const h = await fsp.open(join(m.dir, "big.bin"), "r+");
    try {
      await h.write(patch, 0, patch.byteLength, at);
    } finally {
      await h.close();
    }
    const end = await moved();
    const replication = 3;
    expect({
      chunkReads: end.chunkReads - start.chunkReads,
      servedBytes: end.servedBytes - start.servedBytes,
      chunkWrites: end.chunkWrites - start.chunkWrites,
      writtenBytes: end.writtenBytes - start.writtenBytes,
    }).toEqual({
      chunkReads: 1,
      servedBytes: CHUNK,
      chunkWrites: replication,
      writtenBytes: replication * CHUNK,
    });

    const after = await client.fileInfo("/big.bin");
    if (after.content.kind !== "chunks") throw new Error("expected a chunked file");
    expect(after.version).toBe(before.version + 1);
    const changed = after.content.chunks.flatMap((c, i) =>
      c.id === (before.content.kind === "chunks" ? before.content.chunks[i]?.id : "") ? [] : [i],
    );
    expect(changed).toEqual([32]);
    const want = Buffer.from(content);
    patch.copy(want, at);
    expect((await client.readFile("/big.bin")).equals(want)).toBe(true);
  }, 180_000);

  test("writes, a truncate and a growth in one handle commit the bytes a local file would hold", async () => {
    const content = randomBytes(5 * MiB + 123);
    await client.writeFile("/mixed.bin", content);
    const local = Buffer.from(content);
    const h = await fsp.open(join(m.dir, "mixed.bin"), "r+");
    try {
      const a = randomBytes(3000);
      await h.write(a, 0, a.byteLength, MiB - 1000); // across the boundary of chunks 0 and 1
      a.copy(local, MiB - 1000);
      await h.truncate(3 * MiB + 10); // into chunk 3
      const b = randomBytes(500);
      await h.write(b, 0, b.byteLength, 4 * MiB); // grows, leaving zeros after the cut
      const grown = Buffer.concat([local.subarray(0, 3 * MiB + 10), Buffer.alloc(MiB - 10 + 500)]);
      b.copy(grown, 4 * MiB);
      const seen = Buffer.alloc(grown.byteLength);
      const { bytesRead } = await h.read(seen, 0, seen.byteLength, 0);
      expect(bytesRead).toBe(grown.byteLength);
      expect(seen.equals(grown)).toBe(true);
      await h.close();
      expect((await client.readFile("/mixed.bin")).equals(grown)).toBe(true);
    } finally {
      await h.close().catch(() => undefined);
    }
  }, 120_000);
});
