/**
 * The client as a user meets it: time from `raftfs cluster up` (what `npm start` runs after building)
 * to the first acknowledged write, a 1 MiB file read with the chunk cache cold versus warm (and warm in
 * watch mode, where the metadata comes from the cache too), and small
 * files written through the library at 64 in flight (files/s by size; any error fails the run).
 *
 *   npm run build && npx tsx bench/client.ts [--reads 50] [--files 3000] [--seconds 20] \
 *     [--sizes 4096,16384,65536,1048576] [--inline 65536]
 *
 * `--inline` sets the cluster's inlineThresholdBytes (files up to it are committed inside their Raft
 * entry; larger ones go to the data nodes as chunks), to compare thresholds in the same harness.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { connect, type RaftfsClient } from "../src/index.js";
import { freePort, load, median } from "./support/procs.js";

const { values } = parseArgs({
  options: {
    reads: { type: "string", default: "50" },
    files: { type: "string", default: "3000" },
    seconds: { type: "string", default: "20" },
    sizes: { type: "string", default: "4096,16384,65536,1048576" },
    inline: { type: "string" },
    concurrency: { type: "string", default: "64" },
  },
});
const READS = Number(values.reads);
const FILES = Number(values.files);
const SECONDS = Number(values.seconds);
const SIZES = values.sizes.split(",").map(Number);
const CONCURRENCY = Number(values.concurrency);

function sizeLabel(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${bytes / (1024 * 1024)} MiB` : `${bytes / 1024} KiB`;
}

/** Files of each size written at CONCURRENCY in flight, each to a new path; errors are counted by message. */
async function smallFiles(client: RaftfsClient): Promise<{ rows: string[]; errors: number }> {
  const rows: string[] = [];
  let errors = 0;
  for (const size of SIZES) {
    const data = Buffer.alloc(size, size % 251);
    // The big files are bounded by bytes too: 1 MiB × FILES could be gigabytes.
    const count = Math.min(FILES, Math.max(64, Math.floor((512 * 1024 * 1024) / size)));
    const messages = new Map<string, number>();
    const r = await load(CONCURRENCY, count, SECONDS, async (i) => {
      try {
        await client.writeFile(`/small/${size}/f${i}`, data, { createParents: true });
      } catch (err) {
        const m = String((err as Error).message).slice(0, 160);
        messages.set(m, (messages.get(m) ?? 0) + 1);
        throw err;
      }
    });
    for (const [m, n] of messages) console.error(`${sizeLabel(size)}: ${n} × ${m}`);
    errors += r.errors;
    rows.push(
      `| ${sizeLabel(size)} | ${CONCURRENCY} | ${r.ops} | ${r.opsPerSecond.toFixed(0)} | ${((r.opsPerSecond * size) / 1e6).toFixed(1)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.errors} |`,
    );
  }
  return { rows, errors };
}

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
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "bench-secret-0123",
      meta,
      data,
      ...(values.inline !== undefined ? { inlineThresholdBytes: Number(values.inline) } : {}),
    }),
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
    // Watch mode: metadata from the cache the change feed keeps provably fresh, chunks from the chunk
    // cache — a re-read with no round trip at all while the feed's proof is young.
    const watcher = await connect({ config: configPath, metadataCache: "watch" });
    const watchStart = performance.now();
    while (watcher.cacheStats().metaHits === 0) {
      if (performance.now() - watchStart > 30_000) throw new Error("the watch cache never served");
      await watcher.readFile("/mib");
    }
    const cold: number[] = [];
    const warm: number[] = [];
    const cached: number[] = [];
    for (let i = 0; i < READS; i++) {
      const fresh = await connect({ config: configPath, cacheBytes: 0 });
      let t = performance.now();
      await fresh.readFile("/mib");
      cold.push(performance.now() - t);
      await fresh.close();
      t = performance.now();
      await client.readFile("/mib");
      warm.push(performance.now() - t);
      t = performance.now();
      await watcher.readFile("/mib");
      cached.push(performance.now() - t);
    }
    const stats = watcher.cacheStats();
    await watcher.close();
    console.log("| measurement | value |");
    console.log("|---|---:|");
    console.log(
      `| \`raftfs cluster up\` → first acknowledged write | ${(firstWriteMs / 1000).toFixed(2)} s |`,
    );
    console.log(`| read 1 MiB, chunk cache cold (median of ${READS}) | ${median(cold).toFixed(1)} ms |`);
    console.log(`| read 1 MiB, chunk cache warm (median of ${READS}) | ${median(warm).toFixed(1)} ms |`);
    console.log(`| cold ÷ warm | ${(median(cold) / median(warm)).toFixed(1)} |`);
    console.log(
      `| read 1 MiB, watch mode, metadata and chunk cached (median of ${READS}; ${stats.metaHits} metadata hits, ${stats.metaMisses} misses) | ${median(cached).toFixed(2)} ms |`,
    );
    console.log(`| cold ÷ watch-mode cached | ${(median(cold) / median(cached)).toFixed(1)} |`);
    const small = await smallFiles(client);
    console.log(
      `\nsmall files through the library, each to a new path (inline threshold ${client.options.inlineThresholdBytes} B)\n`,
    );
    console.log("| size | in flight | files | files/s | MB/s | p50 ms | p99 ms | errors |");
    console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
    for (const row of small.rows) console.log(row);
    if (small.errors > 0) {
      console.error(`${small.errors} writes failed`);
      process.exitCode = 1;
    }
  } finally {
    await client.close();
    up.kill("SIGTERM");
    await new Promise((r) => up.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
