/**
 * A file written in order through the mount is uploaded while it is written (src/mount/stream-upload.ts):
 * its chunks reach the data nodes before close, yet nothing is visible before close (close-to-open),
 * and the close commits exactly the bytes written. Writes that leave the order (a seek back) fall back
 * to the local copy, and so does an fsync half-way followed by more writes: the content is still
 * exact. Only a python child writes through the mount; the test reads through the library.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { isDfsError } from "../../src/common/errors.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

let cluster: TestCluster;
let client: RaftfsClient;
let m: TestMount;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  client = await connect({ config: cluster.configPath, deadlineMs: 20_000 });
  m = await TestMount.start(cluster.configPath);
}, 120_000);

afterAll(async () => {
  await m?.stop();
  await client?.close();
  await cluster?.stop();
}, 60_000);

/**
 * A writer child: `steps` is a python list of (offset, length, byte, fsync) writes; it prints
 * "written" after them and closes the file when its stdin gets a line.
 */
function writer(path: string, steps: [number, number, number, boolean][]): ChildProcess {
  const code = `
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
for off, n, b, sync in ${JSON.stringify(steps).replace(/true/g, "True").replace(/false/g, "False")}:
    os.pwrite(fd, bytes([b]) * n, off)
    if sync: os.fsync(fd)
print("written", flush=True)
sys.stdin.readline()
os.close(fd)
print("closed", flush=True)
`;
  return spawn("python3", ["-c", code, path], { stdio: ["pipe", "pipe", "inherit"] });
}

function untilLine(child: ChildProcess, line: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (b: Buffer) => {
      out += b.toString();
      if (out.split("\n").includes(line)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`writer exited ${code} before "${line}"`)));
  });
}

/** The content `steps` leave, as the test's own model of the file. */
function expected(steps: [number, number, number, boolean][]): Buffer {
  const size = Math.max(0, ...steps.map(([o, n]) => o + n));
  const out = Buffer.alloc(size);
  for (const [o, n, b] of steps) out.fill(b, o, o + n);
  return out;
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");
const MIB = 1024 * 1024;
/** The harness cluster's chunk size. */
const CHUNK = 64 * 1024;
const chunkWrites = async () => {
  let sum = 0;
  for (const id of cluster.dataIds) sum += await cluster.dataMetric(id, "raftfs_data_chunk_writes_total");
  return sum;
};

describe("a file written in order is uploaded while it is written", () => {
  test("chunks are stored before close, nothing is visible before it, and close commits the bytes", async () => {
    // Each 64 KiB chunk its own byte: the library stores equal chunks of one file once, so chunks of
    // one repeated byte would make far fewer stores than the file has chunks.
    const steps: [number, number, number, boolean][] = [];
    for (let i = 0; i < 128; i++) steps.push([i * CHUNK, CHUNK, i + 1, false]);
    const before = await chunkWrites();
    const child = writer(join(m.dir, "inorder.bin"), steps);
    try {
      await untilLine(child, "written");
      // 8 MiB of 64 KiB chunks, 3 replicas each: most are stored while the file is still open.
      await waitFor(
        "chunks stored before close",
        async () => ((await chunkWrites()) - before >= 3 * 64 ? true : null),
        30_000,
      );
      await expect(client.stat("/inorder.bin")).rejects.toSatisfy((e) => isDfsError(e, "NOT_FOUND"));
      const closed = untilLine(child, "closed");
      child.stdin?.write("\n");
      await closed;
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    expect(sha(await client.readFile("/inorder.bin"))).toBe(sha(expected(steps)));
  }, 120_000);

  test("a seek back, and an fsync followed by more writes, still commit exactly the bytes written", async () => {
    const cases: [string, [number, number, number, boolean][]][] = [
      [
        "seek-back.bin",
        [
          [0, 3 * MIB, 1, false],
          [3 * MIB, MIB, 2, false],
          [MIB + 5, 1000, 3, false],
          [4 * MIB, MIB, 4, false],
        ],
      ],
      [
        "fsync-then-more.bin",
        [
          [0, 2 * MIB, 5, false],
          [2 * MIB, MIB + 7, 6, true],
          [3 * MIB + 7, 2 * MIB, 7, false],
        ],
      ],
    ];
    for (const [name, steps] of cases) {
      const child = writer(join(m.dir, name), steps);
      await untilLine(child, "written");
      const closed = untilLine(child, "closed");
      child.stdin?.write("\n");
      await closed;
      expect(sha(await client.readFile(`/${name}`)), name).toBe(sha(expected(steps)));
    }
  }, 120_000);
});
