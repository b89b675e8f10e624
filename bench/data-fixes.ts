/**
 * Two data-path fixes measured through the library (`connect()`), with R = 3 on 3 data nodes:
 *  - restart: the first write after `kill -9` and an immediate restart of two of the three data
 *    nodes (the leader still counts the old processes alive), beside a steady-state write of the
 *    same file in the same run; each such write must succeed (it failed in 0.5 s before the fix);
 *  - long chunk lists: a 64 MiB file put with 64 KiB chunks (1,024 chunks in one commit; refused at
 *    the commit before the fix) beside the same file with the cluster's 4 MiB chunks, each read back
 *    and compared byte for byte.
 * Every error is printed and fails the run.
 *
 *   npm run build && npx tsx bench/data-fixes.ts [--rounds 5] [--mib 64]
 */
import { createHash } from "node:crypto";
import { parseArgs } from "node:util";
import { connect } from "../src/index.js";
import { MetaCluster } from "../test/support/meta-procs.js";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "5" }, mib: { type: "string", default: "64" } },
});
const ROUNDS = Number(values.rounds);
const MIB = Number(values.mib);
const SMALL_CHUNK = 64 * 1024;
const FILE = 4 * SMALL_CHUNK + 321;

function bytesOf(name: string, size: number): Buffer {
  const out = Buffer.alloc(size);
  for (let off = 0, i = 0; off < size; i++)
    off += createHash("sha256").update(`${name}:${i}`).digest().copy(out, off);
  return out;
}
/** Polls a data node's status route until it answers (bounded: 30 s). */
async function untilListening(url: string): Promise<void> {
  const until = performance.now() + 30_000;
  while (performance.now() < until) {
    const ok = await fetch(`${url}/status`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`${url} did not listen within 30 s`);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;
const errors: string[] = [];

async function restartRows(): Promise<void> {
  const c = await MetaCluster.start({
    replicas: 1,
    dataNodes: 3,
    extra: { chunkSizeBytes: SMALL_CHUNK, inlineThresholdBytes: 4096, garbageGraceMs: 600_000 },
  });
  const fs = await connect({ config: c.configPath, cacheBytes: 0 });
  try {
    const steady: number[] = [];
    const first: number[] = [];
    const listen: number[] = [];
    for (let i = 0; i < 10; i++) {
      const t = performance.now();
      await fs.writeFile(`/b/steady-${i}`, bytesOf(`steady-${i}`, FILE), { createParents: true });
      steady.push(performance.now() - t);
    }
    for (let r = 0; r < ROUNDS; r++) {
      const restarted = r % 2 === 0 ? [2, 3] : [1, 2];
      await Promise.all(restarted.map((id) => c.killData(id, "SIGKILL")));
      for (const id of restarted) c.launchData(id);
      const data = bytesOf(`after-${r}`, FILE);
      const t = performance.now();
      // What bounds the write: when the new processes listen again (polled beside the write).
      const listening = Promise.all(restarted.map((id) => untilListening(c.dataUrls.get(id)!))).then(
        () => performance.now() - t,
      );
      try {
        await fs.writeFile(`/b/after-${r}`, data);
        first.push(performance.now() - t);
        if (!(await fs.readFile(`/b/after-${r}`)).equals(data)) errors.push(`round ${r}: bytes differ`);
      } catch (err) {
        errors.push(`round ${r}: ${(err as Error).message}`);
      }
      listen.push(await listening);
      await c.dataAlive([1, 2, 3], 30_000);
    }
    console.log(
      "\nFirst write after kill -9 + immediate restart of 2 of 3 data nodes (R = 3, 4 × 64 KiB chunks):\n",
    );
    console.log("| write | n | median ms | max ms | × steady median |");
    console.log("|---|---:|---:|---:|---:|");
    const s = median(steady);
    console.log(
      `| steady state | ${steady.length} | ${s.toFixed(0)} | ${Math.max(...steady).toFixed(0)} | 1.0 |`,
    );
    if (first.length > 0)
      console.log(
        `| first after restart | ${first.length}/${ROUNDS} | ${median(first).toFixed(0)} | ${Math.max(...first).toFixed(0)} | ${(median(first) / s).toFixed(1)} |`,
      );
    console.log(
      `| (restarted nodes listening again) | ${listen.length} | ${median(listen).toFixed(0)} | ${Math.max(...listen).toFixed(0)} | ${(median(listen) / s).toFixed(1)} |`,
    );
  } finally {
    await fs.close();
    await c.stop();
  }
}

async function chunkListRows(): Promise<void> {
  const c = await MetaCluster.start({
    replicas: 3,
    dataNodes: 3,
    extra: { inlineThresholdBytes: 4096, garbageGraceMs: 600_000 },
  });
  try {
    const data = bytesOf("big", MIB * 1024 * 1024);
    const rows: { chunk: number; put: number; get: number }[] = [];
    for (const chunk of [4 * 1024 * 1024, SMALL_CHUNK]) {
      // The client may cut smaller chunks than the cluster's bound: one cluster, two chunk sizes.
      const fs = await connect({ config: c.configPath, cacheBytes: 0, chunkSizeBytes: chunk });
      try {
        const path = `/big/${chunk}`;
        let t = performance.now();
        await fs.writeFile(path, data, { createParents: true });
        const put = performance.now() - t;
        t = performance.now();
        const back = await fs.readFile(path);
        const get = performance.now() - t;
        if (!back.equals(data)) errors.push(`${path}: bytes differ`);
        rows.push({ chunk, put, get });
      } catch (err) {
        errors.push(`${MIB} MiB with ${chunk}-byte chunks: ${(err as Error).message}`);
      } finally {
        await fs.close();
      }
    }
    console.log(`\n${MIB} MiB through the library, R = 3 (3 replicas, 3 data nodes):\n`);
    console.log("| chunk size | chunks | put MB/s | get MB/s | put × 4 MiB chunks |");
    console.log("|---:|---:|---:|---:|---:|");
    const base = rows[0];
    for (const r of rows) {
      const mb = (MIB * 1024 * 1024) / 1e6;
      console.log(
        `| ${r.chunk / 1024} KiB | ${Math.ceil((MIB * 1024 * 1024) / r.chunk)} | ${(mb / (r.put / 1000)).toFixed(1)} | ${(mb / (r.get / 1000)).toFixed(1)} | ${base ? (base.put / r.put).toFixed(2) : "-"} |`,
      );
    }
  } finally {
    await c.stop();
  }
}

await restartRows();
await chunkListRows();
if (errors.length > 0) {
  console.error(`\n${errors.length} error(s):\n${errors.join("\n")}`);
  process.exit(1);
}
process.exit(0);
