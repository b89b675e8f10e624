/**
 * The FUSE mount beside the library and the local disk, in one run: `cp` of a 64 MiB file and of a
 * folder of 1,000 small files onto the mount (a real `raftfs mount` child, unmodified `cp`), the same
 * writes through `connect()` (sequential, as cp does them), the same `cp` on the local disk, and a
 * read of the large file back (`cat` through the mount, a read stream through the library). Rounds
 * interleave the three ways so the machine's noise falls on all; the table gives medians and ratios.
 * Every copy is checked byte for byte (large) or by count and content (small); any error fails.
 *
 * `--targets` runs the issue's targets instead, all through child processes on the mount: `dd bs=1M`
 * write and read of one `--large` MiB file beside the library's put/get of the same size (sha256 on
 * both sides), `tar x` of `--files` small files beside the library writing the same files (every
 * file checked), and `ls -l` of that directory on a fresh mount (cold) and again (warm).
 *
 *   npm run build && npx tsx bench/mount.ts [--rounds 2] [--files 1000] [--mib 64]
 *   npm run build && npx tsx bench/mount.ts --targets [--rounds 1] [--files 10000] [--large 256]
 *       [--only dd,tar,ls] [--old-cli DIR/dist/src/cli/main.js] [--profile DIR]
 *
 * `--only` picks the targets (without `tar`, the tree that `ls -l` lists is written through the
 * library); `--old-cli` runs the `dd` read, `tar x` and `ls -l` again on mounts of an earlier build,
 * in the same run, for a before/after ratio; `--profile DIR` runs the mount with `--cpu-prof` into DIR.
 */
import { execFile } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
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
    targets: { type: "boolean", default: false },
    large: { type: "string", default: "256" },
    only: { type: "string", default: "dd,tar,ls" },
    "old-cli": { type: "string" },
    profile: { type: "string" },
  },
});
if (values.targets) process.exit(await runTargets(Number(values.large) * 1024 * 1024));
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

/**
 * The issue's targets. Mount and library alternate within each round (order rotated per round); the
 * bench process never touches the mount itself, only `dd`, `tar`, `ls` and `sh` children do.
 * Returns the process exit code (1 on any error or failed check).
 */
async function runTargets(largeBytes: number): Promise<number> {
  const rounds = Number(values.rounds);
  const n = Number(values.files);
  const mib = largeBytes / 2 ** 20;
  const work = mkdtempSync(join(tmpdir(), "raftfs-bench-mount-"));
  // Every child and library loop stops after 10 minutes (an error, not a number).
  const LIMIT = { timeout: 600_000, maxBuffer: 1 << 28 };
  const body = (i: number) => `small file ${i}\n`.repeat(64);
  const tree = join(work, "tree");
  await fsp.mkdir(tree);
  for (let i = 0; i < n; i++) await fsp.writeFile(join(tree, `f${i}.txt`), body(i));
  await sh("tar", ["cf", join(work, "tree.tar"), "-C", tree, "."], LIMIT);
  const only = new Set(String(values.only).split(","));
  const oldCli = values["old-cli"];
  const cluster = await startCluster({
    metaCount: 3,
    dataCount: 3,
    overrides: { chunkSizeBytes: 4 * 1024 * 1024, inlineThresholdBytes: 65536 },
  });
  const client = await connect({ config: cluster.configPath });
  // The mount is a child running the built CLI; with --profile, under --cpu-prof.
  const startMount = (cli?: string) =>
    values.profile
      ? TestMount.startProfiled(cluster.configPath, values.profile, cli)
      : TestMount.start(cluster.configPath, [], undefined, cli);
  let mount = await startMount();
  // Each mount's request counts (its log's last line) go to stderr when it stops, after the first
  // lines of its log that tell why a call failed (a deadline, a failed upload or commit).
  const mountReport = (log: string, label: string) => {
    const lines = log.split("\n");
    for (const l of lines.filter((x) => /unanswered|failed|not committed/.test(x)).slice(0, 5))
      process.stderr.write(`${label}${l}\n`);
    const line = lines.find((l) => l.includes("requests served"));
    if (line) process.stderr.write(`${label}${line}\n`);
  };
  const stopMount = async () => {
    await mount.stop();
    mountReport(mount.log, "");
  };
  /** With --old-cli, `fn` on a fresh mount of the earlier build (its request counts to stderr). */
  const onOldMount = async (fn: (dir: string) => Promise<void>) => {
    const old = await TestMount.start(cluster.configPath, [], undefined, oldCli);
    try {
      await fn(old.dir);
    } finally {
      await old.stop();
      mountReport(old.log, "old build: ");
    }
  };
  /** The ways of round `r`, with the earlier build's mount beside this build's, first every other round. */
  const withOld = (order: string[], r: number) =>
    oldCli === undefined
      ? order
      : order.flatMap((w) => (w !== "mount" ? [w] : r % 2 === 0 ? ["mount", "old"] : ["old", "mount"]));
  const t = new Map<string, number[]>();
  const errs: string[] = [];
  const step = async (name: string, fn: () => Promise<void>, check?: () => Promise<void>) => {
    const t0 = performance.now();
    try {
      await fn();
      const ms = performance.now() - t0;
      if (check) await check();
      if (!t.has(name)) t.set(name, []);
      t.get(name)!.push(ms);
      process.stderr.write(`${name}: ${ms.toFixed(0)} ms\n`);
    } catch (err) {
      errs.push(`${name}: ${(err as Error).message}`);
      process.stderr.write(`ERROR ${name}: ${(err as Error).message}\n`);
    }
  };
  const libSha = async (path: string) => {
    const fresh = await connect({ config: cluster.configPath, cacheBytes: 0 });
    try {
      const h = createHash("sha256");
      for await (const part of fresh.createReadStream(path)) h.update(part as Buffer);
      return h.digest("hex");
    } finally {
      await fresh.close();
    }
  };
  const shaIs = (what: string, want: string, got: string) => {
    if (got !== want) throw new Error(`${what}: sha256 ${got.slice(0, 12)} differs`);
  };
  /** The tree `ls -l` lists, written through the library when `tar` is not measured. */
  const writeTree = async (dir: string) => {
    await client.mkdir(dir, { recursive: true });
    for (let i = 0; i < n; i += 32) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 32); j++) batch.push(client.writeFile(`${dir}/f${j}.txt`, body(j)));
      await Promise.all(batch);
    }
  };
  const checkTree = async (dir: string) => {
    const names = await client.readdir(dir);
    if (names.length !== n) throw new Error(`${dir}: ${names.length} entries, not ${n}`);
    for (let i = 0; i < n; i += 16) {
      const batch = [];
      for (let j = i; j < Math.min(n, i + 16); j++) {
        batch.push(
          client.readFile(`${dir}/f${j}.txt`, { encoding: "utf8" }).then((got) => {
            if (got !== body(j)) throw new Error(`${dir}/f${j}.txt: wrong content`);
          }),
        );
      }
      await Promise.all(batch);
    }
  };
  const W = `write ${mib} MiB`;
  const R = `read ${mib} MiB`;
  const X = `${n} small files`;
  try {
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? ["mount", "library"] : ["library", "mount"];
      // Fresh, different bytes for each way and round: chunks are content-addressed, so equal bytes
      // could let the second writer find its chunks already stored.
      const sha: Record<string, string> = {};
      for (const way of order) {
        const bytes = randomBytes(largeBytes);
        sha[way] = createHash("sha256").update(bytes).digest("hex");
        writeFileSync(join(work, `${way}.bin`), bytes);
      }
      await sh("mkdir", ["-p", join(mount.dir, `m${r}/tree`)], LIMIT);
      await client.mkdir(`/l${r}/tree`, { recursive: true });
      for (const way of only.has("dd") ? order : []) {
        if (way === "mount")
          await step(
            `${W}: mount (dd)`,
            () =>
              sh(
                "dd",
                [
                  `if=${join(work, "mount.bin")}`,
                  `of=${join(mount.dir, `m${r}/big.bin`)}`,
                  "bs=1M",
                  "status=none",
                ],
                LIMIT,
              ).then(() => undefined),
            async () => shaIs("mount write", sha.mount!, await libSha(`/m${r}/big.bin`)),
          );
        else
          await step(
            `${W}: library`,
            () =>
              client
                .writeFile(
                  `/l${r}/big.bin`,
                  createReadStream(join(work, "library.bin"), { highWaterMark: 1 << 20 }),
                )
                .then(() => undefined),
            async () => shaIs("library write", sha.library!, await libSha(`/l${r}/big.bin`)),
          );
      }
      // Each way reads the file the other wrote: the mount process never held it, and the library
      // reads through a new client without a cache; both hash what they read. With --old-cli, a
      // fresh mount of the earlier build reads the same file too.
      const ddRead = (dir: string, tool: string) => {
        let got = "";
        return step(
          `${R}: mount (${tool})`,
          async () => {
            const file = join(dir, `l${r}/big.bin`);
            const { stdout } = await sh(
              "sh",
              ["-c", 'dd if="$1" bs=1M status=none | sha256sum', "sh", file],
              LIMIT,
            );
            got = stdout.split(" ")[0]!;
          },
          async () => shaIs(`mount read (${tool})`, sha.library!, got),
        );
      };
      for (const way of only.has("dd") ? withOld(order, r) : []) {
        let got = "";
        if (way === "mount") await ddRead(mount.dir, "dd");
        else if (way === "old") await onOldMount((dir) => ddRead(dir, "dd, old build"));
        else
          await step(
            `${R}: library`,
            async () => {
              got = await libSha(`/m${r}/big.bin`);
            },
            async () => shaIs("library read", sha.mount!, got),
          );
      }
      if (!only.has("tar") && only.has("ls")) await writeTree(`/m${r}/tree`);
      const tarX = (dir: string, top: string, tool: string) =>
        step(
          `${X}: mount (${tool})`,
          async () => {
            await sh("mkdir", ["-p", join(dir, `${top}/tree`)], LIMIT);
            await sh("tar", ["xf", join(work, "tree.tar"), "-C", join(dir, `${top}/tree`)], LIMIT);
          },
          () => checkTree(`/${top}/tree`),
        );
      for (const way of only.has("tar") ? withOld(order, r) : []) {
        if (way === "mount") await tarX(mount.dir, `m${r}`, "tar x");
        else if (way === "old") await onOldMount((dir) => tarX(dir, `o${r}`, "tar x, old build"));
        else
          await step(
            `${X}: library`,
            async () => {
              const until = performance.now() + LIMIT.timeout;
              for (let i = 0; i < n; i++) {
                if (performance.now() > until) throw new Error(`timed out after ${i} files`);
                await client.writeFile(`/l${r}/tree/f${i}.txt`, await fsp.readFile(join(tree, `f${i}.txt`)));
              }
            },
            () => checkTree(`/l${r}/tree`),
          );
      }
      // ls -l: cold on a fresh mount process (no attribute or entry cache), then warm at once; with
      // --old-cli, the same on a mount of the earlier build (order rotated per round).
      const builds = oldCli === undefined ? ["this"] : r % 2 === 0 ? ["this", "old"] : ["old", "this"];
      for (const build of only.has("ls") ? builds : []) {
        await stopMount();
        mount = await startMount(build === "old" ? oldCli : undefined);
        for (const temp of ["cold", "warm"]) {
          let lines = 0;
          await step(
            `ls -l ${n}: ${temp}${build === "old" ? " (old build)" : ""}`,
            async () => {
              const { stdout } = await sh("ls", ["-l", join(mount.dir, `m${r}/tree`)], LIMIT);
              lines = stdout.trimEnd().split("\n").length;
            },
            async () => {
              if (lines !== n + 1) throw new Error(`ls -l listed ${lines - 1} entries, not ${n}`);
            },
          );
        }
      }
    }
  } finally {
    await stopMount();
    await client.close();
    await cluster.stop();
    rmSync(work, { recursive: true, force: true });
  }
  const m = (k: string) => median(t.get(k) ?? [Number.NaN]);
  console.log(`rounds ${rounds}, medians in ms; ratio = mount throughput / library throughput`);
  console.log("| operation | mount ms | library ms | mount / library |");
  console.log("|---|---|---|---|");
  const mibRate = (ms: number) => `${(mib / (ms / 1000)).toFixed(1)} MiB/s`;
  const fileRate = (ms: number) => `${((n / ms) * 1000).toFixed(0)} files/s`;
  for (const [what, tool, rate] of [
    [W, "dd", mibRate],
    [R, "dd", mibRate],
    [R, "dd, old build", mibRate],
    [X, "tar x", fileRate],
    [X, "tar x, old build", fileRate],
  ] as const) {
    const a = m(`${what}: mount (${tool})`);
    const b = m(`${what}: library`);
    if (Number.isNaN(a) && Number.isNaN(b)) continue; // not run (--only)
    console.log(
      `| ${what} (${tool}) | ${a.toFixed(0)} (${rate(a)}) | ${b.toFixed(0)} (${rate(b)}) | ${(b / a).toFixed(2)} |`,
    );
  }
  for (const build of !only.has("ls") ? [] : oldCli === undefined ? [""] : ["", " (old build)"])
    console.log(
      `| ls -l of ${n} entries${build}, cold / warm | ${m(`ls -l ${n}: cold${build}`).toFixed(0)} / ${m(`ls -l ${n}: warm${build}`).toFixed(0)} | | |`,
    );
  if (errs.length > 0) console.error(`${errs.length} error(s):\n${errs.join("\n")}`);
  return errs.length > 0 ? 1 : 0;
}
