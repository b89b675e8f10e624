/**
 * The data path as a user meets it, through the client library against real processes: sizes at every
 * boundary round-trip byte for byte (a 200 MiB random file too), and a data node killed in the middle
 * of a write leaves either the complete new version or nothing visible.
 */
import { createHash, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/index.js";
import { MetaCluster } from "../support/meta-procs.js";

const CHUNK = 256 * 1024;
const INLINE = 4096;
let c: MetaCluster;
let fs: RaftfsClient;

beforeAll(async () => {
  c = await MetaCluster.start({
    dataNodes: 4,
    extra: { chunkSizeBytes: CHUNK, inlineThresholdBytes: INLINE, garbageGraceMs: 600_000 },
  });
  fs = await connect({ config: c.configPath });
}, 60_000);
afterAll(async () => {
  await fs?.close();
  await c?.stop();
});

describe("put and get through the client", () => {
  test.each([0, 1, INLINE - 1, INLINE, INLINE + 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])(
    "%i bytes round-trip exactly",
    async (size) => {
      const data = randomBytes(size);
      const path = `/sizes/f${size}`;
      await fs.writeFile(path, data, { createParents: true });
      expect((await fs.readFile(path)).equals(data)).toBe(true);
      expect((await fs.stat(path)).sizeBytes).toBe(size);
    },
  );

  test("a 200 MiB random file streams in and out with identical bytes", { timeout: 300_000 }, async () => {
    const big = await MetaCluster.start({ dataNodes: 3, extra: { garbageGraceMs: 600_000 } });
    const client = await connect({ config: big.configPath, cacheBytes: 0 });
    try {
      const size = 200 * 1024 * 1024;
      const written = createHash("sha256");
      const w = client.createWriteStream("/big.bin");
      for (let at = 0; at < size; at += 8 * 1024 * 1024) {
        const part = randomBytes(8 * 1024 * 1024);
        written.update(part);
        if (!w.write(part)) await new Promise((r) => w.once("drain", r));
      }
      await new Promise<void>((resolve, reject) =>
        w.end((err?: Error | null) => (err ? reject(err) : resolve())),
      );
      const read = createHash("sha256");
      let bytes = 0;
      for await (const chunk of client.createReadStream("/big.bin")) {
        read.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
      }
      expect(bytes).toBe(size);
      expect(read.digest("hex")).toBe(written.digest("hex"));
    } finally {
      await client.close();
      await big.stop();
    }
  });

  test("kill -9 of a data node in the middle of a write: complete or nothing visible", {
    timeout: 120_000,
  }, async () => {
    const data = randomBytes(40 * CHUNK);
    const write = fs.writeFile("/mid-write.bin", data);
    // Kill a node while chunks are flowing.
    await new Promise((r) => setTimeout(r, 150));
    await c.killData(2);
    const outcome = await write.then(
      () => "written" as const,
      (err: Error) => err,
    );
    if (outcome === "written") {
      expect((await fs.readFile("/mid-write.bin")).equals(data)).toBe(true);
    } else {
      // Failed cleanly: no new version is visible.
      await expect(fs.stat("/mid-write.bin")).rejects.toMatchObject({ code: "NOT_FOUND" });
    }
    c.launchData(2);
    await c.dataAlive([1, 2, 3, 4]);
  });
});
