/**
 * A wiped follower catching up by snapshot (issue 15), small enough to run beside other work: 3
 * replicas on loopback, `--files` inline files of `--size` bytes written through the library, the
 * leader compacting every `--snapshot-every` entries; then `--runs` times: a follower killed, its
 * folder removed, restarted, timed until it applied the leader's commit index (from spawn, and from
 * its first /status answer). The stream's size is the installed store read back as a leader sends it.
 *
 *   npm run build && npx tsx bench/snapshot-catchup.ts [--files 3000] [--size 16384] [--runs 2]
 *     [--snapshot-every 1000] [--max-seconds 240]
 */
import { rm } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "../src/index.js";
import { TestCluster } from "../test/support/cluster-harness.js";
import { load, waitFor } from "./support/procs.js";
import { streamBytes } from "./support/state-stream.js";

const { values } = parseArgs({
  options: {
    files: { type: "string", default: "3000" },
    size: { type: "string", default: "16384" },
    runs: { type: "string", default: "2" },
    "snapshot-every": { type: "string", default: "1000" },
    "max-seconds": { type: "string", default: "240" },
  },
});
const FILES = Number(values.files);
const SIZE = Number(values.size);

const cluster = await TestCluster.start({
  metaCount: 3,
  dataCount: 0,
  overrides: {
    inlineThresholdBytes: Math.max(SIZE, 4096),
    raft: { snapshotEveryEntries: Number(values["snapshot-every"]) },
  },
});
const client = await connect({ config: cluster.configPath });
try {
  const body = Buffer.alloc(SIZE, 120);
  const r = await load(64, FILES, 600, async (i) => {
    await client.writeFile(`/m/d${Math.floor(i / 1000)}/f${i}`, body, { createParents: true });
  });
  console.log(`populated ${r.ops} files in ${r.seconds.toFixed(1)} s, ${r.errors} errors`);
  if (r.errors > 0) throw new Error("write errors");
  const leader = await cluster.leaderId();
  const follower = cluster.metaIds.find((id) => id !== leader)!;
  const folder = join(cluster.dir, "data", `meta-${follower}`);
  const times: [number, number][] = [];
  for (let run = 0; run < Number(values.runs); run++) {
    await cluster.kill("meta", follower);
    await rm(folder, { recursive: true, force: true });
    const target = (await cluster.status()).meta.find((m) => m.id === leader)?.commitIndex ?? 0;
    const t0 = performance.now();
    await cluster.restart("meta", follower);
    const tUp = performance.now();
    await waitFor(
      "the wiped follower to catch up",
      async () => {
        const row = (await cluster.status()).meta.find((m) => m.id === follower);
        return row?.appliedIndex !== null && (row?.appliedIndex ?? 0) >= target ? true : null;
      },
      Number(values["max-seconds"]) * 1000,
    );
    times.push([(performance.now() - t0) / 1000, (performance.now() - tUp) / 1000]);
  }
  await cluster.kill("meta", follower);
  const mib = (await streamBytes(join(folder, "state"))) / 2 ** 20;
  for (const [spawnS, upS] of times) {
    console.log(
      `caught up: ${spawnS.toFixed(2)} s from spawn, ${upS.toFixed(2)} s from its first answer; ` +
        `stream ${mib.toFixed(1)} MiB: ${(mib / upS).toFixed(1)} MiB/s from its first answer`,
    );
  }
} finally {
  await client.close();
  await cluster.stop();
}
