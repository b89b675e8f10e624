/**
 * Inode numbers through the mount are the nodes' ids in the metadata (src/mount/nodes.ts): a file or
 * directory keeps its number across renames, made through this mount or by another client (after
 * which the kernel looks the new name up afresh), every mount of the cluster reports the same number
 * (except for a file this mount created, which keeps its first number while the kernel holds it),
 * readdir's d_ino is st_ino, and a name made again is a new file with a new number. `ls -i`, `find
 * -inum`, tar and git rely on this. The test process only drives the mounts (child processes).
 */
import { execFile } from "node:child_process";
import * as fsp from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const sh = promisify(execFile);

let cluster: TestCluster;
let a: TestMount;
let b: TestMount;
let client: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  client = await connect({ config: cluster.configPath, deadlineMs: 20_000 });
  a = await TestMount.start(cluster.configPath);
  b = await TestMount.start(cluster.configPath);
}, 120_000);

afterAll(async () => {
  await a?.stop();
  await b?.stop();
  await client?.close();
  await cluster?.stop();
}, 60_000);

const ino = async (p: string) => (await fsp.stat(p, { bigint: true })).ino;

/** d_ino of each name in `dir`, as readdir gives it (python's scandir returns d_ino unchanged). */
async function direntInos(dir: string): Promise<Map<string, bigint>> {
  const { stdout } = await sh("python3", [
    "-c",
    "import os,sys\nfor e in os.scandir(sys.argv[1]): print(e.inode(), e.name)",
    dir,
  ]);
  return new Map(
    stdout
      .trim()
      .split("\n")
      .map((l) => {
        const [n, name] = l.split(" ");
        return [name!, BigInt(n!)];
      }),
  );
}

describe("inode numbers through the mount", () => {
  test("a file and a directory keep their inode numbers across renames, in every mount", async () => {
    await fsp.mkdir(join(a.dir, "ino"));
    await fsp.mkdir(join(a.dir, "ino/d"));
    // Written by another client: a file created through mount a would keep a's pending number there
    // while a's kernel holds it (the next test).
    await client.writeFile("/ino/d/f", "content");
    await waitFor(
      "f in mount a",
      async () => (await fsp.stat(join(a.dir, "ino/d/f")).catch(() => null)) ?? null,
    );
    const file = await ino(join(a.dir, "ino/d/f"));
    const dir = await ino(join(a.dir, "ino/d"));
    expect(file).not.toBe(dir);
    expect(await ino(join(b.dir, "ino/d/f"))).toBe(file);
    expect((await direntInos(join(a.dir, "ino/d"))).get("f")).toBe(file);

    // Through the mount.
    await fsp.rename(join(a.dir, "ino/d/f"), join(a.dir, "ino/d/g"));
    expect(await ino(join(a.dir, "ino/d/g"))).toBe(file);
    await fsp.rename(join(a.dir, "ino/d"), join(a.dir, "ino/e"));
    expect(await ino(join(a.dir, "ino/e"))).toBe(dir);
    expect(await ino(join(a.dir, "ino/e/g"))).toBe(file);

    // By another client: the mounts learn the new names from the change feed and look them up.
    await client.mkdir("/ino/other");
    await client.rename("/ino/e/g", "/ino/other/h");
    await client.rename("/ino/e", "/ino/other/e2");
    for (const m of [a, b]) {
      const moved = join(m.dir, "ino/other/h");
      await waitFor(`${moved} to appear`, async () =>
        (await fsp.stat(moved).catch(() => null)) ? true : null,
      );
      expect(await ino(moved)).toBe(file);
      expect(await ino(join(m.dir, "ino/other/e2"))).toBe(dir);
      const listed = await direntInos(join(m.dir, "ino/other"));
      expect([listed.get("h"), listed.get("e2")]).toEqual([file, dir]);
    }
    const { stdout } = await sh("find", [join(a.dir, "ino"), "-inum", String(file)]);
    expect(stdout.trim()).toBe(join(a.dir, "ino/other/h"));

    // A name made again names a new file.
    await fsp.unlink(join(a.dir, "ino/other/h"));
    await fsp.writeFile(join(a.dir, "ino/other/h"), "again");
    expect(await ino(join(a.dir, "ino/other/h"))).not.toBe(file);
  }, 90_000);

  test("a file created through a mount keeps its number across its first commit there; another mount sees its metadata id", async () => {
    // GNU tar makes a link to an absolute or `..` target through a placeholder, and replaces it only
    // if the placeholder's st_ino is still the one it saw at create.
    const p = join(a.dir, "placeholder");
    const h = await fsp.open(p, "wx");
    const atCreate = (await h.stat({ bigint: true })).ino;
    await h.close(); // the first commit: the metadata gives the file its id now
    expect((await fsp.lstat(p, { bigint: true })).ino).toBe(atCreate);
    expect((await direntInos(a.dir)).get("placeholder")).toBe(atCreate);
    const metaIno = BigInt((await client.stat("/placeholder")).ino ?? -1);
    expect(metaIno).not.toBe(atCreate);
    await waitFor(
      "the placeholder in mount b",
      async () => (await fsp.stat(join(b.dir, "placeholder")).catch(() => null)) ?? null,
    );
    expect(await ino(join(b.dir, "placeholder"))).toBe(metaIno);
  }, 60_000);

  test("a file kept open after its unlink keeps its number", async () => {
    await fsp.writeFile(join(a.dir, "open-unlinked"), "still here");
    const before = await ino(join(a.dir, "open-unlinked"));
    const h = await fsp.open(join(a.dir, "open-unlinked"), "r");
    try {
      await fsp.unlink(join(a.dir, "open-unlinked"));
      const st = await h.stat({ bigint: true });
      expect([st.ino, st.nlink]).toEqual([before, 0n]);
    } finally {
      await h.close();
    }
  }, 60_000);
});
