/**
 * Long chunk lists through real processes. A file of 900 small chunks (at ~91 bytes a reference, past the
 * ~70 KiB limit of a cluster with the smallest inline threshold) used to be stored whole and
 * then refused at its commit (PAYLOAD_TOO_LARGE: the commit route's body limit was sized for inline
 * content); a list at MAX_CHUNKS_PER_FILE must pass the commit route and the Raft log of three
 * replicas, and a longer one is refused with a clear error.
 */
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MAX_CHUNKS_PER_FILE, type WireChunkRef } from "../../src/common/protocol/index.js";
import { connect, type RaftfsClient } from "../../src/index.js";
import { bytesOf } from "../support/bytes.js";
import { MetaCluster } from "../support/meta-procs.js";

/** The smallest chunk the config allows: many chunks for few bytes. */
const CHUNK = 4096;

describe("a file's chunk list, long", () => {
  let cluster: MetaCluster | undefined;
  let client: RaftfsClient | undefined;

  beforeAll(async () => {
    cluster = await MetaCluster.start({
      replicas: 3,
      dataNodes: 3,
      // The smallest inline threshold keeps the instance-wide body limit near its floor (~70 KiB).
      // No collection while a long file is stored chunk by chunk (on a loaded machine, longer than
      // the harness's 1.5 s grace).
      extra: { chunkSizeBytes: CHUNK, inlineThresholdBytes: 4096, garbageGraceMs: 600_000 },
    });
    // One entry of 65,536 chunk references is a heavy apply (each reference read and written in the
    // replicas' LevelDB): on a loaded machine it outlasts the library's 10 s default. This test is
    // about the bound, not the speed.
    client = await connect({
      config: cluster.configPath,
      cacheBytes: 0,
      deadlineMs: 110_000,
      requestTimeoutMs: 100_000,
    });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    await cluster?.stop();
  });

  it("writes and reads back a file of 900 chunks through the library", { timeout: 120_000 }, async () => {
    const data = bytesOf("many", 899 * CHUNK + 99);
    const w = await client!.writeFile("/long/many", data, { createParents: true });
    expect(w.sizeBytes).toBe(data.byteLength);
    expect((await client!.readFile("/long/many")).equals(data)).toBe(true);
  });

  it("commits a list of exactly MAX_CHUNKS_PER_FILE chunks and refuses one more", {
    timeout: 120_000,
  }, async () => {
    // The list alone is what is bounded; the state machine takes references to chunks it has not seen.
    const refs = (n: number): WireChunkRef[] =>
      Array.from({ length: n }, (_, i) => ({
        id: createHash("sha256").update(`ref:${i}`).digest("hex"),
        sizeBytes: CHUNK,
      }));
    const max = refs(MAX_CHUNKS_PER_FILE);
    const sizeBytes = MAX_CHUNKS_PER_FILE * CHUNK;
    await client!.commitContent(
      "/long/max",
      { kind: "chunks", chunks: max, sizeBytes },
      { createParents: true },
    );
    expect((await client!.stat("/long/max")).sizeBytes).toBe(sizeBytes);
    const over = refs(MAX_CHUNKS_PER_FILE + 1);
    await expect(
      client!.commitContent("/long/over", { kind: "chunks", chunks: over, sizeBytes: sizeBytes + CHUNK }),
    ).rejects.toMatchObject({ code: "BAD_REQUEST" });
  });
});
