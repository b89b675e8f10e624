import { PassThrough } from "node:stream";
import { describe, expect, test } from "vitest";
import { remoteTarget } from "../../src/cli/files.js";
import { humanBytes, table } from "../../src/cli/format.js";
import { exitQuietlyOnBrokenPipe, writeOut } from "../../src/cli/io.js";
import { readiness } from "../../src/cli/launcher.js";
import { childExitCode } from "../../src/cli/lock-command.js";
import { renderStatus } from "../../src/cli/status-command.js";
import type { ClusterStatus } from "../../src/common/protocol/index.js";

const status = (over: Partial<ClusterStatus> = {}): ClusterStatus => ({
  leader: 1,
  term: 3,
  meta: [
    {
      id: 1,
      url: "http://127.0.0.1:7101",
      pid: 11,
      role: "leader",
      term: 3,
      commitIndex: 9,
      appliedIndex: 9,
      alive: true,
      member: "voter",
    },
    {
      id: 2,
      url: "http://127.0.0.1:7102",
      pid: null,
      role: null,
      term: null,
      commitIndex: null,
      appliedIndex: null,
      alive: false,
    },
  ],
  data: [
    {
      id: 1,
      url: "http://127.0.0.1:7201",
      zone: "a",
      pid: 21,
      alive: true,
      chunks: 4,
      usedBytes: 5 * 1024 * 1024,
      freeBytes: 2 ** 34,
      capacityBytes: 2 ** 35,
    },
    {
      id: 2,
      url: "http://127.0.0.1:7202",
      zone: "b",
      pid: null,
      alive: false,
      chunks: 0,
      usedBytes: 0,
      freeBytes: 0,
      capacityBytes: 0,
    },
  ],
  underReplicatedChunks: 2,
  corruptChunks: 0,
  ...over,
});

describe("CLI helpers", () => {
  test("human sizes in binary units", () => {
    expect(humanBytes(0)).toBe("0 B");
    expect(humanBytes(1023)).toBe("1023 B");
    expect(humanBytes(1536)).toBe("1.5 KiB");
    expect(humanBytes(4 * 1024 * 1024)).toBe("4.0 MiB");
    expect(humanBytes(300 * 1024 * 1024 * 1024)).toBe("300 GiB");
  });

  test("tables align columns and leave no trailing spaces", () => {
    const lines = table(
      ["A", "BB", "C"],
      [
        ["xxx", "1", "z"],
        ["y", "100", "zz"],
      ],
      { rightAlign: [1] },
    );
    expect(lines).toEqual(["A     BB  C", "xxx    1  z", "y    100  zz"]);
    for (const l of lines) expect(l).toBe(l.trimEnd());
  });

  test("status table: leader line, a row per process, dashes for the unknown, chunk health", () => {
    const text = renderStatus(status()).join("\n");
    expect(text).toMatch(/^leader: meta 1 \(http:\/\/127\.0\.0\.1:7101\) term 3/);
    expect(text).toMatch(/1\s+http:\/\/127\.0\.0\.1:7101\s+11\s+leader\s+voter\s+3\s+9\s+9\s+yes/);
    expect(text).toMatch(/2\s+http:\/\/127\.0\.0\.1:7102\s+-\s+-\s+-\s+-\s+-\s+-\s+no/);
    expect(text).toMatch(/1\s+http:\/\/127\.0\.0\.1:7201\s+a\s+21\s+yes\s+4\s+5\.0 MiB\s+16\.0 GiB/);
    expect(text).toMatch(/under-replicated chunks: 2 {3}corrupt chunks: 0/);
    expect(renderStatus(status({ leader: null }))[0]).toMatch(/^leader: none answered/);
  });

  test("cluster up is ready when a leader sees every data node alive", () => {
    expect(readiness([null, null])).toEqual({ why: "no leader elected" });
    expect(readiness([status({ leader: null })])).toEqual({ why: "no leader elected" });
    expect(readiness([null, status()])).toEqual({ why: "data node(s) 2 not registered with the leader" });
    const ok = status({ data: status().data.map((d) => ({ ...d, alive: true })) });
    // The leader's answer is found wherever it is in the list (followers answer NOT_LEADER: null).
    expect(readiness([null, null, ok])).toEqual({ ready: ok });
  });

  test("a child's exit code as a shell reports it", () => {
    expect(childExitCode(0, null)).toBe(0);
    expect(childExitCode(7, null)).toBe(7);
    expect(childExitCode(null, "SIGINT")).toBe(130);
    expect(childExitCode(null, "SIGKILL")).toBe(137);
  });

  test("put into a folder keeps the local name", () => {
    expect(remoteTarget("./dir/a.txt", "/docs/")).toBe("/docs/a.txt");
    expect(remoteTarget("./a.txt", "/docs/b.txt")).toBe("/docs/b.txt");
    expect(remoteTarget("-", "/docs/")).toBe("/docs/");
  });

  test("writing to a closed stdout rejects with EPIPE (the command then exits quietly)", async () => {
    const out = new PassThrough();
    out.destroy();
    await expect(writeOut(out, "x")).rejects.toMatchObject({ code: "EPIPE" });
  });

  test("an EPIPE error event on stdout exits 0; any other error still surfaces", () => {
    const out = new PassThrough();
    const exits: number[] = [];
    exitQuietlyOnBrokenPipe(out, (c) => exits.push(c));
    out.emit("error", Object.assign(new Error("write EPIPE"), { code: "EPIPE" }));
    expect(exits).toEqual([0]);
    expect(() => out.emit("error", Object.assign(new Error("EIO"), { code: "EIO" }))).toThrow(/EIO/);
  });
});
