/**
 * The client library against a real cluster (3 metadata replicas, 3 data nodes, all separate
 * processes): files inline and in chunks, ranges, streams, the namespace, typed errors, two clients
 * seeing each other's writes, the chunk cache, locks and the change feed.
 */
import { randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient, type RenewObservation } from "../../src/client/index.js";
import { DfsError } from "../../src/common/errors.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";

let cluster: TestCluster;
const clients: RaftfsClient[] = [];

async function client(opts: Parameters<typeof connect>[0] = {}): Promise<RaftfsClient> {
  const c = await connect({ config: cluster.configPath, ...opts });
  clients.push(c);
  return c;
}

/** Chunk reads served by all data nodes together (their Prometheus counters). */
async function chunkReads(): Promise<number> {
  let sum = 0;
  for (const id of cluster.dataIds) sum += await cluster.dataMetric(id, "raftfs_data_chunk_reads_total");
  return sum;
}

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
}, 120_000);

afterAll(async () => {
  for (const c of clients) await c.close();
  await cluster?.stop();
}, 60_000);

describe("client library (real processes)", () => {
  test("small files are inline, large ones chunked; both read back byte for byte, with versions", async () => {
    const fs = await client();
    await fs.mkdir("/files");
    const small = await fs.writeFile("/files/small.txt", "hello raftfs");
    expect(small).toEqual({ version: 1, sizeBytes: 12 });
    expect(await fs.readFile("/files/small.txt", { encoding: "utf8" })).toBe("hello raftfs");

    const big = randomBytes(300_000); // 5 chunks of 64 KiB in the test config
    expect(await fs.writeFile("/files/big.bin", big)).toEqual({ version: 1, sizeBytes: 300_000 });
    expect((await fs.readFile("/files/big.bin")).equals(big)).toBe(true);
    const again = randomBytes(70_000);
    expect((await fs.writeFile("/files/big.bin", again)).version).toBe(2);
    expect((await fs.readFile("/files/big.bin")).equals(again)).toBe(true);
    expect((await fs.readFile("/files/big.bin", { version: 1 })).equals(big)).toBe(true);
    const versions = await fs.versions("/files/big.bin");
    expect(versions.map((v) => [v.version, v.sizeBytes, v.contentKind])).toEqual([
      [1, 300_000, "chunks"],
      [2, 70_000, "chunks"],
    ]);
    expect(await fs.stat("/files/small.txt")).toMatchObject({ type: "file", version: 1, sizeBytes: 12 });
    // Empty files exist too.
    await fs.writeFile("/files/empty", "");
    expect((await fs.readFile("/files/empty")).byteLength).toBe(0);
  });

  test("range reads fetch only the chunks they need", async () => {
    const writer = await client();
    const data = randomBytes(5 * 65_536 + 1000);
    await writer.writeFile("/ranges.bin", data);
    const fs = await client(); // empty cache
    const read = async (start: number, end: number) => {
      const parts: Buffer[] = [];
      for await (const p of fs.createReadStream("/ranges.bin", { start, end })) parts.push(p as Buffer);
      return Buffer.concat(parts);
    };
    const before = fs.cacheStats().misses;
    // Bytes 65_000..131_500 touch chunks 0, 1 and 2, partially at both ends.
    expect((await read(65_000, 131_500)).equals(data.subarray(65_000, 131_501))).toBe(true);
    expect(fs.cacheStats().misses - before).toBe(3);
    expect((await read(0, 9)).equals(data.subarray(0, 10))).toBe(true);
    expect((await read(data.length - 5, data.length + 100)).equals(data.subarray(data.length - 5))).toBe(
      true,
    );
    expect((await read(data.length + 10, data.length + 20)).byteLength).toBe(0);
    // A range inside an inline file.
    await writer.writeFile("/ranges.txt", "0123456789");
    const parts: Buffer[] = [];
    for await (const p of fs.createReadStream("/ranges.txt", { start: 3, end: 5 })) parts.push(p as Buffer);
    expect(Buffer.concat(parts).toString()).toBe("345");
  });

  test("streams: a write stream commits on finish; a read stream yields the same bytes", async () => {
    const fs = await client();
    const pieces = Array.from({ length: 40 }, () => randomBytes(10_000));
    const out = fs.createWriteStream("/streamed.bin");
    await pipeline(Readable.from(pieces), out);
    expect(await out.result).toEqual({ version: 1, sizeBytes: 400_000 });
    const got: Buffer[] = [];
    const input = fs.createReadStream("/streamed.bin");
    input.once("open", (f: { version: number }) => expect(f.version).toBe(1));
    for await (const chunk of input) got.push(chunk as Buffer);
    expect(Buffer.concat(got).equals(Buffer.concat(pieces))).toBe(true);
    // A destroyed write stream commits nothing.
    const aborted = fs.createWriteStream("/never.bin");
    aborted.on("error", () => undefined); // the error is expected; result carries it
    aborted.write(randomBytes(100_000));
    aborted.destroy(new Error("changed my mind"));
    await expect(aborted.result).rejects.toThrow(/changed my mind/);
    await expect(fs.stat("/never.bin")).rejects.toMatchObject({ code: "NOT_FOUND" });
  });

  test("namespace operations and their typed errors", async () => {
    const fs = await client();
    expect((await fs.mkdir("/ns/a/b", { recursive: true })).created).toEqual(["/ns", "/ns/a", "/ns/a/b"]);
    await fs.writeFile("/ns/a/f.txt", "x");
    expect(await fs.readdir("/ns/a")).toEqual(["b", "f.txt"]);
    const typed = await fs.readdir("/ns/a", { withTypes: true });
    expect(typed.map((e) => [e.name, e.type])).toEqual([
      ["b", "dir"],
      ["f.txt", "file"],
    ]);
    await fs.rename("/ns/a", "/ns/renamed");
    expect(await fs.readFile("/ns/renamed/f.txt", { encoding: "utf8" })).toBe("x");
    // Thunks: each call starts only when it is checked (an early rejection would go unhandled).
    const errors: [() => Promise<unknown>, string][] = [
      [() => fs.readFile("/ns/a/f.txt"), "NOT_FOUND"],
      [() => fs.mkdir("/ns"), "EXISTS"],
      [() => fs.rm("/ns"), "NOT_EMPTY"],
      [() => fs.writeFile("/ns/renamed/f.txt", "y", { expectedVersion: 5 }), "VERSION_MISMATCH"],
      [() => fs.writeFile("/ns/renamed/f.txt", "y", { expectedVersion: 0 }), "VERSION_MISMATCH"],
      [() => fs.writeFile("/ns/missing/f.txt", "y"), "NOT_FOUND"],
      [() => fs.readdir("/ns/renamed/f.txt"), "NOT_A_DIRECTORY"],
      [() => fs.readFile("/ns"), "IS_A_DIRECTORY"],
      [() => fs.readFile("/ns/renamed/f.txt", { version: 9 }), "NOT_FOUND"],
    ];
    for (const [call, code] of errors) {
      const err = await call().then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, code).toBeInstanceOf(DfsError);
      expect((err as DfsError).code).toBe(code);
    }
    await expect(fs.stat("relative")).rejects.toMatchObject({ code: "INVALID_PATH" });
    await expect(fs.writeFile("relative", "x")).rejects.toMatchObject({ code: "INVALID_PATH" });
    expect((await fs.writeFile("/ns/deep/er/f.txt", "z", { createParents: true })).version).toBe(1);
    expect((await fs.rm("/ns", { recursive: true })).removed).toBeGreaterThanOrEqual(6);
    expect(await fs.exists("/ns")).toBe(false);
    expect((await fs.rm("/ns", { force: true })).removed).toBe(0);
  });

  test("two clients: B writes, A's next open sees the new version", async () => {
    const a = await client();
    const b = await client();
    await b.writeFile("/shared.txt", "v1");
    expect(await a.readFile("/shared.txt", { encoding: "utf8" })).toBe("v1");
    await b.writeFile("/shared.txt", "v2");
    expect(await a.readFile("/shared.txt", { encoding: "utf8" })).toBe("v2");
    const big = randomBytes(200_000);
    await b.writeFile("/shared.txt", big);
    expect((await a.readFile("/shared.txt")).equals(big)).toBe(true);
  });

  test("watch mode: opens come from cached metadata, refreshed by the feed; own writes are seen at once", async () => {
    const w = await client({ metadataCache: "watch" });
    const other = await client();
    await other.writeFile("/watched.txt", "one");
    // The feed is followed in the background: wait until the cache is live and serving.
    await waitFor("a metadata cache hit", async () => {
      await w.readFile("/watched.txt");
      return w.cacheStats().metaHits > 0 ? true : null;
    });
    const hits = w.cacheStats().metaHits;
    expect(await w.readFile("/watched.txt", { encoding: "utf8" })).toBe("one");
    expect(w.cacheStats().metaHits).toBe(hits + 1);
    await other.writeFile("/watched.txt", "two");
    await waitFor("the feed to deliver the change", async () =>
      (await w.readFile("/watched.txt", { encoding: "utf8" })) === "two" ? true : null,
    );
    await w.writeFile("/watched.txt", "three");
    expect(await w.readFile("/watched.txt", { encoding: "utf8" })).toBe("three");
  });

  test("chunk cache hits do not touch the data nodes", async () => {
    const fs = await client();
    const data = randomBytes(4 * 65_536);
    await fs.writeFile("/cached.bin", data);
    await fs.readFile("/cached.bin"); // fills the cache: 4 misses
    const stats = fs.cacheStats();
    const served = await chunkReads();
    for (let i = 0; i < 3; i++) expect((await fs.readFile("/cached.bin")).equals(data)).toBe(true);
    expect(fs.cacheStats().hits - stats.hits).toBe(12);
    expect(fs.cacheStats().misses).toBe(stats.misses);
    expect(await chunkReads()).toBe(served);
    // Stronger: with every data node paused, the cached file still reads (only metadata is asked).
    for (const id of cluster.dataIds) await cluster.kill("data", id, "SIGSTOP");
    try {
      expect((await fs.readFile("/cached.bin")).equals(data)).toBe(true);
    } finally {
      for (const id of cluster.dataIds) await cluster.kill("data", id, "SIGCONT");
    }
    expect(fs.cacheStats().bytes).toBeGreaterThanOrEqual(data.byteLength);
  });

  test("a corrupt copy is skipped for a good one; all copies corrupt is CORRUPT", async () => {
    const { readdirSync, writeFileSync } = await import("node:fs");
    const { join } = await import("node:path");
    const fs = await client();
    const data = randomBytes(65_536);
    await fs.writeFile("/corrupt.bin", data);
    const file = await fs.versions("/corrupt.bin");
    expect(file).toHaveLength(1);
    const { sha256Hex } = await import("../../src/client/chunking.js");
    const id = sha256Hex(data);
    const chunkFile = (node: number) =>
      join(cluster.dir, "data", `data-${node}`, "chunks", id.slice(0, 2), id);
    for (const node of cluster.dataIds.slice(0, 2)) {
      expect(readdirSync(join(cluster.dir, "data", `data-${node}`, "chunks", id.slice(0, 2)))).toContain(id);
      writeFileSync(chunkFile(node), randomBytes(65_536));
    }
    const fresh = await client({ cacheBytes: 0 });
    expect((await fresh.readFile("/corrupt.bin")).equals(data)).toBe(true);

    const doomed = randomBytes(65_536);
    await fs.writeFile("/doomed.bin", doomed);
    const did = sha256Hex(doomed);
    for (const node of cluster.dataIds) {
      writeFileSync(
        join(cluster.dir, "data", `data-${node}`, "chunks", did.slice(0, 2), did),
        randomBytes(65_536),
      );
    }
    await expect(fresh.readFile("/doomed.bin")).rejects.toMatchObject({ code: "CORRUPT" });
  });

  test("locks: exclusion, fencing tokens, renewal past the TTL, release", async () => {
    const a = await client();
    const b = await client();
    await a.writeFile("/locked.txt", "0");
    const renewals: RenewObservation[] = [];
    // A TTL with room for a busy machine's delays: a renewal is sent every third of it.
    const held = await a.lock("/locked.txt", { ttlMs: 1500, onRenew: (r) => renewals.push(r) });
    await expect(b.lock("/locked.txt", { wait: false })).rejects.toMatchObject({ code: "LOCKED" });
    await expect(b.writeFile("/locked.txt", "b")).rejects.toMatchObject({ code: "LOCKED" });
    // A token is honoured only from the session that acquired it, or with the lock's secret.
    await expect(b.writeFile("/locked.txt", "b", { lockToken: held.token })).rejects.toMatchObject({
      code: "LOCKED",
    });
    expect((await a.writeFile("/locked.txt", "with token", { lockToken: held.token })).version).toBe(2);
    const delegated = { lockToken: held.token, lockSecret: held.secret };
    expect((await b.writeFile("/locked.txt", "delegated", delegated)).version).toBe(3);
    // Renewed in the background: still held past one TTL (four renewals, one every 500 ms; polled, so
    // a slow machine only takes longer), each acknowledged after it was sent.
    await waitFor("four renewals", async () =>
      renewals.filter((r) => r.outcome === "ok").length >= 4 ? true : null,
    );
    expect(held.lost).toBe(false);
    for (const r of renewals) expect(r.answeredAtMs).toBeGreaterThanOrEqual(r.sentAtMs);
    await expect(b.lock("/locked.txt", { wait: false })).rejects.toMatchObject({ code: "LOCKED" });
    // A waiter gets it once released, with a larger token; the old token is now refused.
    const waiting = b.lock("/locked.txt", { ttlMs: 5000, waitTimeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 200));
    await held.release();
    const next = await waiting;
    expect(next.token).toBeGreaterThan(held.token);
    await expect(a.writeFile("/locked.txt", "stale", { lockToken: held.token })).rejects.toMatchObject({
      code: "STALE_TOKEN",
    });
    await next.release();
    // withLock: the lock is released after the function, whatever it returns.
    const result = await a.withLock("/locked.txt", async (lock) => {
      await a.writeFile("/locked.txt", "in withLock", { lockToken: lock.token });
      return "done";
    });
    expect(result).toBe("done");
    expect(await b.locks("/locked.txt")).toEqual([]);
    // Shared locks coexist and keep writers out.
    const r1 = await a.lock("/locked.txt", { mode: "shared" });
    const r2 = await b.lock("/locked.txt", { mode: "shared", wait: false });
    await expect(a.writeFile("/locked.txt", "w", { lockToken: r1.token })).rejects.toMatchObject({
      code: "LOCKED",
    });
    await Promise.all([r1.release(), r2.release()]);
  });

  test("watch(): an async iterator over the change feed", async () => {
    const fs = await client();
    const seen: string[] = [];
    // From the start of the feed, not "now": a watch that starts late (a busy machine) misses nothing.
    const feed = fs.watch({ prefix: "/feed", pollMs: 2000, after: 0 });
    const collecting = (async () => {
      for await (const e of feed) {
        if (e.type === "change") seen.push(`${e.change.kind} ${e.change.path}`);
        if (seen.length >= 3) break;
      }
    })();
    await fs.mkdir("/feed");
    await fs.writeFile("/other.txt", "not under the prefix");
    await fs.writeFile("/feed/a.txt", "1");
    await fs.writeFile("/feed/a.txt", "2");
    await collecting;
    expect(seen).toEqual(["mkdir /feed", "create /feed/a.txt", "commit /feed/a.txt"]);
  });

  test("status: the leader's view of every process", async () => {
    const fs = await client();
    const s = await fs.status();
    expect(s.leader).toBe(await cluster.leaderId());
    expect(s.meta.map((m) => [m.id, m.alive])).toEqual([
      [1, true],
      [2, true],
      [3, true],
    ]);
    expect(s.data.every((d) => d.alive && typeof d.pid === "number")).toBe(true);
  });
});
