/**
 * A file whose chunks are equal (zeros, a repeated pattern) leaves exactly R copies of that chunk on
 * the data nodes' disks as soon as the write returns. Six data nodes and R = 3, so that stores of one
 * chunk through separate placements (the bug) could land on more than three: the leader trims the
 * excess only later, and a check right after the write sees it.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { sha256Hex } from "../../src/client/chunking.js";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";

/** The test cluster's chunk size (cluster-harness.ts: 64 KiB chunks unless productSizes). */
const CHUNK = 64 * 1024;
const R = 3;

let cluster: TestCluster;
let fs: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 1, dataCount: 6 });
  fs = await connect({ config: cluster.configPath });
}, 120_000);

afterAll(async () => {
  await fs?.close();
  await cluster?.stop();
}, 60_000);

/** The data nodes whose chunk folder holds a file named `id`. */
function holders(id: string): number[] {
  return cluster.dataIds.filter((node) =>
    existsSync(join(cluster.dir, "data", `data-${node}`, "chunks", id.slice(0, 2), id)),
  );
}

describe("equal chunks of one file", () => {
  test("8 chunks of zeros, and files of one repeated chunk: exactly R copies right after each write", async () => {
    await fs.mkdir("/equal");
    // A few files, each of one chunk repeated: every one must land on exactly R nodes.
    for (let fill = 0; fill < 4; fill++) {
      const chunk = Buffer.alloc(CHUNK, fill);
      await fs.writeFile(`/equal/f${fill}`, Buffer.concat(Array.from({ length: 8 }, () => chunk)));
      const id = sha256Hex(chunk);
      expect({ fill, holders: holders(id).length }).toEqual({ fill, holders: R });
      const back = await fs.readFile(`/equal/f${fill}`);
      expect(back.byteLength).toBe(8 * CHUNK);
      expect(back.equals(Buffer.concat(Array.from({ length: 8 }, () => chunk)))).toBe(true);
    }
  });
});
