/**
 * The mount under faults (issue 16), driven from child processes only: programs writing through the
 * mount while the metadata leader and a data node are killed -9 finish or fail with an errno, and no
 * file is ever a committed version holding part of what was written; with every replica down a call
 * answers EIO within the mount's deadline, and once the cluster is back the same mount works again.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

let cluster: TestCluster;
let m: TestMount;
let client: RaftfsClient;
let local: string;

beforeAll(async () => {
  // Four data nodes: R = 3 copies stay placeable after one is killed, as HDFS needs R + 1 to lose one.
  cluster = await startCluster({ metaCount: 3, dataCount: 4 });
  client = await connect({ config: cluster.configPath, deadlineMs: 30_000 });
  local = mkdtempSync(join(tmpdir(), "raftfs-mount-faults-"));
  // A short client deadline, so that the outage case answers within seconds.
  m = await TestMount.start(cluster.configPath, ["--deadline", "3000"]);
}, 120_000);

afterAll(async () => {
  await m?.stop();
  await client?.close();
  await cluster?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
}, 60_000);

/** Runs `script` in bash; resolves with its stdout lines once it exits (bounded by `timeoutMs`). */
function run(script: string, onLine: (line: string) => void, timeoutMs: number): Promise<string[]> {
  const child: ChildProcess = spawn("bash", ["-c", script], { stdio: ["ignore", "pipe", "pipe"] });
  const lines: string[] = [];
  let rest = "";
  child.stdout?.on("data", (b: Buffer) => {
    const parts = (rest + b.toString()).split("\n");
    rest = parts.pop() ?? "";
    for (const l of parts) {
      lines.push(l);
      onLine(l);
    }
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
  return new Promise((resolve, reject) => {
    child.on("exit", (code) => {
      clearTimeout(timer);
      if (code === null) reject(new Error(`writer killed after ${timeoutMs} ms: ${lines.join(" | ")}`));
      else resolve(lines);
    });
  });
}

describe("the mount under faults", () => {
  test("kill -9 of the metadata leader and of a data node while cp writes: each file is whole or absent", async () => {
    const src = join(local, "src");
    mkdirSync(src);
    const FILES = 24;
    // Inline (1 KiB) and chunked (300 KiB: five 64 KiB chunks in the test cluster) files, each distinct.
    const content = (i: number) => {
      const b = Buffer.alloc(i % 2 === 0 ? 1024 : 300 * 1024);
      for (let k = 0; k < b.length; k++) b[k] = (k * 31 + i * 7) & 0xff;
      b.writeUInt32BE(i, 0);
      return b;
    };
    for (let i = 0; i < FILES; i++) writeFileSync(join(src, `f${i}`), content(i));
    await fsp.mkdir(join(m.dir, "w"));
    const script = `for i in $(seq 0 ${FILES - 1}); do if cp ${src}/f$i ${m.dir}/w/f$i 2>/dev/null; then echo "ok $i"; else echo "fail $i"; fi; done`;

    let leaderKilled = 0;
    let dataKilled = false;
    const killed: Promise<void>[] = [];
    const lines = await run(
      script,
      (line) => {
        const done = Number(line.split(" ")[1]);
        if (done === 3 && leaderKilled === 0) {
          leaderKilled = -1;
          killed.push(
            cluster.leaderId().then(async (id) => {
              leaderKilled = id;
              await cluster.kill("meta", id);
            }),
          );
        }
        if (done === 11 && !dataKilled) {
          dataKilled = true;
          killed.push(cluster.kill("data", 1));
        }
      },
      300_000,
    );
    await Promise.all(killed);
    expect(lines).toHaveLength(FILES);
    expect(leaderKilled).toBeGreaterThan(0);
    expect(dataKilled).toBe(true);

    // Back to full strength, then judge every file by what the cluster committed.
    cluster.launch("meta", leaderKilled);
    cluster.launch("data", 1);
    for (const line of lines) {
      const [verdict, n] = line.split(" ");
      const i = Number(n);
      const stored = await client.readFile(`/w/f${i}`).catch((e: { code?: string }) => {
        if (e.code === "NOT_FOUND") return null;
        throw e;
      });
      if (verdict === "ok") expect(stored?.equals(content(i)), `f${i} after "ok"`).toBe(true);
      // A failed cp may still have committed (its answer lost): then whole, never a part.
      else if (stored !== null && stored.length > 0)
        expect(stored.equals(content(i)), `f${i} after "fail"`).toBe(true);
    }
    // How many finish is the machine's business (the mount's 3 s deadline here meets elections on a
    // loaded machine); that each one ends, with a whole file or an errno, is the mount's.
  }, 360_000);

  test("with every replica down a call answers EIO within the deadline, and the mount works again after", async () => {
    const ids = cluster.metaIds;
    for (const id of ids) await cluster.kill("meta", id);
    try {
      // The mount's metadata deadline is the client's (3 s here) plus 2 s; a call that hung would
      // instead be killed by run()'s bound and fail the test.
      const res = await run(`mkdir ${m.dir}/during-outage 2>&1; echo "rc=$?"`, () => undefined, 120_000);
      expect(res.join("\n")).toMatch(/Input\/output error[\s\S]*rc=1/);
    } finally {
      for (const id of ids) cluster.launch("meta", id);
    }
    await cluster.leaderId(60_000);
    await waitFor(
      "the mount to work again",
      async () => {
        const out = await run(
          `mkdir -p ${m.dir}/after-outage && echo back > ${m.dir}/after-outage/f && cat ${m.dir}/after-outage/f`,
          () => undefined,
          60_000,
        );
        return out.includes("back") ? true : null;
      },
      90_000,
    );
    expect((await client.readFile("/after-outage/f")).toString()).toBe("back\n");
  }, 240_000);
});
