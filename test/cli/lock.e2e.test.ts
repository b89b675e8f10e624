/**
 * `raftfs lock` from several processes at once, on a cluster that requires client tokens: critical
 * sections never overlap (a shared log with timestamps), later holders get larger tokens, a holder
 * whose lease expired has its commit refused, and the child's exit code comes back.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, type CliResult, startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";

const WRITER = "writer-token-0123456789";
const READER = "reader-token-0123456789";

let cluster: TestCluster;
let work: string;

beforeAll(async () => {
  cluster = await startCluster({
    overrides: {
      tokens: [
        { name: "writer", token: WRITER, role: "write" },
        { name: "reader", token: READER, role: "read" },
      ],
    },
  });
  work = mkdtempSync(join(tmpdir(), "raftfs-lock-"));
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (work) rmSync(work, { recursive: true, force: true });
}, 60_000);

const env = { RAFTFS_TOKEN: WRITER, CLI };
const cli = (args: string[], input?: string) =>
  cluster.cli(args, { env, ...(input === undefined ? {} : { input }) });

/** `raftfs lock` as a separate process, with its pid (to pause it). */
function lockProcess(args: string[]): { pid: number; done: Promise<CliResult> } {
  const child = spawn(process.execPath, [CLI, "lock", ...args], {
    env: { ...process.env, RAFTFS_CONFIG: cluster.configPath, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (b: Buffer) => {
    stdout += b.toString();
  });
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const done = new Promise<CliResult>((resolve) =>
    child.once("close", (code) =>
      resolve({ code: code ?? -1, stdout, stderr, stdoutBytes: Buffer.from(stdout) }),
    ),
  );
  return { pid: child.pid!, done };
}

describe("raftfs lock (real processes)", () => {
  test("three holders at once: the critical sections never overlap; tokens grow; fenced writes pass", async () => {
    const log = join(work, "critical.log");
    // Each child logs its entry and exit with nanosecond timestamps and writes under the lock.
    const script = [
      `echo "start $RAFTFS_LOCK_TOKEN $(date +%s%N)" >> ${log}`,
      `echo "$RAFTFS_LOCK_TOKEN" | node "$CLI" -q put -p --lock-token "$RAFTFS_LOCK_TOKEN" - /crit/holder`,
      "sleep 0.4",
      `echo "end $RAFTFS_LOCK_TOKEN $(date +%s%N)" >> ${log}`,
    ].join(" && ");
    const runs = [1, 2, 3].map(() => lockProcess(["/crit", "--ttl", "3000", "--", "sh", "-c", script]));
    const results = await Promise.all(runs.map((r) => r.done));
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    const events = readFileSync(log, "utf8")
      .trim()
      .split("\n")
      .map((l) => {
        const [kind, token, ns] = l.split(" ");
        return { kind, token: Number(token), at: BigInt(ns!) };
      });
    expect(events).toHaveLength(6);
    // Read in file order: start, end, start, end... each end is the previous start's token.
    for (let i = 0; i < events.length; i += 2) {
      expect(events[i]!.kind).toBe("start");
      expect(events[i + 1]).toMatchObject({ kind: "end", token: events[i]!.token });
      expect(events[i + 1]!.at).toBeGreaterThanOrEqual(events[i]!.at);
      if (i > 0) {
        expect(events[i]!.at).toBeGreaterThanOrEqual(events[i - 1]!.at); // started after the last ended
        expect(events[i]!.token).toBeGreaterThan(events[i - 2]!.token); // a larger fencing token
      }
    }
    const last = events.at(-1)!.token;
    expect((await cli(["cat", "/crit/holder"])).stdout.trim()).toBe(String(last));
    for (const r of results) expect(r.stderr).toMatch(/locked \/crit \(exclusive, token \d+\)/);
  });

  test("a holder paused past its lease loses it: the next holder's token is larger, the stale commit is refused", async () => {
    const tokenFile = join(work, "stale.token");
    const codeFile = join(work, "stale.code");
    const errFile = join(work, "stale.err");
    // The child waits, then tries to write with its (by then stale) token.
    const script =
      `echo $RAFTFS_LOCK_TOKEN > ${tokenFile}; sleep 4; ` +
      `echo late | node "$CLI" put -p --lock-token $RAFTFS_LOCK_TOKEN - /stale/file 2> ${errFile}; echo $? > ${codeFile}`;
    const a = lockProcess(["/stale", "--ttl", "1000", "--", "sh", "-c", script]);
    const tokenA = await waitFor("holder A's token", async () =>
      existsSync(tokenFile) && readFileSync(tokenFile, "utf8").trim() !== ""
        ? Number(readFileSync(tokenFile, "utf8"))
        : null,
    );
    // A stops renewing (a GC pause, a stopped VM): its lease runs out on the leader.
    process.kill(a.pid, "SIGSTOP");
    let b: CliResult | null = null;
    try {
      b = await waitFor(
        "holder B to get the expired lock",
        async () => {
          const r = await cli(["lock", "/stale", "--no-wait", "--", "sh", "-c", "echo $RAFTFS_LOCK_TOKEN"]);
          return r.code === 0 ? r : null;
        },
        20_000,
      );
    } finally {
      process.kill(a.pid, "SIGCONT");
    }
    expect(Number(b.stdout.trim())).toBeGreaterThan(tokenA);
    const resultA = await a.done;
    expect(resultA.code).toBe(0); // the child's own exit code (its last command succeeded)
    expect(readFileSync(codeFile, "utf8").trim()).toBe("1");
    expect(readFileSync(errFile, "utf8")).toMatch(/^raftfs: .* \(STALE_TOKEN\)\n$/);
    expect(resultA.stderr).toMatch(/lost the lock on \/stale/);
    expect((await cli(["stat", "/stale/file"])).code).toBe(3); // nothing was written
  });

  test("--no-wait on a held lock: LOCKED; the child's exit code and signal come back", async () => {
    const marker = join(work, "busy.held");
    const holder = lockProcess(["/busy", "--", "sh", "-c", `touch ${marker}; sleep 3`]);
    await waitFor("the holder to hold the lock", async () => (existsSync(marker) ? true : null));
    const refused = await cli(["lock", "/busy", "--no-wait", "--", "true"]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/\(LOCKED\)\n$/);
    expect((await holder.done).code).toBe(0);
    expect((await cli(["lock", "/busy", "--", "sh", "-c", "exit 7"])).code).toBe(7);
    expect((await cli(["lock", "/busy", "--", "sh", "-c", "kill -TERM $$"])).code).toBe(143);
    const missing = await cli(["lock", "/busy", "--", "no-such-command-raftfs"]);
    expect(missing.code).toBe(3);
    expect(missing.stderr).toMatch(/no-such-command-raftfs: no such file or directory \(ENOENT\)/);
    // Released every time: a fresh holder gets it at once.
    expect((await cli(["lock", "/busy", "--no-wait", "--", "true"])).code).toBe(0);
  });

  test("tokens: none is UNAUTHORIZED, a read token may read but not write; --token works like RAFTFS_TOKEN", async () => {
    const anonymous = await cluster.cli(["ls", "/"], { env: { RAFTFS_TOKEN: "" } });
    expect(anonymous.code).toBe(1);
    expect(anonymous.stderr).toMatch(/\(UNAUTHORIZED\)\n$/);
    const reader = await cluster.cli(["--token", READER, "ls", "/"], { env: { RAFTFS_TOKEN: "" } });
    expect(reader.code).toBe(0);
    const write = await cluster.cli(["--token", READER, "mkdir", "/r"], { env: { RAFTFS_TOKEN: "" } });
    expect(write.code).toBe(1);
    expect(write.stderr).toMatch(/\(FORBIDDEN\)\n$/);
    expect((await cluster.cli(["status", "--json"], { env: { RAFTFS_TOKEN: "" } })).code).toBe(0);
  });
});
