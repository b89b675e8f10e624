/**
 * POSIX behaviour that pjdfstest found missing (docs/MOUNT.md has the tally): a name past NAME_MAX is
 * ENAMETOOLONG for every call that takes one, an open file unlinked has nlink 0 (unlink/14), and a
 * change made through the mount marks its directory's mtime/ctime for update at once, even while the
 * mount reuses the directory's attributes.
 * The test process only drives the mount, which runs in a child process.
 */
import { mkdtempSync, rmSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

let cluster: TestCluster;
let m: TestMount;
let local: string;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  local = mkdtempSync(join(tmpdir(), "raftfs-posix-local-"));
  // Attributes kept by the kernel and the mount for a minute: what a change through this mount does
  // to its directory must not wait for a timeout.
  m = await TestMount.start(cluster.configPath, ["--attr-timeout-ms", "60000"]);
}, 120_000);

afterAll(async () => {
  await m?.stop();
  await cluster?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
}, 60_000);

async function errCode(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
  return "no error";
}

describe("POSIX details through the mount (pjdfstest findings)", () => {
  test("a name of 255 bytes works; 256 bytes is ENAMETOOLONG for every call that takes a name", async () => {
    const dir = join(m.dir, "names");
    await fsp.mkdir(dir);
    const ok = `${"n".repeat(253)}é`; // 255 bytes in UTF-8
    await fsp.writeFile(join(dir, ok), "x");
    await fsp.mkdir(join(dir, `${ok.slice(0, 250)}.dir1`));
    expect(await fsp.readFile(join(dir, ok), "utf8")).toBe("x");
    const long = `${"é".repeat(127)}ab`; // 256 bytes in UTF-8, 129 characters
    const at = join(dir, long);
    expect(await errCode(fsp.writeFile(at, "x"))).toBe("ENAMETOOLONG");
    expect(await errCode(fsp.mkdir(at))).toBe("ENAMETOOLONG");
    expect(await errCode(fsp.stat(at))).toBe("ENAMETOOLONG");
    expect(await errCode(fsp.unlink(at))).toBe("ENAMETOOLONG");
    expect(await errCode(fsp.rmdir(at))).toBe("ENAMETOOLONG");
    expect(await errCode(fsp.chmod(at, 0o600))).toBe("ENAMETOOLONG");
    expect(await errCode(fsp.truncate(at, 0))).toBe("ENAMETOOLONG");
    expect(await errCode(fsp.rename(join(dir, ok), at))).toBe("ENAMETOOLONG");
    expect(await fsp.readdir(dir)).toHaveLength(2);
  }, 60_000);

  test("an open file unlinked through the mount has no links left (fstat nlink 0) and stays readable", async () => {
    const f = join(m.dir, "unlinked.txt");
    await fsp.writeFile(f, "still here");
    const h = await fsp.open(f, "r");
    try {
      expect((await h.stat()).nlink).toBe(1);
      await fsp.unlink(f);
      const st = await h.stat();
      expect([st.nlink, st.size]).toEqual([0, 10]);
      expect(await h.readFile("utf8")).toBe("still here");
    } finally {
      await h.close();
    }
  }, 60_000);

  test("mkdir, create, unlink, rmdir and rename move their directory's mtime and ctime", async () => {
    const dir = join(m.dir, "times");
    await fsp.mkdir(dir);
    const past = new Date("2001-02-03T04:05:06Z");
    /** Sets the directory's times into the past and reads them (the mount now holds that answer). */
    const reset = async () => {
      await fsp.utimes(dir, past, past);
      const st = await fsp.stat(dir);
      expect(st.mtimeMs).toBe(past.getTime());
      return st;
    };
    const moved = async (what: string, change: () => Promise<unknown>) => {
      const before = await reset();
      await change();
      const after = await fsp.stat(dir);
      expect({ what, later: after.mtimeMs > before.mtimeMs }).toEqual({ what, later: true });
      expect(after.ctimeMs).toBeGreaterThanOrEqual(before.ctimeMs);
    };
    await moved("mkdir", () => fsp.mkdir(join(dir, "sub")));
    await moved("create", () => fsp.writeFile(join(dir, "f"), "data"));
    await moved("rename", () => fsp.rename(join(dir, "f"), join(dir, "g")));
    await moved("unlink", () => fsp.unlink(join(dir, "g")));
    await moved("rmdir", () => fsp.rmdir(join(dir, "sub")));
  }, 60_000);
});
