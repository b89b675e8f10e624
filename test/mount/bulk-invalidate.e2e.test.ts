/**
 * Bulk invalidation (src/mount/invalidate.ts) against a real cluster and kernel: a second client (the
 * library, in this test process) rewrites 1,000 files of a directory while the mount's change feed is
 * behind (its process stopped), so the changes reach the mount in one batch; the mount sends one notice
 * for the directory (its log says so) and still serves every new version, sizes included for the files
 * the kernel holds. The test process only drives the mount, which runs in a child process.
 */
import { execFile, spawn } from "node:child_process";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const sh = promisify(execFile);
const FILES = 1000;
const HELD = 5;

let cluster: TestCluster;
let m: TestMount;
let client: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  client = await connect({ config: cluster.configPath, deadlineMs: 20_000 });
  // Attributes cached for a minute: what the mount sees of the new versions comes from its notices.
  m = await TestMount.start(cluster.configPath, ["--attr-timeout-ms", "60000"]);
}, 120_000);

afterAll(async () => {
  m?.child.kill("SIGCONT");
  await m?.stop();
  await client?.close();
  await cluster?.stop();
}, 60_000);

/** Writes every file through the library, 25 at a time. */
async function writeAll(content: (i: number) => string): Promise<void> {
  for (let from = 0; from < FILES; from += 25) {
    const batch: Promise<unknown>[] = [];
    for (let i = from; i < Math.min(FILES, from + 25); i++)
      batch.push(client.writeFile(`/bulk/f${i}`, Buffer.from(content(i))));
    await Promise.all(batch);
  }
}

const v1 = (i: number) => `v1 ${i}\n`;
const v2 = (i: number) => `version two of file ${i}\n`;

describe("bulk invalidation from the change feed", () => {
  test("1,000 files rewritten by another client while the feed is behind: one directory notice, every new version read", async () => {
    await client.mkdir("/bulk");
    await writeAll(v1);
    const dir = join(m.dir, "bulk");
    expect(await fsp.readdir(dir)).toHaveLength(FILES);
    // The kernel holds a few files (looked up and read, with their sizes cached): the last ones
    // written, whose changes come in the big batch, not in the first answer of the feed.
    const held = [...Array(HELD).keys()].map((k) => FILES - 1 - k);
    for (const i of held) expect(await fsp.readFile(join(dir, `f${i}`), "utf8")).toBe(v1(i));

    m.child.kill("SIGSTOP"); // the mount's feed falls behind; nothing here calls into the mount meanwhile
    try {
      await writeAll(v2);
    } finally {
      m.child.kill("SIGCONT");
    }
    await waitFor(
      "the mount's bulk notice",
      async () => (m.log.includes("raftfs mount: /bulk: over 64 changes in one batch") ? true : null),
      30_000,
    );
    // stat(1) and cat(1), not node's fs: libuv's statx asks for the birth time, which makes the kernel
    // ask the mount every time; these programs use the attributes the kernel holds, as most do.
    for (const i of held) {
      const f = join(dir, `f${i}`);
      expect((await sh("stat", ["-c", "%s", f])).stdout).toBe(`${v2(i).length}\n`);
      expect((await sh("cat", [f])).stdout).toBe(v2(i));
    }
    const names = await fsp.readdir(dir);
    expect(names).toHaveLength(FILES);
    for (let i = 0; i < FILES - HELD; i++) expect(await fsp.readFile(join(dir, `f${i}`), "utf8")).toBe(v2(i));
  }, 180_000);

  test("a shell working in a directory that another client changes keeps its working directory", async () => {
    // Regression: every change of the feed also dropped the kernel's entry for its name, which unhashes
    // the dentry of a directory a process works in: its getcwd then fails with ENOENT (a CI run's
    // `git init` in a directory just made through the mount: "unable to get current working directory").
    await client.mkdir("/work");
    await client.writeFile("/marker", "m");
    const dir = join(m.dir, "work");
    const marker = join(m.dir, "marker");
    const modeOf = async (p: string) => (await sh("stat", ["-c", "%a", p])).stdout.trim();
    expect(await modeOf(marker)).not.toBe("700"); // cached by the kernel for a minute from here
    // getcwd(3) as git and most programs call it (coreutils' pwd would fall back to walking "..").
    const getcwd = "console.log(process.cwd())";
    const shell = spawn(
      "sh",
      ["-c", 'cd "$1" && echo in && read line && exec "$2" -e "$3"', "sh", dir, process.execPath, getcwd],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let out = "";
    let err = "";
    shell.stdout.on("data", (b: Buffer) => {
      out += b.toString();
    });
    shell.stderr.on("data", (b: Buffer) => {
      err += b.toString();
    });
    const exited = new Promise<number | null>((resolve) => shell.once("exit", resolve));
    await waitFor("the shell to be in the directory", () => out.startsWith("in\n"), 30_000);
    await client.setAttrs("/work", { mode: 0o700 });
    await client.setAttrs("/marker", { mode: 0o700 });
    // The feed's changes are taken in order, and the marker's attributes are cached for a minute: its
    // new mode shows once the mount has sent its notices for both changes. Nothing here looks "work"
    // up again meanwhile (a lookup would re-attach the kernel's entry and hide the bug).
    await waitFor(
      "the mount's notices",
      async () => ((await modeOf(marker)) === "700" ? true : null),
      30_000,
    );
    shell.stdin.end("go\n");
    expect(await exited, `getcwd in the directory failed: ${err}`).toBe(0);
    expect(out).toBe(`in\n${dir}\n`);
  }, 120_000);
});
