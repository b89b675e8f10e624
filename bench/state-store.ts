/**
 * The file-system state on disk (issue 15) beside the state in the heap: `count` commits of 1 KiB inline
 * files (1,000 per directory, one session) applied to FsState, each variant in its own child process so
 * RSS is its own. Prints RSS, commits/s over the first and the last 100k (or tenth, when fewer), and for
 * the LevelDB store the time to reopen (open the directory, read the meta record and the bounded tables,
 * stat one file) — no replay, no load.
 *
 *   level   FsState over LevelStore (classic-level, getSync behind an LRU cache, group batches synced)
 *   memory  FsState over the in-memory MemoryStore (same key layout, in the heap)
 *   old     FsState as it was before issue 15 (a Map of paths; pass --old <its src/meta/state/index.ts>,
 *           e.g. from `git archive e9362ed src | tar -x -C /tmp/raftfs-old`)
 *
 *   npx tsx bench/state-store.ts [--count 1000000] [--variants level,memory,old] [--old PATH] [--max-seconds 900]
 *
 * Every loop is bounded by count and by time; a variant that hits the time bound reports how far it got.
 * Any failed commit is printed and fails the run.
 */
import { spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setImmediate as yieldToEventLoop } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { FsState, type LogEntry } from "../src/meta/state/index.js";
import { LevelStore } from "../src/meta/store/level-store.js";

const { values } = parseArgs({
  options: {
    count: { type: "string", default: "1000000" },
    variants: { type: "string", default: "level,memory,old" },
    variant: { type: "string" },
    old: { type: "string", default: "/tmp/raftfs-old/src/meta/state/index.ts" },
    "max-seconds": { type: "string", default: "900" },
  },
});
const COUNT = Number(values.count);
const MAX_MS = Number(values["max-seconds"]) * 1000;
const WINDOW = Math.min(100_000, Math.max(1, Math.floor(COUNT / 10)));
const OPTS = { versionsRetained: 3, sessionTimeoutMs: 3_600_000 };

interface Applier {
  apply(e: LogEntry): { ok: boolean; error?: unknown };
}

interface Row {
  variant: string;
  commits: number;
  rssMiB: number;
  heapMiB: number;
  firstPerSec: number;
  lastPerSec: number;
  reopenMs?: number;
  errors: number;
}

async function drive(
  fs: Applier,
  wait: () => Promise<void>,
): Promise<Omit<Row, "variant" | "rssMiB" | "heapMiB">> {
  const content = { kind: "inline", data: new Uint8Array(1024).fill(7) };
  let index = 1;
  const open = fs.apply({
    index,
    timestampMs: 1,
    command: { type: "openSession", secretHash: "a".repeat(64) } as never,
  });
  if (!open.ok) throw new Error(`openSession failed: ${JSON.stringify(open.error)}`);
  const session = index;
  const start = performance.now();
  let windowStart = start;
  let firstPerSec = 0;
  let lastPerSec = 0;
  let errors = 0;
  let i = 0;
  for (; i < COUNT && performance.now() - start < MAX_MS; i++) {
    index++;
    const seq = i + 1;
    const r = fs.apply({
      index,
      timestampMs: 1 + i,
      command: {
        type: "commit",
        path: `/d${Math.floor(i / 1000)}/f${i % 1000}`,
        content,
        createParents: true,
        session: { id: session, seq, ackedSeq: seq - 1, secretHash: "a".repeat(64) },
      } as never,
    });
    if (!r.ok) {
      errors++;
      if (errors <= 5) console.error(`commit ${i} failed: ${JSON.stringify(r.error)}`);
    }
    // Like the Raft driver between batches: let the store's writes complete.
    if ((i + 1) % 1000 === 0) await wait();
    if ((i + 1) % WINDOW === 0) {
      const now = performance.now();
      const perSec = (WINDOW * 1000) / (now - windowStart);
      if (i + 1 === WINDOW) firstPerSec = perSec;
      lastPerSec = perSec;
      windowStart = now;
    }
  }
  return { commits: i, firstPerSec, lastPerSec, errors };
}

async function runVariant(variant: string): Promise<Row> {
  let reopenMs: number | undefined;
  let result: Omit<Row, "variant" | "rssMiB" | "heapMiB">;
  let keep: unknown;
  if (variant === "level") {
    const dir = await mkdtemp(join(tmpdir(), "raftfs-bench-state-"));
    try {
      const path = join(dir, "state");
      const store = await LevelStore.open(path);
      const fs = new FsState(OPTS, store);
      store.beforeBatch = () => fs.tablesWrite();
      result = await drive(fs, async () => {
        await yieldToEventLoop();
        if (store.mustWait) await store.flushed();
      });
      await store.close();
      const t0 = performance.now();
      const again = await LevelStore.open(path);
      const reopened = new FsState(OPTS, again);
      reopened.stat("/d0/f0");
      reopenMs = performance.now() - t0;
      if (reopened.lastAppliedIndex !== result.commits + 1) throw new Error("reopened at the wrong index");
      await again.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  } else if (variant === "memory") {
    const fs = new FsState(OPTS);
    keep = fs;
    result = await drive(fs, () => yieldToEventLoop());
  } else {
    const mod = (await import(values.old)) as { FsState: new (o: typeof OPTS) => Applier };
    const fs = new mod.FsState(OPTS);
    keep = fs;
    result = await drive(fs, () => yieldToEventLoop());
  }
  // After a GC, so RSS shows what the state holds rather than garbage not yet collected.
  (globalThis as { gc?: () => void }).gc?.();
  const mem = process.memoryUsage();
  void keep;
  return { variant, ...result, rssMiB: mem.rss / 2 ** 20, heapMiB: mem.heapUsed / 2 ** 20, reopenMs };
}

if (values.variant !== undefined) {
  const row = await runVariant(values.variant);
  console.log(JSON.stringify(row));
} else {
  const rows: Row[] = [];
  let failed = false;
  for (const v of values.variants.split(",")) {
    const child = spawnSync(
      process.execPath,
      [
        ...process.execArgv,
        "--expose-gc",
        "--max-old-space-size=8192",
        fileURLToPath(import.meta.url),
        "--variant",
        v,
        "--count",
        String(COUNT),
        "--old",
        values.old,
        "--max-seconds",
        String(MAX_MS / 1000),
      ],
      { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], maxBuffer: 1 << 20 },
    );
    const line = child.stdout.trim().split("\n").pop() ?? "";
    if (child.status !== 0 || !line.startsWith("{")) {
      console.error(`variant ${v} failed (exit ${child.status}): ${child.stdout}`);
      failed = true;
      continue;
    }
    rows.push(JSON.parse(line) as Row);
  }
  const level = rows.find((r) => r.variant === "level");
  console.log(`${COUNT} commits of 1 KiB inline files; windows of ${WINDOW}`);
  console.log(
    "| variant | commits | RSS MiB | heap MiB | first window/s | last window/s | last ÷ first | RSS ÷ level | reopen ms | errors |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.variant} | ${r.commits} | ${r.rssMiB.toFixed(0)} | ${r.heapMiB.toFixed(0)} | ${r.firstPerSec.toFixed(0)} | ${r.lastPerSec.toFixed(0)} | ${(r.lastPerSec / r.firstPerSec).toFixed(2)} | ${level ? (r.rssMiB / level.rssMiB).toFixed(2) : "-"} | ${r.reopenMs?.toFixed(0) ?? "-"} | ${r.errors} |`,
    );
    if (r.errors > 0) failed = true;
  }
  if (failed) process.exit(1);
}
