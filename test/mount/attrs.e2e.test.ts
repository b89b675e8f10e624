/**
 * Mode, owner and times through the mount, kept in the metadata (issue 16), and the kernel told of
 * other clients' changes from the change feed. Two mounts of one cluster; the test process drives
 * them with programs (stat, chmod, chown, touch, tar) and never serves a mount itself. The mounts
 * cache attributes for a minute, so a change seen by the other mount sooner came by invalidation.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const sh = promisify(execFile);
/** Far longer than any wait below: only an invalidation can make a mount see a change in time. */
const ATTR_TIMEOUT = ["--attr-timeout-ms", "600000"];

let cluster: TestCluster;
let a: TestMount;
let b: TestMount;
let local: string;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  local = mkdtempSync(join(tmpdir(), "raftfs-attrs-local-"));
  a = await TestMount.start(cluster.configPath, ATTR_TIMEOUT);
  b = await TestMount.start(cluster.configPath, ATTR_TIMEOUT);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await cluster?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
}, 60_000);

/** `stat` in its own process: permission bits (octal), uid, gid, mtime (s), type. */
async function statOf(path: string): Promise<string> {
  return (await sh("stat", ["-c", "%a %u %g %Y %F", path])).stdout.trim();
}

/** Every entry of a tree as `path type mode uid gid mtime-seconds size`, sorted. */
async function treeListing(root: string): Promise<string[]> {
  const out = (await sh("find", [root, "-mindepth", "1", "-printf", "%P %y %m %U %G %Ts %s\n"])).stdout;
  return out
    .trim()
    .split("\n")
    .map((l) => (l.split(" ")[1] === "d" ? l.replace(/ \d+$/, "") : l)) // a directory's size is ours
    .sort();
}

describe("attributes through the mount", () => {
  test("create and mkdir take the caller's mode (umask applied) and owner; stat sees them from the other mount", async () => {
    await sh("sh", ["-c", `umask 027 && touch ${a.dir}/made.txt && mkdir ${a.dir}/made.d`]);
    expect(await statOf(join(b.dir, "made.txt"))).toMatch(/^640 0 0 \d+ regular empty file$/);
    expect(await statOf(join(b.dir, "made.d"))).toMatch(/^750 0 0 \d+ directory$/);
  }, 60_000);

  test("chmod, chown and touch -d are kept: another process and the other mount see them", async () => {
    await fsp.writeFile(join(a.dir, "f.txt"), "hello");
    expect(await statOf(join(b.dir, "f.txt"))).toMatch(/^644 0 0 /); // b has it cached from here on
    // chown first: chown clears set-user-ID (POSIX), the kernel sends that as a mode change too.
    await sh("chmod", ["4711", join(a.dir, "f.txt")]);
    await sh("chown", ["1234:567", join(a.dir, "f.txt")]);
    expect(await statOf(join(a.dir, "f.txt"))).toMatch(/^711 1234 567 /);
    await sh("chmod", ["4711", join(a.dir, "f.txt")]);
    await sh("touch", ["-m", "-d", "2001-02-03 04:05:06 UTC", join(a.dir, "f.txt")]);
    const want = `4711 1234 567 ${Date.UTC(2001, 1, 3, 4, 5, 6) / 1000} regular file`;
    expect(await statOf(join(a.dir, "f.txt"))).toBe(want);
    await waitFor(
      "b to see the new attributes",
      async () => ((await statOf(join(b.dir, "f.txt"))) === want ? true : null),
      10_000,
    );
    // Kept in the metadata: a fresh mount (nothing cached) reads the same, and so does the CLI.
    const c = await TestMount.start(cluster.configPath);
    try {
      expect(await statOf(join(c.dir, "f.txt"))).toBe(want);
    } finally {
      await c.stop();
    }
    const st = JSON.parse((await cluster.cli(["stat", "/f.txt", "--json"])).stdout) as Record<
      string,
      unknown
    >;
    expect(st).toMatchObject({
      mode: 0o4711,
      uid: 1234,
      gid: 567,
      modifiedAtMs: Date.UTC(2001, 1, 3, 4, 5, 6),
    });
  }, 90_000);

  test("truncate through the mount changes size and mtime, seen by the other mount", async () => {
    await fsp.writeFile(join(a.dir, "t.bin"), Buffer.alloc(5000, 7));
    expect((await fsp.stat(join(b.dir, "t.bin"))).size).toBe(5000);
    await sh("truncate", ["-s", "100", join(a.dir, "t.bin")]);
    await waitFor(
      "b to see the new size",
      async () => ((await fsp.stat(join(b.dir, "t.bin"))).size === 100 ? true : null),
      10_000,
    );
    expect((await fsp.readFile(join(b.dir, "t.bin"))).equals(Buffer.alloc(100, 7))).toBe(true);
  }, 60_000);

  test("tar keeps modes, owners and times in a round trip through the mount", async () => {
    const src = join(local, "src");
    await fsp.mkdir(join(src, "sub", "deep"), { recursive: true });
    const files: [string, number, number][] = [
      ["a.txt", 0o600, 1000],
      ["b.sh", 0o755, 0],
      ["sub/c.txt", 0o640, 2000],
      ["sub/deep/d.bin", 0o444, 3000],
    ];
    for (const [i, [name, mode, uid]] of files.entries()) {
      const p = join(src, name);
      await fsp.writeFile(p, `content ${i}\n`.repeat(i * 50 + 1));
      await fsp.chmod(p, mode);
      await fsp.chown(p, uid, uid + 1);
      await fsp.utimes(p, 1_000_000_000 + i * 86_400, 1_000_000_000 + i * 86_400);
    }
    await fsp.chmod(join(src, "sub"), 0o711);
    for (const [i, d] of ["sub/deep", "sub", ""].entries())
      await fsp.utimes(join(src, d), 1_100_000_000 + i, 1_100_000_000 + i);
    // Extract onto the mount as root (owners and modes kept: --same-owner -p), then archive it back.
    await fsp.mkdir(join(a.dir, "tarred"));
    await sh("sh", ["-c", `tar cf - -C ${src} . | tar xpf - --same-owner -C ${a.dir}/tarred`]);
    const expected = await treeListing(src);
    expect(await treeListing(join(a.dir, "tarred"))).toEqual(expected);
    await waitFor(
      "b to list the same tree",
      async () =>
        JSON.stringify(await treeListing(join(b.dir, "tarred"))) === JSON.stringify(expected) ? true : null,
      10_000,
    );
    const back = join(local, "back");
    await fsp.mkdir(back);
    await sh("sh", ["-c", `tar cf - -C ${b.dir}/tarred . | tar xpf - --same-owner -C ${back}`]);
    expect(await treeListing(back)).toEqual(expected);
  }, 120_000);

  test("a file written through the CLI is seen whole by a mount that had it cached", async () => {
    await fsp.writeFile(join(a.dir, "cli.txt"), "old contents");
    expect(await fsp.readFile(join(b.dir, "cli.txt"), "utf8")).toBe("old contents");
    const input = join(local, "cli-new.txt");
    await fsp.writeFile(input, "new contents, longer than before");
    await cluster.cli(["put", input, "/cli.txt"]);
    const size = "new contents, longer than before".length;
    // stat alone (no open, which revalidates anyway): only an invalidation drops the cached size.
    await waitFor(
      "b to see the new size",
      async () => ((await fsp.stat(join(b.dir, "cli.txt"))).size === size ? true : null),
      10_000,
    );
    expect(await fsp.readFile(join(b.dir, "cli.txt"), "utf8")).toBe("new contents, longer than before");
    // A name removed elsewhere goes from the other mount's cache too.
    await cluster.cli(["rm", "/cli.txt"]);
    await waitFor(
      "b to see it gone",
      async () =>
        (await fsp.stat(join(b.dir, "cli.txt")).then(
          () => false,
          () => true,
        ))
          ? true
          : null,
      10_000,
    );
  }, 60_000);
});
