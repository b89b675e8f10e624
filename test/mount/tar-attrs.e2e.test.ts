/**
 * `tar x` onto the mount: tar sets each file's times, owner and mode on the open file right before it
 * closes it (futimens, fchown, fchmod), and the mount sends them with the file's commit, so a file
 * costs one metadata write, not a commit and an attribute write after it (issue 16, tar files/s).
 * Checked through another client (the library) and with the metadata replicas' operation counters.
 * A chmod of a file with nothing pending is still its own write, seen at once by others.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const sh = promisify(execFile);

let cluster: TestCluster;
let mount: TestMount;
let client: RaftfsClient;
let local: string;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 1, dataCount: 1 });
  local = mkdtempSync(join(tmpdir(), "raftfs-tar-attrs-"));
  mount = await TestMount.start(cluster.configPath);
  client = await connect({ config: cluster.configPath, cacheBytes: 0 });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await mount?.stop();
  await cluster?.stop();
  if (local) rmSync(local, { recursive: true, force: true });
}, 60_000);

/** Metadata operations of `op` the cluster has applied or refused so far (every replica's count). */
async function opsDone(op: string): Promise<number> {
  let sum = 0;
  for (const id of cluster.metaIds)
    sum += await cluster.metric("meta", id, "raftfs_meta_operations_total", `op="${op}"`);
  return sum;
}

describe("tar x through the mount", () => {
  test("modes, owners and old mtimes arrive with each file's one commit: no attribute write of their own", async () => {
    // Inline (≤ 4 KiB here), chunked from the spool, and uploaded while written (> 1 MiB): each
    // commit path of the mount, with odd modes (setuid, setgid, sticky, no owner bits) and old times.
    const files = [
      { name: "empty", bytes: 0, mode: 0o4751 },
      { name: "small.txt", bytes: 300, mode: 0o2640 },
      { name: "odd", bytes: 3000, mode: 0o1007 },
      { name: "mid.bin", bytes: 200_000, mode: 0o400 },
      { name: "big.bin", bytes: 1_500_000, mode: 0o6711 },
    ];
    const src = join(local, "src");
    await fsp.mkdir(src);
    const want = new Map<string, { mode: number; uid: number; gid: number; modifiedAtMs: number }>();
    for (const [i, f] of files.entries()) {
      const p = join(src, f.name);
      await fsp.writeFile(p, Buffer.alloc(f.bytes, i + 1));
      await fsp.chown(p, 1000 + i, 2000 + i);
      await fsp.chmod(p, f.mode); // after chown, which clears setuid/setgid
      const mtimeS = 300_000_000 + i * 86_400;
      await fsp.utimes(p, mtimeS, mtimeS);
      want.set(f.name, { mode: f.mode, uid: 1000 + i, gid: 2000 + i, modifiedAtMs: mtimeS * 1000 });
    }
    await fsp.mkdir(join(mount.dir, "x"));
    const setAttrsBefore = await opsDone("setAttrs");
    const commitsBefore = await opsDone("commit");
    // The files alone (no directory entry, whose attributes tar would set after its files).
    const names = files.map((f) => f.name).join(" ");
    await sh("sh", ["-c", `tar cf - -C ${src} ${names} | tar xpf - --same-owner -C ${mount.dir}/x`], {
      timeout: 60_000,
    });
    for (const f of files) {
      const st = await client.stat(`/x/${f.name}`);
      expect({
        path: f.name,
        mode: st.mode,
        uid: st.uid,
        gid: st.gid,
        modifiedAtMs: st.modifiedAtMs,
      }).toEqual({
        path: f.name,
        ...want.get(f.name),
      });
      expect(st.sizeBytes).toBe(f.bytes);
    }
    // One commit per file and no setAttrs (the old mount wrote each file's attributes after its commit).
    expect(await opsDone("commit")).toBe(commitsBefore + files.length);
    expect(await opsDone("setAttrs")).toBe(setAttrsBefore);
  }, 120_000);

  test("a chmod or touch of a closed file is its own write, seen by another client as soon as it returns", async () => {
    const p = join(mount.dir, "closed.txt");
    await sh("sh", ["-c", `printf hello > ${p}`]);
    const before = await opsDone("setAttrs");
    await sh("chmod", ["0615", p]);
    await sh("touch", ["-m", "-d", "1999-12-31 23:59:59 UTC", p]);
    const st = await client.stat("/closed.txt");
    expect(st.mode).toBe(0o615);
    expect(st.modifiedAtMs).toBe(Date.UTC(1999, 11, 31, 23, 59, 59));
    expect(await opsDone("setAttrs")).toBe(before + 2);
  }, 60_000);
});
