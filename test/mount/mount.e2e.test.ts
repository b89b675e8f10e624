/**
 * `raftfs mount` against a real cluster and the real kernel: unmodified programs (cp, tar, git) on the
 * mount, errno for each failure a program checks, close-to-open between two mounts, and the mount's
 * life cycle (SIGTERM unmounts, a kill -9 leaves a stale mount that the next mount replaces).
 * The test process only drives the mounts, which run in child processes.
 */
import { execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { mountDeviceNumber, READ_AHEAD_KIB } from "../../src/mount/device.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";
import { isMounted, TestMount } from "./mount-harness.js";

const sh = promisify(execFile);

let cluster: TestCluster;
let a: TestMount;
let b: TestMount;
let local: string;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  local = mkdtempSync(join(tmpdir(), "raftfs-mount-local-"));
  a = await TestMount.start(cluster.configPath);
  b = await TestMount.start(cluster.configPath);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await cluster?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
}, 60_000);

/** The errno code of a rejected fs call. */
async function errCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
  return "no error";
}

describe("raftfs mount (real cluster, real kernel)", () => {
  test("cp and tar write through the mount; the CLI reads the same bytes back", async () => {
    const small = randomBytes(3000); // inline in the metadata
    const large = randomBytes(700_000); // several 64 KiB chunks
    writeFileSync(join(local, "small.bin"), small);
    writeFileSync(join(local, "large.bin"), large);
    await fsp.mkdir(join(a.dir, "cp"));
    await sh("cp", [join(local, "small.bin"), join(local, "large.bin"), join(a.dir, "cp")]);
    expect((await cluster.cli(["cat", "/cp/small.bin"])).stdoutBytes.equals(small)).toBe(true);
    expect((await cluster.cli(["cat", "/cp/large.bin"])).stdoutBytes.equals(large)).toBe(true);
    expect((await fsp.readFile(join(a.dir, "cp/large.bin"))).equals(large)).toBe(true);

    // A tree of small files through tar, compared with diff -r.
    const tree = join(local, "tree");
    for (let d = 0; d < 5; d++) {
      await fsp.mkdir(join(tree, `d${d}`), { recursive: true });
      for (let f = 0; f < 20; f++)
        await fsp.writeFile(join(tree, `d${d}`, `f${f}.txt`), `file ${d}/${f}\n`.repeat(f));
    }
    await sh("sh", ["-c", `tar cf - -C ${local} tree | tar xf - -C ${a.dir}`]);
    await sh("diff", ["-r", tree, join(a.dir, "tree")]);
    expect((await cluster.cli(["cat", "/tree/d3/f7.txt"])).stdout).toBe("file 3/7\n".repeat(7));
    // And back out with cp -r.
    await sh("cp", ["-r", join(a.dir, "tree"), join(local, "tree-back")]);
    await sh("diff", ["-r", tree, join(local, "tree-back")]);
  }, 120_000);

  test("the mount reads ahead 4 MiB (four 1 MiB requests), not the kernel's default 128 KiB", async () => {
    const dev = mountDeviceNumber(await fsp.readFile("/proc/self/mountinfo", "utf8"), a.dir);
    expect(dev).toBeDefined();
    // Set just after INIT, so wait for it rather than race the mount's start.
    await waitFor("the raised read-ahead", async () => {
      const kib = (await fsp.readFile(`/sys/class/bdi/${dev}/read_ahead_kb`, "utf8")).trim();
      return kib === String(READ_AHEAD_KIB) ? true : null;
    });
  });

  test("git init, add, commit, log and fsck work on the mount", async () => {
    const repo = join(a.dir, "repo");
    await fsp.mkdir(repo);
    const git = (...args: string[]) =>
      sh("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", ...args], { cwd: repo });
    await git("init", "-q", ".");
    await fsp.writeFile(join(repo, "README"), "hello\n");
    await git("add", "README");
    await git("commit", "-q", "-m", "first");
    expect((await git("log", "--format=%s")).stdout).toBe("first\n");
    await git("fsck", "--no-progress");
  }, 60_000);

  test("errors map to errno: ENOENT, EEXIST, ENOTDIR, EISDIR, ENOTEMPTY, EINVAL", async () => {
    const base = join(a.dir, "errs");
    await fsp.mkdir(base);
    await fsp.writeFile(join(base, "file"), "x");
    await fsp.mkdir(join(base, "dir"));
    await fsp.writeFile(join(base, "dir", "inner"), "y");
    expect(await errCode(fsp.readFile(join(base, "missing")))).toBe("ENOENT");
    expect(await errCode(fsp.mkdir(join(base, "dir")))).toBe("EEXIST");
    expect(await errCode(fsp.open(join(base, "file"), "wx"))).toBe("EEXIST");
    expect(await errCode(fsp.rmdir(join(base, "file")))).toBe("ENOTDIR");
    expect(await errCode(fsp.unlink(join(base, "dir")))).toBe("EISDIR");
    expect(await errCode(fsp.rmdir(join(base, "dir")))).toBe("ENOTEMPTY");
    expect(await errCode(fsp.rename(join(base, "dir"), join(base, "dir", "sub")))).toBe("EINVAL");
    expect(await errCode(fsp.rename(join(base, "dir"), join(base, "file")))).toBe("ENOTDIR");
    expect(await errCode(fsp.writeFile(join(base, "missing-dir", "f"), "z"))).toBe("ENOENT");
  }, 60_000);

  test("rename replaces its target atomically; truncate grows with zeros; an unlinked open file stays readable", async () => {
    const base = join(a.dir, "posix");
    await fsp.mkdir(base);
    await fsp.writeFile(join(base, "old"), "old content");
    await fsp.writeFile(join(base, "new"), "new content");
    await fsp.rename(join(base, "new"), join(base, "old"));
    expect(await fsp.readFile(join(base, "old"), "utf8")).toBe("new content");
    expect(existsSync(join(base, "new"))).toBe(false);
    expect((await cluster.cli(["cat", "/posix/old"])).stdout).toBe("new content");

    await fsp.truncate(join(base, "old"), 20);
    expect(await fsp.readFile(join(base, "old"))).toEqual(
      Buffer.concat([Buffer.from("new content"), Buffer.alloc(9)]),
    );
    await fsp.truncate(join(base, "old"), 3);
    expect((await cluster.cli(["cat", "/posix/old"])).stdout).toBe("new");

    await fsp.writeFile(join(base, "doomed"), "still here");
    const h = await fsp.open(join(base, "doomed"), "r");
    try {
      await fsp.unlink(join(base, "doomed"));
      expect(existsSync(join(base, "doomed"))).toBe(false);
      const buf = Buffer.alloc(10);
      const { bytesRead } = await h.read(buf, 0, 10, 0);
      expect(buf.subarray(0, bytesRead).toString()).toBe("still here");
    } finally {
      await h.close();
    }
  }, 60_000);

  test("touch commits an empty file; sparse writes past the in-memory spool read back with zeros", async () => {
    await sh("touch", [join(a.dir, "empty")]);
    expect(JSON.parse((await cluster.cli(["stat", "--json", "/empty"])).stdout)).toMatchObject({
      sizeBytes: 0,
    });

    const h = await fsp.open(join(a.dir, "sparse.bin"), "w");
    const head = randomBytes(1000);
    const tail = randomBytes(300_000);
    await h.write(head, 0, head.byteLength, 0);
    // Seen by this mount before the commit, with the size written so far.
    expect((await h.stat()).size).toBe(1000);
    await h.write(tail, 0, tail.byteLength, 1_500_000); // past 1 MiB: the spool spills to disk
    await h.close();
    const want = Buffer.concat([head, Buffer.alloc(1_500_000 - 1000), tail]);
    expect((await cluster.cli(["cat", "/sparse.bin"])).stdoutBytes.equals(want)).toBe(true);
    expect((await fsp.readFile(join(b.dir, "sparse.bin"))).equals(want)).toBe(true);
  }, 60_000);

  test("close-to-open: a file closed in one mount is read whole in the other; a conflicting close fails", async () => {
    const content = randomBytes(200_000);
    await fsp.writeFile(join(a.dir, "shared.bin"), content);
    expect((await fsp.readFile(join(b.dir, "shared.bin"))).equals(content)).toBe(true);

    // Both open the same version for writing; the first close wins, the second gets EIO (CAS on the
    // version opened), and the file holds the first writer's bytes, never a mix.
    const ha = await fsp.open(join(a.dir, "shared.bin"), "r+");
    const hb = await fsp.open(join(b.dir, "shared.bin"), "r+");
    await ha.write(Buffer.from("AAAA"), 0, 4, 0);
    await hb.write(Buffer.from("BBBB"), 0, 4, 0);
    await ha.close();
    expect(await errCode(hb.close())).toBe("EIO");
    const after = await fsp.readFile(join(b.dir, "shared.bin"));
    expect(after.subarray(0, 4).toString()).toBe("AAAA");
    expect(after.subarray(4).equals(content.subarray(4))).toBe(true);
    expect(b.log).toContain("/shared.bin: not committed, changed by another writer");
  }, 60_000);

  test("flock and fcntl locks held through one mount block the other, and end with their holder", async () => {
    await fsp.writeFile(join(a.dir, "locked.txt"), "v1");
    for (const [name, hold, probe] of [
      [
        "flock",
        ["flock", join(a.dir, "locked.txt"), "-c", "echo locked; sleep 60"],
        ["flock", "-n", join(b.dir, "locked.txt"), "true"],
      ],
      [
        "fcntl",
        [
          "python3",
          "-c",
          `import fcntl,time,sys\nf=open(${JSON.stringify(join(a.dir, "locked.txt"))},"r+")\nfcntl.lockf(f,fcntl.LOCK_EX)\nprint("locked",flush=True)\ntime.sleep(60)`,
        ],
        [
          "python3",
          "-c",
          `import fcntl\nf=open(${JSON.stringify(join(b.dir, "locked.txt"))},"r+")\nfcntl.lockf(f,fcntl.LOCK_EX|fcntl.LOCK_NB)`,
        ],
      ],
    ] as const) {
      // Its own process group: flock(1) hands the locked descriptor to its child, which must die too.
      const holder = spawn(hold[0], hold.slice(1), { stdio: ["ignore", "pipe", "pipe"], detached: true });
      let out = "";
      holder.stdout.on("data", (d: Buffer) => {
        out += d.toString();
      });
      try {
        await waitFor(`${name} holder`, async () => (out.includes("locked") ? true : null), 20_000);
        const blocked = await sh(probe[0], probe.slice(1)).then(
          () => 0,
          (e: { code?: number }) => e.code ?? -1,
        );
        expect(blocked, `${name}: the other mount must not get the lock`).not.toBe(0);
      } finally {
        process.kill(-holder.pid!, "SIGKILL");
      }
      // The holder's death closes its file: the lock goes back to the cluster and the other mount gets it.
      await waitFor(
        `${name} lock released`,
        async () =>
          (await sh(probe[0], probe.slice(1)).then(
            () => true,
            () => false,
          ))
            ? true
            : null,
        20_000,
      );
    }
  }, 90_000);

  test("SIGTERM unmounts cleanly; after kill -9 the stale mount is replaced by the next mount", async () => {
    const m = await TestMount.start(cluster.configPath);
    const dir = m.dir;
    await fsp.writeFile(join(dir, "lifecycle.txt"), "one");
    expect(await m.stop(false)).toBe(0);
    expect(isMounted(dir)).toBe(false);

    const killed = await TestMount.start(cluster.configPath, [], dir);
    killed.child.kill("SIGKILL");
    await waitFor("the server to die", async () => (killed.child.signalCode !== null ? true : null));
    expect(isMounted(dir)).toBe(true);
    expect(await errCode(fsp.stat(join(dir, "lifecycle.txt")))).toBe("ENOTCONN");

    const again = await TestMount.start(cluster.configPath, [], dir);
    try {
      expect(again.log).toContain("replacing a stale mount");
      expect(await fsp.readFile(join(dir, "lifecycle.txt"), "utf8")).toBe("one");
    } finally {
      await again.stop();
    }
  }, 90_000);

  test("a one-byte write into a 2 MiB file stores only the chunk it touched", async () => {
    const content = randomBytes(2 * 1024 * 1024); // 32 chunks of 64 KiB
    await fsp.writeFile(join(a.dir, "big.bin"), content);
    const writes = async () => {
      let sum = 0;
      for (const id of [1, 2, 3]) sum += await cluster.dataMetric(id, "raftfs_data_chunk_writes_total");
      return sum;
    };
    const before = await writes();
    const h = await fsp.open(join(a.dir, "big.bin"), "r+");
    await h.write(Buffer.from([content[1_000_000]! ^ 0xff]), 0, 1, 1_000_000);
    await h.close();
    // One chunk, on each of its (at most 3) holders; storing the whole file again would be 96.
    const stored = (await writes()) - before;
    expect(stored).toBeGreaterThan(0);
    expect(stored).toBeLessThanOrEqual(3);
    const want = Buffer.from(content);
    want[1_000_000] = content[1_000_000]! ^ 0xff;
    expect((await cluster.cli(["cat", "/big.bin"])).stdoutBytes.equals(want)).toBe(true);
  }, 60_000);

  test("--read-only refuses changes with EROFS and still reads", async () => {
    const ro = await TestMount.start(cluster.configPath, ["--read-only"]);
    try {
      expect(await fsp.readFile(join(ro.dir, "posix/old"), "utf8")).toBe("new");
      expect(await errCode(fsp.writeFile(join(ro.dir, "nope"), "x"))).toBe("EROFS");
      expect(await errCode(fsp.mkdir(join(ro.dir, "nodir")))).toBe("EROFS");
    } finally {
      await ro.stop();
    }
  }, 60_000);

  test("kill -USR1 logs a status line: nodes held, chunk bytes moved, requests served so far", async () => {
    await fsp.readFile(join(a.dir, "posix/old"), "utf8");
    a.child.kill("SIGUSR1");
    const line = await waitFor("a status line in the mount's log", () =>
      a.log.split("\n").find((l) => l.includes(": status: ")),
    );
    expect(line).toMatch(
      /\d+ nodes known to the kernel, [\d.]+ MiB of chunks moved, requests served: .*LOOKUP \d+/,
    );
    expect(a.child.exitCode).toBeNull(); // and it goes on serving
  }, 60_000);
});
