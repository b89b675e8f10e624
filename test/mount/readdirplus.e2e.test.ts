/**
 * `ls -l` of a directory through the mount (issue 16): the listing answers READDIRPLUS, each entry
 * with the attributes of its list page, so `ls -l` costs the directory's pages and not one LOOKUP
 * and GETATTR per entry, and still shows what another client wrote (size, mode, owner, mtime, inode
 * number). A change made afterwards through another client shows in the next `ls -l` through the
 * change feed. The mounts cache attributes for ten minutes here, so the request counts do not depend
 * on the machine's speed, and a change seen in time came by invalidation. Only `ls` children touch
 * the mount.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";
import { TestMount } from "./mount-harness.js";

const sh = promisify(execFile);
const LONG_ATTR_TIMEOUT = ["--attr-timeout-ms", "600000"];
/** More entries than a listing answer's 25-odd READDIRPLUS entries, and over one list page (1,000). */
const N = 1200;

let cluster: TestCluster;
let client: RaftfsClient;

beforeAll(async () => {
  cluster = await startCluster({ metaCount: 3, dataCount: 3 });
  client = await connect({ config: cluster.configPath, deadlineMs: 20_000 });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await cluster?.stop();
}, 60_000);

interface Want {
  mode: number;
  uid: number;
  gid: number;
  bytes: number;
  mtimeS: number;
}

/** What `ls -ln --time-style=+%s` prints of each entry: name → `mode uid gid size mtime ino`. */
async function lsLong(dir: string): Promise<Map<string, string>> {
  const { stdout } = await sh("ls", ["-lni", "--time-style=+%s", dir], {
    maxBuffer: 1 << 26,
    timeout: 300_000,
  });
  const out = new Map<string, string>();
  for (const line of stdout.trim().split("\n").slice(1)) {
    const [ino, perms, , uid, gid, size, mtime, name] = line.trim().split(/\s+/);
    out.set(name!, `${perms} ${uid} ${gid} ${size} ${mtime} ${ino}`);
  }
  return out;
}

function permsOf(mode: number): string {
  const bits = "rwxrwxrwx";
  let s = "-";
  for (let i = 0; i < 9; i++) s += mode & (1 << (8 - i)) ? bits[i] : "-";
  return s;
}

/** The mount's request counts from the line its log ends with (`requests served: LOOKUP 3, …`). */
function served(log: string): Map<string, number> {
  const line = log.split("\n").find((l) => l.includes("requests served:"));
  if (!line) throw new Error(`no request counts in the mount's log: ${log.slice(-500)}`);
  const out = new Map<string, number>();
  for (const part of line.slice(line.indexOf("requests served:") + 16).split(",")) {
    const [op, n] = part.trim().split(" ");
    out.set(op!, Number(n));
  }
  return out;
}

describe("ls -l through the mount", () => {
  test("shows size, mode, owner, mtime and inode written by another client, without a LOOKUP or GETATTR per entry", async () => {
    await client.mkdir("/big");
    const want = new Map<string, Want>();
    for (let i = 0; i < N; i += 50) {
      const batch = [];
      for (let j = i; j < Math.min(N, i + 50); j++) {
        const w: Want = {
          mode: [0o644, 0o600, 0o755, 0o640][j % 4]!,
          uid: j % 3 === 0 ? 1000 + j : 0,
          gid: j % 5,
          bytes: (j * 37) % 3000,
          mtimeS: 1_000_000_000 + j * 86_400,
        };
        want.set(`f${j}`, w);
        batch.push(
          client
            .writeFile(`/big/f${j}`, Buffer.alloc(w.bytes, j), {
              attrs: { mode: w.mode, uid: w.uid, gid: w.gid },
            })
            .then(() => client.setAttrs(`/big/f${j}`, { mtimeMs: w.mtimeS * 1000 })),
        );
      }
      await Promise.all(batch);
    }
    const inos = new Map((await client.readdir("/big", { withTypes: true })).map((e) => [e.name, e.ino]));
    const expected = new Map(
      [...want].map(([name, w]) => [
        name,
        `${permsOf(w.mode)} ${w.uid} ${w.gid} ${w.bytes} ${w.mtimeS} ${inos.get(name)}`,
      ]),
    );

    const m = await TestMount.start(cluster.configPath, LONG_ATTR_TIMEOUT);
    let log: string;
    try {
      expect(await lsLong(join(m.dir, "big"))).toEqual(expected);
      // Again: the kernel's cache answers, the listing is read again.
      expect(await lsLong(join(m.dir, "big"))).toEqual(expected);
    } finally {
      await m.stop();
      log = m.log;
    }
    const counts = served(log);
    // A LOOKUP of /big and a few GETATTRs of the directory itself; nothing per entry.
    expect((counts.get("LOOKUP") ?? 0) + (counts.get("GETATTR") ?? 0)).toBeLessThan(20);
    expect(counts.get("READDIRPLUS") ?? 0).toBeGreaterThan(0);
  }, 300_000);

  test("a change through another client after a listing shows in the next ls -l", async () => {
    await client.mkdir("/seen");
    for (let i = 0; i < 40; i++) await client.writeFile(`/seen/g${i}`, Buffer.alloc(i, 1));
    const m = await TestMount.start(cluster.configPath, LONG_ATTR_TIMEOUT);
    try {
      const dir = join(m.dir, "seen");
      const before = await lsLong(dir);
      expect(before.get("g7")).toMatch(/^-rw-r--r-- 0 0 7 /);
      await client.writeFile("/seen/g7", Buffer.alloc(5000, 2));
      await client.setAttrs("/seen/g8", { mode: 0o600, uid: 4321 });
      await client.rm("/seen/g9");
      await waitFor(
        "ls -l to show the other client's changes",
        async () => {
          const now = await lsLong(dir);
          return now.get("g7")?.startsWith("-rw-r--r-- 0 0 5000 ") &&
            now.get("g8")?.startsWith("-rw------- 4321 0 8 ") &&
            !now.has("g9")
            ? true
            : null;
        },
        20_000,
      );
    } finally {
      await m.stop();
    }
  }, 120_000);
});
