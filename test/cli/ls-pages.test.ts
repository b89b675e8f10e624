/**
 * `raftfs ls` streams a directory page by page, against one real metadata replica in this process:
 * in-process (`run()` with a recording stdout), each page is on stdout before the next is requested,
 * and a reader that goes away stops the listing; through the built CLI (`npm run build` first), a
 * directory bigger than the server's page comes out whole in every format, `--limit` stops and says
 * where to resume, and `--start-after` resumes there.
 */
import { PassThrough, Readable, Writable } from "node:stream";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { CliIo } from "../../src/cli/io.js";
import { run } from "../../src/cli/program.js";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { LIST_PAGE_MAX } from "../../src/common/protocol/index.js";
import { runCli } from "../support/cluster-harness.js";
import { type OneReplica, startOneReplica } from "../support/one-replica.js";

let server: OneReplica;
let fs: RaftfsClient;
const NAMES = Array.from({ length: LIST_PAGE_MAX + 23 }, (_, i) => `e${String(i).padStart(5, "0")}`);
const isDir = (i: number) => i % 3 === 0;

beforeAll(async () => {
  server = await startOneReplica("ls-pages");
  fs = await connect({ config: server.configPath });
  await fs.mkdir("/many");
  for (let i = 0; i < NAMES.length; i += 32) {
    await Promise.all(
      NAMES.slice(i, i + 32).map((n, j) =>
        isDir(i + j) ? fs.mkdir(`/many/${n}`) : fs.writeFile(`/many/${n}`, "x"),
      ),
    );
  }
}, 60_000);
afterAll(async () => {
  await fs?.close();
  await server?.stop();
}, 30_000);

const shown = (i: number) => (isDir(i) ? `${NAMES[i]}/` : NAMES[i]);

function io(stdout: Writable): { io: CliIo; err: () => string } {
  const stderr = new PassThrough();
  const err: Buffer[] = [];
  stderr.on("data", (b: Buffer) => err.push(b));
  return {
    io: {
      stdout,
      stderr,
      stdin: Readable.from([]),
      env: {},
      stderrIsTTY: false,
      signal: new AbortController().signal,
    },
    err: () => Buffer.concat(err).toString(),
  };
}

describe("raftfs ls in pages", () => {
  test("each page is printed before the next one is requested", async () => {
    const writes: { text: string; listRequests: number }[] = [];
    const before = server.listRequests();
    const stdout = new Writable({
      write(chunk: Buffer, _enc, done) {
        writes.push({ text: chunk.toString(), listRequests: server.listRequests() - before });
        done();
      },
    });
    const m = io(stdout);
    const code = await run(["--config", server.configPath, "ls", "--page-size", "100", "/many"], m.io);
    expect([code, m.err()]).toEqual([0, ""]);
    expect(writes.map((w) => w.text).join("")).toBe(`${NAMES.map((_, i) => shown(i)).join("\n")}\n`);
    const pages = Math.ceil(NAMES.length / 100);
    expect(server.listRequests() - before).toBe(pages);
    // Write k (one per page) happened when k+1 pages had been requested: none ahead of the reader.
    expect(writes.map((w) => w.listRequests)).toEqual(Array.from({ length: pages }, (_, k) => k + 1));
  });

  test("a reader that goes away (ls | head) stops the listing", async () => {
    const before = server.listRequests();
    const stdout = new Writable({
      write(_chunk, _enc, done) {
        done(Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
      },
    });
    stdout.on("error", () => undefined);
    const m = io(stdout);
    await run(["--config", server.configPath, "ls", "--page-size", "10", "/many"], m.io);
    expect(server.listRequests() - before).toBeLessThanOrEqual(2);
  });

  test("the built CLI: a directory over one server page, whole, in every format", async () => {
    const env = { RAFTFS_CONFIG: server.configPath };
    const plain = await runCli(["ls", "/many"], { env });
    expect([plain.code, plain.stderr]).toEqual([0, ""]);
    expect(plain.stdout.split("\n").slice(0, -1)).toEqual(NAMES.map((_, i) => shown(i)));

    const json = await runCli(["ls", "--json", "--page-size", "300", "/many"], { env });
    expect(json.code).toBe(0);
    const entries = JSON.parse(json.stdout) as { name: string; type: string }[];
    expect(entries.map((e) => [e.name, e.type])).toEqual(NAMES.map((n, i) => [n, isDir(i) ? "dir" : "file"]));
    // The streamed array is the text JSON.stringify would have printed for the whole listing.
    expect(json.stdout).toBe(`${JSON.stringify(entries, null, 2)}\n`);
    const empty = await runCli(["ls", "--json", "/many/e00000"], { env });
    expect([empty.code, empty.stdout]).toEqual([0, "[]\n"]);

    const long = await runCli(["ls", "-l", "--page-size", "7", "/many"], { env });
    const lines = long.stdout.split("\n").slice(0, -1);
    expect(lines[0]).toMatch(/^T\s+SIZE\s+VER\s+MODIFIED\s+NAME$/);
    expect(lines.length).toBe(NAMES.length + 1);
    expect(lines[2]).toMatch(/^-\s+1 B\s+v1\s+\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\s+e00001$/);
    // Columns stay aligned across pages: every row's name starts where the header's does.
    const at = lines[0]!.indexOf("NAME");
    expect(lines.every((l, i) => i === 0 || l.slice(at) === shown(i - 1))).toBe(true);
  });

  test("--limit stops and says where to resume; --start-after resumes there", async () => {
    const env = { RAFTFS_CONFIG: server.configPath };
    const head = await runCli(["ls", "--limit", "5", "/many"], { env });
    expect(head.code).toBe(0);
    expect(head.stdout).toBe(`${[0, 1, 2, 3, 4].map(shown).join("\n")}\n`);
    expect(head.stderr).toBe(`raftfs: stopped after 5 entries; more follow: --start-after "e00004"\n`);
    const next = await runCli(
      ["ls", "--limit", "3", "--page-size", "2", "--start-after", "e00004", "/many"],
      { env },
    );
    expect(next.stdout).toBe(`${[5, 6, 7].map(shown).join("\n")}\n`);
    // The whole rest: no note when nothing is left.
    const tail = await runCli(["ls", "--limit", "50", "--start-after", NAMES.at(-3)!, "/many"], { env });
    expect([tail.stdout, tail.stderr]).toEqual([
      `${[-2, -1].map((k) => shown(NAMES.length + k)).join("\n")}\n`,
      "",
    ]);
    for (const bad of [
      ["--page-size", "0"],
      ["--limit", "-1"],
      ["--start-after", "a/b"],
    ]) {
      const r = await runCli(["ls", ...bad, "/many"], { env });
      expect(r.code, bad.join(" ")).toBe(2);
      expect(r.stdout, bad.join(" ")).toBe("");
    }
  });
});
