/**
 * The FUSE mount beside the library and the local disk, in one run: `cp` of a 64 MiB file and of a
 * folder of 1,000 small files onto the mount (a real `raftfs mount` child, unmodified `cp`), the same
 * writes through `connect()` (sequential, as cp does them), the same `cp` on the local disk, and a
 * read of the large file back (`cat` through the mount, a read stream through the library). Rounds
 * interleave the three ways so the machine's noise falls on all; the table gives medians and ratios.
 * Every copy is checked byte for byte (large) or by count and content (small); any error fails.
 *
 *   npm run build && npx tsx bench/mount.ts [--rounds 2] [--files 1000] [--mib 64]
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs, promisify } from "node:util";
import { connect } from "../src/client/index.js";
import { TestMount } from "../test/mount/mount-harness.js";
import { startCluster } from "../test/support/cluster-harness.js";
import { median } from "./support/procs.js";

const sh = promisify(execFile);
const { values } = parseArgs({
  options: {
    rounds: { type: "string", default: "2" },
    files: { type: "string", default: "1000" },
    mib: { type: "string", default: "64" },
  },
});
const ROUNDS = Number(values.rounds);
const FILES = Number(values.files);
const BIG_BYTES = Number(values.mib) * 1024 * 1024;

const local = mkdtempSync(join(tmpdir(), "raftfs-bench-mount-"));
const big = randomBytes(BIG_BYTES);
writeFileSync(join(local, "big.bin"), big);
const smallDir = join(local, "small");
await fsp.mkdir(smallDir);
for (let i = 0; i < FILES; i++)
  await fsp.writeFile(join(smallDir, `f${i}.txt`), `small file ${i}\n`.repeat(64));

// A realistic chunk size (the repo's cluster.config.json): the test harness's 64 KiB chunks make a
// 64 MiB file 1,024 chunks, whose commit exceeds the metadata body limit.
const cluster = await startCluster({
  metaCount: 3,
  dataCount: 3,
  overrides: { chunkSizeBytes: 4 * 1024 * 1024, inlineThresholdBytes: 65536 },
});
const client = await connect({ config: cluster.configPath });
const mount = await TestMount.start(cluster.configPath);
const times = new Map<string, number[]>();
const errors: string[] = [];

async function timed(name: string, fn: () => Promise<void>): Promise<void> {
  const t0 = performance.now();
  try {
    await fn();
  } catch (err) {
    errors.push(`${name}: ${(err as Error).message}`);
    process.stderr.write(`ERROR ${name}: ${(err as Error).message}\n`);
    return;
  }
  const ms = performance.now() - t0;
  if (!times.has(name)) times.set(name, []);
  times.get(name)!.push(ms);
}

async function checkBig(path: string): Promise<void> {
  const back = await client.readFile(path);
  if (!back.equals(big)) throw new Error(`${path}: content differs`);
}

async function checkSmall(dir: string): Promise<void> {
  const names = await client.readdir(dir);
  if (names.length !== FILES) throw new Error(`${dir}: ${names.length} files, not ${FILES}`);
  const f = await client.readFile(`${dir}/f${FILES - 1}.txt`, { encoding: "utf8" });
  if (f !== `small file ${FILES - 1}\n`.repeat(64)) throw new Error(`${dir}: wrong content`);
}

try {
  for (let r = 0; r < ROUNDS; r++) {
    const ways = ["mount", "library", "local"];
    // Rotate the order each round.
    for (let k = 0; k < ways.length; k++) {
      const way = ways[(k + r) % ways.length]!;
      if (way === "mount") {
        await fsp.mkdir(join(mount.dir, `r${r}`));
        await timed("write 64 MiB: mount (cp)", () =>
          sh("cp", [join(local, "big.bin"), join(mount.dir, `r${r}/big.bin`)]).then(() => undefined),
        );
        await checkBig(`/r${r}/big.bin`).catch((e: Error) => errors.push(e.message));
        await timed("write 1,000 small: mount (cp -r)", () =>
          sh("cp", ["-r", smallDir, join(mount.dir, `r${r}/small`)]).then(() => undefined),
        );
        await checkSmall(`/r${r}/small`).catch((e: Error) => errors.push(e.message));
      } else if (way === "library") {
        await timed("write 64 MiB: library", async () => {
          await client.writeFile(
            `/lib${r}/big.bin`,
            createReadStream(join(local, "big.bin"), { highWaterMark: 1 << 20 }),
            { createParents: true },
          );
        });
        await checkBig(`/lib${r}/big.bin`).catch((e: Error) => errors.push(e.message));
        await timed("write 1,000 small: library", async () => {
          await client.mkdir(`/lib${r}/small`, { recursive: true });
          for (let i = 0; i < FILES; i++) {
            await client.writeFile(
              `/lib${r}/small/f${i}.txt`,
              await fsp.readFile(join(smallDir, `f${i}.txt`)),
            );
          }
        });
        await checkSmall(`/lib${r}/small`).catch((e: Error) => errors.push(e.message));
      } else {
        const dst = join(local, `out${r}`);
        await fsp.mkdir(dst);
        await timed("write 64 MiB: local disk (cp)", () =>
          sh("cp", [join(local, "big.bin"), join(dst, "big.bin")]).then(() => undefined),
        );
        await timed("write 1,000 small: local disk (cp -r)", () =>
          sh("cp", ["-r", smallDir, join(dst, "small")]).then(() => undefined),
        );
      }
    }
    // Reads, cold on both sides: fresh random content (chunks are content-addressed, so the same
    // bytes would sit in the writers' caches), written by a client without a cache, then read by the
    // mount and by a new client without a cache.
    const fresh = randomBytes(BIG_BYTES);
    const writer = await connect({ config: cluster.configPath, cacheBytes: 0 });
    await writer.writeFile(`/cold${r}.bin`, fresh);
    await writer.close();
    writeFileSync(join(local, `out${r}/cold.bin`), fresh);
    await timed("read 64 MiB: mount (cat)", () =>
      sh("sh", ["-c", `cat ${join(mount.dir, `cold${r}.bin`)} > /dev/null`]).then(() => undefined),
    );
    await timed("read 64 MiB: library", async () => {
      const cold = await connect({ config: cluster.configPath, cacheBytes: 0 });
      try {
        let n = 0;
        for await (const part of cold.createReadStream(`/cold${r}.bin`)) n += (part as Buffer).byteLength;
        if (n !== BIG_BYTES) throw new Error(`read ${n} bytes`);
      } finally {
        await cold.close();
      }
    });
    await timed("read 64 MiB: local disk (cat)", () =>
      sh("sh", ["-c", `cat ${join(local, `out${r}/cold.bin`)} > /dev/null`]).then(() => undefined),
    );
  }
} finally {
  await mount.stop();
  await client.close();
  await cluster.stop();
  rmSync(local, { recursive: true, force: true });
}

const med = (name: string) => median(times.get(name) ?? [Number.NaN]);
const rows: string[] = [];
for (const [what, mib] of [
  ["write 64 MiB", BIG_BYTES / 2 ** 20],
  ["write 1,000 small", 0],
  ["read 64 MiB", BIG_BYTES / 2 ** 20],
] as const) {
  const m = med(
    `${what}: mount (${what.startsWith("read") ? "cat" : what.includes("small") ? "cp -r" : "cp"})`,
  );
  const l = med(`${what}: library`);
  const d = med(
    `${what}: local disk (${what.startsWith("read") ? "cat" : what.includes("small") ? "cp -r" : "cp"})`,
  );
  const rate = (ms: number) =>
    mib > 0 ? `${(mib / (ms / 1000)).toFixed(1)} MiB/s` : `${((FILES / ms) * 1000).toFixed(0)} files/s`;
  rows.push(
    `| ${what} | ${m.toFixed(0)} (${rate(m)}) | ${l.toFixed(0)} (${rate(l)}) | ${d.toFixed(0)} | ${(l / m).toFixed(2)} | ${(d / m).toFixed(3)} |`,
  );
}
console.log(`rounds ${ROUNDS}, medians in ms; ratios are throughput of the mount relative to the others`);
console.log("| operation | mount ms | library ms | local disk ms | mount / library | mount / local disk |");
console.log("|---|---|---|---|---|---|");
for (const row of rows) console.log(row);
if (errors.length > 0) {
  console.error(`${errors.length} error(s):\n${errors.join("\n")}`);
  process.exit(1);
}
