/**
 * `raftfs ls` of a big directory, streamed page by page: time to the first page on stdout beside the
 * whole listing, for the real CLI as a child process and for the library. A 3-replica cluster on
 * loopback (`raftfs cluster up`), a directory of `--entries` empty files written through the library.
 *
 *   npm run build && npx tsx bench/ls-pages.ts [--entries 100000] [--runs 5]
 *
 * CLI rows are wall-clock from spawn, so they include Node's start and the CLI's (see "CLI start-up"
 * in RESULTS.md): `ls` of a one-entry directory is measured in the same runs, and the first page's own
 * cost is the difference between its first page and that one's first byte, paired by run. Every listing is checked (all names, in order, once); any error fails the run.
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
    entries: { type: "string", default: "100000" },
    runs: { type: "string", default: "5" },
    concurrency: { type: "string", default: "64" },
    "populate-seconds": { type: "string", default: "900" },
  },
});
const ENTRIES = Number(values.entries);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);
const PAGE = 1000;
const CLI = resolve("dist/src/cli/main.js");
const nameOf = (i: number) => `f${String(i).padStart(7, "0")}`;

interface LsRun {
  firstByteMs: number;
  firstPageMs: number;
  exitMs: number;
  lines: string[];
}

/** Spawns `raftfs ls`, timing its first byte, its first PAGE lines and its exit. */
function timeLs(configPath: string, path: string): Promise<LsRun> {
  return new Promise((done, fail) => {
    const t0 = performance.now();
    const child = spawn(process.execPath, [CLI, "ls", path], {
      env: { ...process.env, RAFTFS_CONFIG: configPath },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let newlines = 0;
    let firstByteMs = Number.NaN;
    let firstPageMs = Number.NaN;
    child.stdout.on("data", (b: Buffer) => {
      if (out.length === 0) firstByteMs = performance.now() - t0;
      out.push(b);
      for (const c of b) if (c === 10) newlines++;
      if (Number.isNaN(firstPageMs) && newlines >= PAGE) firstPageMs = performance.now() - t0;
    });
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), 600_000);
    child.once("error", fail);
    child.once("close", (code) => {
      clearTimeout(timer);
      const exitMs = performance.now() - t0;
      if (code !== 0) return fail(new Error(`raftfs ls exited ${code}: ${Buffer.concat(err).toString()}`));
      const lines = Buffer.concat(out).toString().split("\n").slice(0, -1);
      if (Number.isNaN(firstPageMs)) firstPageMs = exitMs; // fewer lines than a page
      done({ firstByteMs, firstPageMs, exitMs, lines });
    });
  });
}

function check(what: string, lines: readonly string[], expected: readonly string[]): void {
  if (lines.length !== expected.length || lines.some((l, i) => l !== expected[i])) {
    const at = lines.findIndex((l, i) => l !== expected[i]);
    throw new Error(
      `${what}: ${lines.length} lines, expected ${expected.length} (first difference at ${at})`,
    );
  }
}

async function populate(client: RaftfsClient): Promise<void> {
  await client.mkdir("/big");
  await client.mkdir("/tiny");
  await client.writeFile("/tiny/only", "");
  const messages = new Map<string, number>();
  const r = await load(CONCURRENCY, ENTRIES, Number(values["populate-seconds"]), async (i) => {
    try {
      // Created out of name order (a fixed permutation: 7919 is coprime with 10^k): a directory
      // filled in name order would flatter any listing that sorts its names.
      await client.writeFile(`/big/${nameOf((i * 7919) % ENTRIES)}`, "");
    } catch (err) {
      const m = String((err as Error).message).slice(0, 160);
      messages.set(m, (messages.get(m) ?? 0) + 1);
      throw err;
    }
  });
  for (const [m, n] of messages) console.error(`populate: ${n} × ${m}`);
  console.error(`populated ${r.ops} entries in ${r.seconds.toFixed(0)} s (${r.opsPerSecond.toFixed(0)}/s)`);
  if (r.errors > 0 || r.ops !== ENTRIES)
    throw new Error(`populate: ${r.ops} of ${ENTRIES}, ${r.errors} errors`);
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-ls-bench-"));
  const meta = [];
  for (let id = 1; id <= 3; id++) meta.push({ id, host: "127.0.0.1", port: await freePort() });
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({ dataDir: join(dir, "data"), secret: "bench-secret-0123", meta, data: [] }),
  );
  const up = spawn(process.execPath, [CLI, "cluster", "up", "--config", configPath], { stdio: "ignore" });
  const client = await connect({ config: configPath });
  try {
    const t0 = performance.now();
    for (;;) {
      try {
        await client.mkdir("/ready");
        break;
      } catch {
        if (performance.now() - t0 > 60_000) throw new Error("no write within 60 s");
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    await populate(client);
    const expected = Array.from({ length: ENTRIES }, (_, i) => nameOf(i));

    const big: LsRun[] = [];
    const tiny: LsRun[] = [];
    const libFirst: number[] = [];
    const libWhole: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      // Interleaved, in alternating order, so both kinds see the same machine load: the one right
      // after a whole listing meets the replicas' garbage collection.
      for (const which of run % 2 ? ["/big", "/tiny"] : ["/tiny", "/big"]) {
        const r = await timeLs(configPath, which);
        if (which === "/tiny") {
          check("ls /tiny", r.lines, ["only"]);
          tiny.push(r);
        } else {
          check("ls /big", r.lines, expected);
          big.push(r);
        }
      }
      let t1 = performance.now();
      const first = await client.listPage("/big");
      libFirst.push(performance.now() - t1);
      check(
        "listPage",
        first.entries.map((e) => e.name),
        expected.slice(0, PAGE),
      );
      t1 = performance.now();
      const names: string[] = [];
      for await (const e of client.list("/big")) names.push(e.name);
      libWhole.push(performance.now() - t1);
      check("list()", names, expected);
    }
    const m = (xs: LsRun[], k: keyof Omit<LsRun, "lines">) => median(xs.map((x) => x[k]));
    const row = (what: string, ms: number, ratio: string) =>
      console.log(`| ${what} | ${ms.toFixed(0)} | ${ratio} |`);
    console.log(`\n${ENTRIES} entries, pages of ${PAGE}, median of ${RUNS} interleaved runs\n`);
    console.log("| measurement | ms | ratio |");
    console.log("|---|---:|---:|");
    const whole = m(big, "exitMs");
    row("CLI `ls /tiny` (1 entry), spawn → first byte (start-up)", m(tiny, "firstByteMs"), "");
    row("CLI `ls /tiny` (1 entry), spawn → exit", m(tiny, "exitMs"), "");
    row("CLI `ls /big`, spawn → first byte", m(big, "firstByteMs"), "");
    row(
      "CLI `ls /big`, spawn → first page (1,000 lines)",
      m(big, "firstPageMs"),
      `${(m(big, "firstPageMs") / whole).toFixed(3)} of whole`,
    );
    row("CLI `ls /big`, spawn → exit (whole listing)", whole, "1");
    // Paired by run (same minute of machine load): what the first page costs beyond start-up.
    const beyond = median(big.map((b, i) => b.firstPageMs - (tiny[i]?.firstByteMs ?? Number.NaN)));
    row("CLI first page beyond start-up (`ls /big` first page − `ls /tiny` first byte)", beyond, "");
    row(
      "library `listPage` (first page)",
      median(libFirst),
      `${(median(libFirst) / median(libWhole)).toFixed(3)} of whole`,
    );
    row("library `list()` (whole listing)", median(libWhole), "1");
    row("library `list()`, per page", median(libWhole) / Math.ceil(ENTRIES / PAGE), "");
  } finally {
    await client.close();
    up.kill("SIGTERM");
    await new Promise((r) => up.once("exit", r));
    rmSync(dir, { recursive: true, force: true });
  }
}

try {
  await main();
} catch (err) {
  console.error(err);
  process.exitCode = 1;
}
