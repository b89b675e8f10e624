/**
 * What the power-loss layer (test/support/lazyfs) does to the cluster it runs under: small files
 * written through the library (`connect()`) to 3 replicas whose Raft stores are on plain folders,
 * beside the same on the layer's FUSE mounts, in alternating passes, as ratios within one run. The
 * layer's fsync costs no disk flush while the plain folder's does, so a ratio near or above 1 says the
 * layer does not slow the tests that use it; far below would mean its FUSE round trips dominate.
 *
 *   npm run build && npx tsx bench/power-loss-layer.ts [--passes 2] [--files 300] [--seconds 10]
 *
 * Any write error is printed and fails the run.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "../src/index.js";
import { LazyFs } from "../test/support/lazyfs/index.js";
import { MetaCluster } from "../test/support/meta-procs.js";
import { load } from "./support/procs.js";

const { values } = parseArgs({
  options: {
    passes: { type: "string", default: "2" },
    files: { type: "string", default: "300" },
    seconds: { type: "string", default: "10" },
  },
});
const PASSES = Number(values.passes);
const FILES = Number(values.files);
const SECONDS = Number(values.seconds);
const CONCURRENCY = [1, 16];

/** Files/s at each concurrency on a fresh 3-replica cluster, its stores on the layer or not. */
async function pass(onLayer: boolean, tag: string): Promise<{ rates: number[]; errors: number }> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-bench-lazyfs-"));
  const disks: LazyFs[] = [];
  let cluster: MetaCluster | undefined;
  try {
    if (onLayer) {
      for (const id of [1, 2, 3]) {
        disks.push(await LazyFs.mount(join(dir, "disk", `meta-${id}`), join(dir, "data", `meta-${id}`)));
      }
    }
    cluster = await MetaCluster.start({ dir, replicas: 3 });
    const client = await connect({ config: cluster.configPath });
    const rates: number[] = [];
    let errors = 0;
    const data = Buffer.alloc(1024, 7);
    for (const c of CONCURRENCY) {
      const messages = new Map<string, number>();
      const r = await load(c, FILES, SECONDS, async (i) => {
        try {
          await client.writeFile(`/b/${tag}/c${c}/f${i}`, data, { createParents: true });
        } catch (err) {
          const m = String((err as Error).message).slice(0, 160);
          messages.set(m, (messages.get(m) ?? 0) + 1);
          throw err;
        }
      });
      for (const [m, n] of messages) console.error(`${tag} c=${c}: ${n} × ${m}`);
      errors += r.errors;
      rates.push(r.ops / r.seconds);
    }
    await client.close();
    return { rates, errors };
  } finally {
    if (cluster) for (const id of [1, 2, 3]) await cluster.kill(id);
    for (const d of disks) await d.unmount();
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const rows: string[] = [];
let errors = 0;
for (let p = 1; p <= PASSES; p++) {
  const plain = await pass(false, `plain${p}`);
  const layer = await pass(true, `layer${p}`);
  errors += plain.errors + layer.errors;
  for (const [i, c] of CONCURRENCY.entries()) {
    const a = plain.rates[i]!;
    const b = layer.rates[i]!;
    rows.push(`| ${p} | ${c} | ${a.toFixed(0)} | ${b.toFixed(0)} | ${(b / a).toFixed(2)} |`);
  }
}
console.log("| pass | in flight | plain folders files/s | on the layer files/s | layer ÷ plain |");
console.log("|---|---|---|---|---|");
for (const r of rows) console.log(r);
if (errors > 0) {
  console.error(`${errors} write errors`);
  process.exit(1);
}
process.exit(0);
