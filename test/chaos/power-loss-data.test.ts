/**
 * Power loss on the data nodes: each node's chunk folder is its own power-loss disk
 * (test/support/lazyfs), so a cut drops every chunk byte and folder entry the node did not fsync.
 * Files larger than the inline threshold (several chunks each) are written through the client library;
 * once acknowledged, their chunks must survive a power cut on some or all of the data nodes, read back
 * byte for byte from the restarted nodes. Schedule from fast-check with a printed seed
 * (POWER_LOSS_SEED=<n> replays it); each round cuts every data node at once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, type RaftfsClient } from "../../src/index.js";
import { bytesOf } from "../support/bytes.js";
import { fuseUnavailable, LazyFs } from "../support/lazyfs/index.js";
import { MetaCluster } from "../support/meta-procs.js";

const why = fuseUnavailable();
if (why) console.warn(`data power-loss tests skipped: ${why}`);

const NODES = [1, 2, 3];
const CHUNK = 64 * 1024;
const SEED = Number(process.env.POWER_LOSS_SEED ?? Date.now() % 2 ** 31);

// Every round cuts every data node. Cutting only some of them runs into a bug outside this test's
// room: after `kill -9` and a restart of two of three nodes (no power cut needed), the surviving
// node's pipeline to a restarted one fails ("the forwarded body was aborted") and writes with R = 3
// fail with UNAVAILABLE; reported, not worked around here.
const scheduleArb = fc.array(
  fc.record({
    files: fc.integer({ min: 1, max: 3 }),
    /** Extra bytes past two whole chunks, so chunk ends fall anywhere. */
    tailBytes: fc.integer({ min: 0, max: CHUNK - 1 }),
  }),
  { minLength: 1, maxLength: 2 },
);

/** Deterministic bytes of a file: a seeded hash stream, `size` long. */
describe.skipIf(why !== null)("power loss on the data nodes", () => {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-power-data-"));
  const disks = new Map<number, LazyFs>();
  let cluster: MetaCluster | undefined;
  let client: RaftfsClient | undefined;
  const acked = new Map<string, number>();
  let seq = 0;

  beforeAll(async () => {
    await Promise.all(
      NODES.map(async (id) => {
        disks.set(id, await LazyFs.mount(join(dir, "disk", `data-${id}`), join(dir, "data", `data-${id}`)));
      }),
    );
    cluster = await MetaCluster.start({
      dir,
      replicas: 1,
      dataNodes: NODES.length,
      // No garbage collection during the test: a chunk missing afterwards was lost, not collected.
      extra: { chunkSizeBytes: CHUNK, inlineThresholdBytes: 4096, garbageGraceMs: 600_000 },
    });
    // A sync(1) after start: the nodes' folders exist as on a machine that has run for a while.
    await Promise.all([...disks.values()].map((d) => d.syncAll()));
    client = await connect({ config: cluster.configPath, cacheBytes: 0, deadlineMs: 20_000 });
  }, 60_000);

  afterAll(async () => {
    await client?.close();
    if (cluster) for (const id of NODES) await cluster.killData(id);
    if (cluster) await cluster.kill(1);
    for (const d of disks.values()) await d.unmount();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  /** What each data node and its disk wrote to stderr (for a failure message). */
  const said = () =>
    NODES.map((id) => `data ${id}: ${cluster?.dataLogs(id)}\ndisk ${id}: ${disks.get(id)?.logs()}`).join(
      "\n",
    );

  it("keeps every acknowledged chunk through power cuts", { timeout: 120_000 }, async () => {
    const c = cluster!;
    const [schedule] = fc.sample(scheduleArb, { seed: SEED, numRuns: 1 });
    console.info(
      `data power-loss seed ${SEED} (POWER_LOSS_SEED=${SEED} replays it): ${JSON.stringify(schedule)}`,
    );
    for (const round of schedule!) {
      for (let i = 0; i < round.files; i++) {
        const path = `/d/f${++seq}`;
        const size = 2 * CHUNK + ((round.tailBytes + 977 * i) % CHUNK);
        await client!
          .writeFile(path, bytesOf(`${SEED}:${path}`, size), { createParents: true })
          .catch((err: unknown) => {
            throw new Error(`write ${path}: ${(err as Error).message} (seed ${SEED})\n${said()}`);
          });
        acked.set(path, size);
      }
      await Promise.all(NODES.map((id) => c.killData(id, "SIGKILL")));
      await Promise.all(NODES.map((id) => disks.get(id)!.cut()));
      await Promise.all(NODES.map((id) => disks.get(id)!.mount()));
      for (const id of NODES) c.launchData(id);
      await c.dataAlive(NODES, 30_000);
      // Every node was cut: each chunk can only come from bytes that survived on some node.
      for (const [path, size] of acked) {
        const got = await client!.readFile(path).catch((err: unknown) => `<${(err as Error).message}>`);
        const ok = Buffer.isBuffer(got) && got.equals(bytesOf(`${SEED}:${path}`, size));
        expect(
          ok,
          `acknowledged ${path} lost or damaged (seed ${SEED}): ${Buffer.isBuffer(got) ? "bytes differ" : got}`,
        ).toBe(true);
      }
    }
  });
});
