/**
 * Close-to-open against the change feed: a second client (the library, in this test process) commits
 * a new version of a file, and at once a program on the mount opens it. The open must see that
 * version whole, size included, even when the feed's notice for the commit has not reached the mount
 * yet: the kernel then still holds the old size, and reads only up to it. Each round, a program on
 * the mount stats the file (as `ls -l` would: the kernel caches its attributes), another client
 * commits, and the program opens and reads the file, then fstats it. Repeated many times, bounded in
 * count and time, with sizes that alternately grow and shrink. The program is one python process on
 * the mount, driven line by line; the mount runs in its own child process.
 */
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const ROUNDS = 150;
const ROUNDS_MS = 90_000;

let cluster: TestCluster;
let m: TestMount;
let client: RaftfsClient;
let reader: ChildProcessWithoutNullStreams;
let lines: AsyncIterator<string>;

const READER = `
import hashlib, os, sys
for line in sys.stdin:
    verb, path = line.split()
    if verb == "stat":
        print(os.stat(path).st_size, flush=True)
        continue
    fd = os.open(path, os.O_RDONLY)
    data = b""
    while True:
        b = os.read(fd, 1 << 20)
        if not b:
            break
        data += b
    size = os.fstat(fd).st_size
    os.close(fd)
    print(size, len(data), hashlib.sha256(data).hexdigest(), flush=True)
`;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  client = await connect({ config: cluster.configPath, deadlineMs: 20_000 });
  m = await TestMount.start(cluster.configPath);
  reader = spawn("python3", ["-c", READER], { stdio: ["pipe", "pipe", "pipe"] });
  lines = createInterface({ input: reader.stdout })[Symbol.asyncIterator]();
}, 120_000);

afterAll(async () => {
  reader?.kill("SIGKILL");
  await m?.stop();
  await client?.close();
  await cluster?.stop();
}, 60_000);

/** `stat`: the size stat gives; `read`: what open and read saw, as fstat size, bytes read, their hash. */
async function ask(verb: "stat" | "read", path: string): Promise<string> {
  reader.stdin.write(`${verb} ${path}\n`);
  const r = await lines.next();
  if (r.done) throw new Error("the reader on the mount exited");
  return r.value;
}

const expected = (data: Buffer) =>
  `${data.byteLength} ${data.byteLength} ${createHash("sha256").update(data).digest("hex")}`;

describe("open racing the change feed", () => {
  test("an open right after another client's commit sees that version whole", async () => {
    const path = join(m.dir, "raced.bin");
    let data = randomBytes(1000);
    await client.writeFile("/raced.bin", data);
    expect(await ask("read", path)).toBe(expected(data));
    const stale: string[] = [];
    const until = Date.now() + ROUNDS_MS;
    let rounds = 0;
    for (; rounds < ROUNDS && Date.now() < until; rounds++) {
      // Inline and chunked sizes, alternately larger and smaller than the version the kernel saw.
      expect(await ask("stat", path)).toBe(String(data.byteLength));
      data = randomBytes(rounds % 2 === 0 ? 150_000 + rounds : 1000 + rounds);
      await client.writeFile("/raced.bin", data);
      const seen = await ask("read", path);
      if (seen !== expected(data)) stale.push(`round ${rounds}: saw ${seen}, want ${expected(data)}`);
    }
    expect(rounds).toBeGreaterThanOrEqual(20);
    expect(stale).toEqual([]);
  }, 150_000);
});
