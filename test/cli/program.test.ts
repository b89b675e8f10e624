/**
 * The command line without a cluster: parsing, usage errors, help, config errors and local-file
 * errors, all through `run()` with in-memory streams.
 */
import { PassThrough, Readable } from "node:stream";
import { describe, expect, test } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { run } from "../../src/cli/program.js";

function memory(env: NodeJS.ProcessEnv = {}) {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on("data", (b: Buffer) => out.push(b));
  stderr.on("data", (b: Buffer) => err.push(b));
  const io: CliIo = {
    stdout,
    stderr,
    stdin: Readable.from([]),
    env,
    stderrIsTTY: false,
    signal: new AbortController().signal,
  };
  return { io, out: () => Buffer.concat(out).toString(), err: () => Buffer.concat(err).toString() };
}

async function cli(args: string[], env: NodeJS.ProcessEnv = {}) {
  const m = memory(env);
  const code = await run(args, m.io);
  return { code, stdout: m.out(), stderr: m.err() };
}

describe("raftfs command line", () => {
  test("--help lists every command on stdout and exits 0", async () => {
    const r = await cli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of [
      "put",
      "get",
      "cat",
      "ls",
      "stat",
      "mkdir",
      "mv",
      "rm",
      "versions",
      "lock",
      "status",
      "meta",
      "data",
      "cluster",
    ]) {
      expect(r.stdout).toMatch(new RegExp(`\\n  ${c} `));
    }
    expect(r.stdout).toMatch(/Exit codes: 0 ok/);
    expect(r.stderr).toBe("");
  });

  test("a subcommand's help, and --version", async () => {
    const lock = await cli(["lock", "--help"]);
    expect(lock.code).toBe(0);
    expect(lock.stdout).toMatch(/--ttl <ms>/);
    expect(lock.stdout).toMatch(/--shared/);
    for (const flag of ["--version", "-V"]) {
      const v = await cli([flag]);
      expect(v.code).toBe(0);
      expect(v.stdout.trim()).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  test("usage errors: one line, exit 2, nothing on stdout", async () => {
    const cases: [string[], RegExp][] = [
      [["ls", "--bogus"], /^raftfs: unknown option '--bogus' \(USAGE\)\n$/],
      [["frobnicate"], /^raftfs: unknown command 'frobnicate' \(USAGE\)\n$/],
      [["put", "onlyone"], /^raftfs: missing required argument 'path' \(USAGE\)\n$/],
      [["lock", "/p"], /^raftfs: missing required argument 'command' \(USAGE\)\n$/],
      [
        ["get", "/x", "-", "--version", "zero"],
        /^raftfs: .*--version <n>.*expected a positive integer.*\(USAGE\)\n$/,
      ],
      [["meta"], /^raftfs: required option '--id <n>' not specified \(USAGE\)\n$/],
      [["put", "a", "/b", "--expected-version", "-1"], /\(USAGE\)\n$/],
    ];
    for (const [args, pattern] of cases) {
      const r = await cli(args);
      expect(r.code, args.join(" ")).toBe(2);
      expect(r.stderr, args.join(" ")).toMatch(pattern);
      expect(r.stdout).toBe("");
    }
  });

  test("no arguments: help on stderr, exit 2", async () => {
    const r = await cli([]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/Usage: raftfs/);
    expect(r.stdout).toBe("");
  });

  test("a missing or invalid config: every problem on one line, exit 2", async () => {
    const r = await cli(["--config", "/nonexistent/raftfs.json", "ls", "/"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(
      /^raftfs: invalid config \/nonexistent\/raftfs\.json: cannot read: .* \(CONFIG\)\n$/,
    );
    const env = await cli(["stat", "/"], { RAFTFS_CONFIG: "/nonexistent/from-env.json" });
    expect(env.stderr).toMatch(/from-env\.json/);
  });

  test("`get --version N` is the file's version, not the program's", async () => {
    const r = await cli(["get", "/x", "-", "--version", "3", "--config", "/nonexistent/v.json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/v\.json/);
    expect(r.stdout).toBe("");
  });

  test("global options work after the subcommand too", async () => {
    const r = await cli(["ls", "/", "--config", "/nonexistent/late.json"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/late\.json/);
  });

  test("a missing local file: exit 3 with the errno; a local directory: exit 1", async () => {
    const r = await cli(["put", "/nonexistent/local.bin", "/x"]);
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("raftfs: /nonexistent/local.bin: no such file or directory (ENOENT)\n");
    const d = await cli(["put", "/tmp", "/x"]);
    expect(d.code).toBe(1);
    expect(d.stderr).toBe("raftfs: /tmp: is a directory (EISDIR)\n");
  });

  test("a relative remote path is refused before anything is sent", async () => {
    const r = await cli(["--config", "cluster.config.json", "ls", "relative/path"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('raftfs: invalid path "relative/path": must start with / (INVALID_PATH)\n');
  });
});
