/**
 * The client as a user meets it: time from `raftfs cluster up` (what `npm start` runs after building)
 * to the first acknowledged write, and a 1 MiB file read with the chunk cache cold versus warm.
 *
 *   npm run build && npx tsx bench/client.ts [--reads 50]
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "../src/index.js";
import { freePort, median } from "./support/procs.js";

const { values } = parseArgs({ options: { reads: { type: "string", default: "50" } } });
const READS = Number(values.reads);

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-client-bench-"));
  const meta = [];
  const data = [];
  for (let id = 1; id <= 3; id++) meta.push({ id, host: "127.0.0.1", port: await freePort() });
  for (let id = 1; id <= 3; id++)
    data.push({ id, host: "127.0.0.1", port: await freePort(), zone: `z${id}` });
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({ dataDir: join(dir, "data"), secret: "bench-secret-0123", meta, data }),
  );

  const t0 = performance.now();
  const up = spawn(
    process.execPath,
    [resolve("dist/src/cli/main.js"), "cluster", "up", "--config", configPath],
    {
      stdio: "ignore",
    },
  );
  const client = await connect({ config: configPath });
  let firstWriteMs = Number.NaN;
  try {
    for (;;) {
      try {
        await client.writeFile("/first", "hello");
        firstWriteMs = performance.now() - t0;
        break;
      } catch {
        if (performance.now() - t0 > 60_000) throw new Error("no write within 60 s");
        await new Promise((r) => setTimeout(r, 50));
      }
    }
    const mib = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < mib.length; i += 4) mib.writeUInt32LE((i * 2654435761) >>> 0, i);
    // Above the inline threshold: a chunked file, whose chunk the cache can keep.
    await client.writeFile("/mib", Buffer.concat([mib, Buffer.alloc(1)]));
    const cold: number[] = [];
    const warm: number[] = [];
    for (let i = 0; i < READS; i++) {
      const fresh = await connect({ config: configPath, cacheBytes: 0 });
      let t = performance.now();
      await fresh.readFile("/mib");
      cold.push(performance.now() - t);
      await fresh.close();
      t = performance.now();
      await client.readFile("/mib");
      warm.push(performance.now() - t);
    }
    console.log("| measurement | value |");
    console.log("|---|---:|");
    console.log(
      `| \`raftfs cluster up\` → first acknowledged write | ${(firstWriteMs / 1000).toFixed(2)} s |`,
    );
    console.log(`| read 1 MiB, chunk cache cold (median of ${READS}) | ${median(cold).toFixed(1)} ms |`);
    console.log(`| read 1 MiB, chunk cache warm (median of ${READS}) | ${median(warm).toFixed(1)} ms |`);
    console.log(`| cold ÷ warm | ${(median(cold) / median(warm)).toFixed(1)} |`);
  } finally {
    await client.close();
    up.kill("SIGTERM");
    await new Promise((r) => up.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
