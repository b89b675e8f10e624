/**
 * Every file command of the built CLI against a real cluster: outputs (human and --json), exit
 * codes, one-line errors, stdout carrying data only, and a closed pipe.
 */
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { CLI, startCluster, type TestCluster } from "../support/cluster-harness.js";

let cluster: TestCluster;
let local: string;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  local = mkdtempSync(join(tmpdir(), "raftfs-cli-"));
}, 120_000);

afterAll(async () => {
  await cluster?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
}, 60_000);

const ONE_LINE = /^raftfs: [^\n]+ \([A-Z_]+\)\n$/;

describe("raftfs CLI (real cluster)", () => {
  test("mkdir, put, ls, cat, get, stat: data on stdout, summaries on stderr", async () => {
    const c = (args: string[], input?: string | Buffer) =>
      cluster.cli(args, input === undefined ? {} : { input });
    expect(await c(["mkdir", "-p", "/docs/sub"])).toMatchObject({ code: 0, stdout: "" });
    const hello = await c(["put", "-", "/docs/hello.txt"], "hello\n");
    expect(hello).toMatchObject({ code: 0, stdout: "" });
    expect(hello.stderr).toBe("/docs/hello.txt: 6 B, version 1\n");
    const big = randomBytes(300_000);
    writeFileSync(join(local, "big.bin"), big);
    const put = await c(["put", "--json", join(local, "big.bin"), "/docs/"]);
    expect(put.code).toBe(0);
    expect(JSON.parse(put.stdout)).toEqual({ path: "/docs/big.bin", version: 1, sizeBytes: 300_000 });
    expect(put.stderr).toBe("");

    expect((await c(["ls", "/docs"])).stdout).toBe("big.bin\nhello.txt\nsub/\n");
    const long = await c(["ls", "-l", "/docs"]);
    expect(long.stdout.split("\n")[0]).toMatch(/^T\s+SIZE\s+VER\s+MODIFIED\s+NAME$/);
    expect(long.stdout).toMatch(/-\s+293 KiB\s+v1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+big\.bin/);
    expect(long.stdout).toMatch(/d\s+-\s+-\s+.*sub\/$/m);
    const json = JSON.parse((await c(["ls", "--json", "/docs"])).stdout) as {
      name: string;
      type: string;
      version?: number;
    }[];
    expect(json.map((e) => [e.name, e.type, e.version])).toEqual([
      ["big.bin", "file", 1],
      ["hello.txt", "file", 1],
      ["sub", "dir", undefined],
    ]);
    expect((await c(["ls", "/docs/hello.txt"])).stdout).toBe("hello.txt\n");
    expect((await c(["ls"])).stdout).toBe("docs/\n");

    expect(await c(["cat", "/docs/hello.txt"])).toMatchObject({ code: 0, stdout: "hello\n", stderr: "" });
    const toStdout = await c(["get", "/docs/big.bin", "-"]);
    expect(toStdout.code).toBe(0);
    expect(toStdout.stdoutBytes.equals(big)).toBe(true);
    const got = await c(["get", "/docs/big.bin", join(local, "copy.bin")]);
    expect(got).toMatchObject({ code: 0, stdout: "" });
    expect(got.stderr).toMatch(/^\/docs\/big\.bin v1: 293 KiB → .*copy\.bin\n$/);
    expect(readFileSync(join(local, "copy.bin")).equals(big)).toBe(true);
    const sub = mkdtempSync(join(local, "into-"));
    expect((await c(["-q", "get", "/docs/big.bin", sub])).stderr).toBe("");
    expect(readFileSync(join(sub, "big.bin")).equals(big)).toBe(true);

    const stat = JSON.parse((await c(["stat", "--json", "/docs/hello.txt"])).stdout);
    expect(stat).toMatchObject({ path: "/docs/hello.txt", type: "file", version: 1, sizeBytes: 6 });
    const human = (await c(["stat", "/docs/big.bin"])).stdout;
    expect(human).toMatch(
      /^path: +\/docs\/big\.bin\ntype: +file\nversion: +1\nsize: +293 KiB \(300000 bytes\)\n/,
    );
  });

  test("versions, get --version, put --expected-version", async () => {
    const c = (args: string[], input?: string) => cluster.cli(args, input === undefined ? {} : { input });
    await c(["put", "-", "/v.txt"], "first");
    await c(["put", "-q", "-", "/v.txt"], "second");
    const third = await c(["put", "--json", "--expected-version", "2", "-", "/v.txt"], "third");
    expect(JSON.parse(third.stdout)).toMatchObject({ version: 3 });
    const list = JSON.parse((await c(["versions", "--json", "/v.txt"])).stdout) as {
      version: number;
      sizeBytes: number;
    }[];
    expect(list.map((v) => [v.version, v.sizeBytes])).toEqual([
      [1, 5],
      [2, 6],
      [3, 5],
    ]);
    const table = (await c(["versions", "/v.txt"])).stdout.split("\n");
    expect(table[0]).toMatch(/^VERSION\s+SIZE\s+CREATED\s+STORED$/);
    expect(table[1]).toMatch(/^v1\s+5 B\s+\S+ \S+\s+inline$/);
    expect((await c(["get", "/v.txt", "-", "--version", "1"])).stdout).toBe("first");
    expect((await c(["cat", "--version", "2", "/v.txt"])).stdout).toBe("second");
    const stale = await c(["put", "--expected-version", "1", "-", "/v.txt"], "lost update");
    expect(stale.code).toBe(1);
    expect(stale.stderr).toMatch(ONE_LINE);
    expect(stale.stderr).toMatch(/\(VERSION_MISMATCH\)/);
    const gone = await c(["cat", "--version", "9", "/v.txt"]);
    expect(gone.code).toBe(3);
  });

  test("mv, rm and the error exit codes: 3 not found, 4 exists / not empty, 2 usage, 1 other", async () => {
    const c = (args: string[], input?: string) => cluster.cli(args, input === undefined ? {} : { input });
    await c(["mkdir", "-p", "/errs/d"]);
    await c(["put", "-", "/errs/a.txt"], "a");
    expect(await c(["mv", "/errs/a.txt", "/errs/b.txt"])).toMatchObject({ code: 0, stdout: "", stderr: "" });
    const cases: [string[], number, string][] = [
      [["cat", "/errs/a.txt"], 3, "NOT_FOUND"],
      [["stat", "/nowhere"], 3, "NOT_FOUND"],
      [["mkdir", "/errs"], 4, "EXISTS"],
      [["mv", "/errs/b.txt", "/errs/d"], 4, "EXISTS"],
      [["rm", "/errs"], 4, "NOT_EMPTY"],
      [["cat", "/errs"], 1, "IS_A_DIRECTORY"],
      [["ls", "/errs/b.txt/x"], 3, "NOT_FOUND"],
      [["ls", "not/absolute"], 2, "INVALID_PATH"],
      [["put", "-", "/errs/missing/dir/f"], 3, "NOT_FOUND"],
    ];
    for (const [args, code, name] of cases) {
      const r = await c(args, "x");
      expect(r.code, args.join(" ")).toBe(code);
      expect(r.stderr, args.join(" ")).toMatch(ONE_LINE);
      expect(r.stderr).toContain(`(${name})`);
      expect(r.stdout).toBe("");
    }
    expect((await c(["put", "-p", "-", "/errs/missing/dir/f"], "x")).code).toBe(0);
    expect((await c(["rm", "-r", "/errs"])).code).toBe(0);
    expect((await c(["rm", "/errs"])).code).toBe(3);
    expect((await c(["rm", "-f", "/errs"])).code).toBe(0);
    const usage = await c(["rm"]);
    expect(usage.code).toBe(2);
    expect(usage.stderr).toMatch(ONE_LINE);
  });

  test("status: a readable table, and --json with every documented field", async () => {
    const human = await cluster.cli(["status"]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/^leader: meta \d \(http:\/\/127\.0\.0\.1:\d+\) term \d+\n/);
    expect(human.stdout).toMatch(/META\s+URL\s+PID\s+ROLE\s+MEMBER\s+TERM\s+COMMIT\s+APPLIED\s+ALIVE/);
    expect(human.stdout).toMatch(/DATA\s+URL\s+ZONE\s+PID\s+ALIVE\s+CHUNKS\s+USED\s+FREE/);
    expect(human.stdout).toMatch(/under-replicated chunks: \d+ {3}corrupt chunks: \d+/);
    const s = JSON.parse((await cluster.cli(["status", "--json"])).stdout);
    expect(s.leader).toBe(await cluster.leaderId());
    expect(typeof s.term).toBe("number");
    expect(s.meta).toHaveLength(3);
    for (const m of s.meta) {
      expect(Object.keys(m)).toEqual(
        expect.arrayContaining([
          "id",
          "url",
          "pid",
          "role",
          "term",
          "commitIndex",
          "appliedIndex",
          "alive",
          "member",
        ]),
      );
      expect(m.alive).toBe(true);
    }
    expect(s.data).toHaveLength(3);
    for (const d of s.data) {
      expect(Object.keys(d)).toEqual(
        expect.arrayContaining(["id", "url", "pid", "alive", "chunks", "usedBytes", "freeBytes"]),
      );
    }
    expect(typeof s.underReplicatedChunks).toBe("number");
    expect(typeof s.corruptChunks).toBe("number");
  });

  test("a closed stdout pipe exits quietly (cat | head, ls | head)", async () => {
    await cluster.cli(["put", join(local, "big.bin"), "/pipe.bin"]);
    for (let i = 0; i < 20; i++) await cluster.cli(["mkdir", "-p", `/many/d${i}`]);
    for (const cmd of [`cat /pipe.bin | head -c 100`, `ls /many | head -n 1`]) {
      const r = spawnSync(
        "bash",
        ["-c", `set -o pipefail; node ${CLI} ${cmd} >/dev/null 2>${join(local, "err.txt")}`],
        {
          env: { ...process.env, RAFTFS_CONFIG: cluster.configPath },
        },
      );
      expect(r.status, cmd).toBe(0);
      expect(readFileSync(join(local, "err.txt"), "utf8"), cmd).toBe("");
    }
  });

  test("an unreachable cluster: exit 5 with one line, within the deadline", async () => {
    const dead = join(local, "dead.json");
    writeFileSync(dead, JSON.stringify({ meta: [{ id: 1, host: "127.0.0.1", port: 1 }] }));
    const started = Date.now();
    const r = await cluster.cli(["--config", dead, "--deadline", "1500", "ls", "/"]);
    expect(r.code).toBe(5);
    expect(r.stderr).toMatch(ONE_LINE);
    expect(r.stderr).toContain("(UNAVAILABLE)");
    expect(Date.now() - started).toBeLessThan(10_000);
    const status = await cluster.cli(["--config", dead, "status", "--json"]);
    expect(status.code).toBe(5);
    expect(JSON.parse(status.stdout)).toMatchObject({ leader: null, meta: [{ id: 1, alive: false }] });
  });
});
