/**
 * Admin-only membership changes and decommission, on real processes with client tokens: a `write`
 * token is refused (403) on every admin route; with an `admin` token a data node is drained (no new
 * placements, its chunks reach R copies on the other nodes) and removed, and a metadata replica is
 * removed from a running 3-replica cluster, after which writes still commit on the 2 left.
 */
import { randomBytes } from "node:crypto";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { META_ROUTES } from "../../src/common/protocol/index.js";
import { connect, type RaftfsClient } from "../../src/index.js";
import { runCli } from "../support/cluster-harness.js";
import { MetaCluster, waitUntil } from "../support/meta-procs.js";

const WRITER = "writer-token-0123456789";
const ADMIN = "admin-token-0123456789";
const CHUNK = 64 * 1024;
const bearer = (t: string) => ({ authorization: `Bearer ${t}` });

let c: MetaCluster;
let fs: RaftfsClient;

beforeAll(async () => {
  c = await MetaCluster.start({
    dataNodes: 4,
    extra: {
      chunkSizeBytes: CHUNK,
      inlineThresholdBytes: 1024,
      garbageGraceMs: 600_000,
      tokens: [
        { name: "writer", token: WRITER, role: "write" },
        { name: "boss", token: ADMIN, role: "admin" },
      ],
    },
  });
  fs = await connect({ config: c.configPath, token: ADMIN });
}, 90_000);
afterAll(async () => {
  await fs?.close();
  await c?.stop();
});

const ADMIN_ROUTES = [
  META_ROUTES.adminAddMeta,
  META_ROUTES.adminRemoveMeta,
  META_ROUTES.adminDecommissionData,
  META_ROUTES.adminRemoveData,
  META_ROUTES.adminBreakLock,
];

describe("admin routes", () => {
  test("a write-role token gets 403 on every admin route, no token 401; nothing changes", async () => {
    const leader = await c.leader();
    for (const route of ADMIN_ROUTES) {
      const w = await c.http.post(`${c.url(leader)}${route}`, { id: 1 }, bearer(WRITER));
      expect(w.status, route).toBe(403);
      expect(w.body).toMatchObject({ code: "FORBIDDEN" });
      const none = await c.http.post(`${c.url(leader)}${route}`, { id: 1 });
      expect(none.status, route).toBe(401);
    }
    const s = await c.clusterStatus();
    expect(s.data.every((d) => d.state === "active")).toBe(true);
    // The CLI reports the refusal too (exit 1, FORBIDDEN).
    const cli = await runCli(["admin", "decommission", "1", "--config", c.configPath, "--token", WRITER]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toMatch(/FORBIDDEN/);
  });

  test("raftfs admin break-lock removes another client's lock; the holder loses it; a writer may not", async () => {
    const writer = await connect({ config: c.configPath, token: WRITER });
    try {
      const held = await writer.lock("/held", { ttlMs: 60_000 });
      const denied = await runCli([
        "admin",
        "break-lock",
        "/held",
        "--config",
        c.configPath,
        "--token",
        WRITER,
      ]);
      expect(denied.code).toBe(1);
      expect(denied.stderr).toMatch(/FORBIDDEN/);
      const cli = await runCli(["admin", "break-lock", "/held", "--config", c.configPath], {
        env: { RAFTFS_TOKEN: ADMIN },
      });
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toMatch(/broke 1 lock\(s\) on \/held: session \d+ \(exclusive, owner /);
      await expect(held.renew()).rejects.toMatchObject({ code: "LOCK_NOT_HELD" });
      const again = await runCli(["admin", "break-lock", "/held", "--json", "--config", c.configPath], {
        env: { RAFTFS_TOKEN: ADMIN },
      });
      expect(JSON.parse(again.stdout)).toEqual({ path: "/held", broken: [] });
    } finally {
      await writer.close();
    }
  });

  test("a decommissioned data node gets no new chunks; its chunks reach R copies elsewhere; then it is removed", async () => {
    const data = randomBytes(6 * CHUNK + 5);
    await fs.writeFile("/dc/before.bin", data, { createParents: true });
    const chunkIds = (await readChunkIds("/dc/before.bin")).sort();
    // The node holding most of them leaves.
    const holders = await locations(chunkIds);
    const count = new Map<number, number>();
    for (const ids of Object.values(holders)) for (const n of ids) count.set(n, (count.get(n) ?? 0) + 1);
    const victim = [...count.entries()].sort((a, b) => b[1] - a[1])[0]![0];

    const cli = await runCli(["admin", "decommission", String(victim), "--json", "--config", c.configPath], {
      env: { RAFTFS_TOKEN: ADMIN },
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect(JSON.parse(cli.stdout)).toMatchObject({ id: victim, state: "draining" });

    // Every chunk reaches 3 copies on the three other nodes.
    await waitUntil(
      "the drained node's chunks copied elsewhere",
      async () => {
        const where = await locations(chunkIds);
        return chunkIds.every((id) => (where[id] ?? []).filter((n) => n !== victim).length >= 3)
          ? true
          : null;
      },
      30_000,
    );
    const s = await waitUntil("drain reported complete", async () => {
      const st = await c.clusterStatus();
      const d = st.data.find((x) => x.id === victim);
      return d?.state === "draining" && d.drainRemainingChunks === 0 && st.underReplicatedChunks === 0
        ? st
        : null;
    });
    expect(s.data.filter((d) => d.state === "active").map((d) => d.id)).not.toContain(victim);

    // New placements never pick it.
    const leader = await c.leader();
    for (let i = 0; i < 10; i++) {
      const r = await c.http.post(
        `${c.url(leader)}${META_ROUTES.placement}`,
        { chunkId: randomBytes(32).toString("hex"), sizeBytes: 1000 },
        bearer(WRITER),
      );
      expect(r.status).toBe(200);
      const nodes = (r.body as { nodes: { id: number }[] }).nodes.map((n) => n.id);
      expect(nodes).toHaveLength(3);
      expect(nodes).not.toContain(victim);
    }
    const after = randomBytes(3 * CHUNK);
    await fs.writeFile("/dc/after.bin", after);
    const afterIds = await readChunkIds("/dc/after.bin");
    for (const [id, ns] of Object.entries(await locations(afterIds))) expect(ns, id).not.toContain(victim);

    // Removal: the node leaves for good; reads still work without it.
    const removed = await fs.admin.removeDataNode(victim);
    expect(removed).toMatchObject({ id: victim, state: "removed" });
    const st = await c.clusterStatus();
    expect(st.data.find((d) => d.id === victim)).toMatchObject({ state: "removed" });
    await c.killData(victim);
    const reader = await connect({ config: c.configPath, token: WRITER, cacheBytes: 0 });
    try {
      expect((await reader.readFile("/dc/before.bin")).equals(data)).toBe(true);
      expect((await reader.readFile("/dc/after.bin")).equals(after)).toBe(true);
    } finally {
      await reader.close();
    }
  });

  test("removing a metadata replica leaves 2 voters that still commit writes", async () => {
    const leader = await c.leader();
    const gone = c.ids.find((id) => id !== leader)!;
    const cli = await runCli([
      "admin",
      "remove-meta",
      String(gone),
      "--config",
      c.configPath,
      "--token",
      ADMIN,
    ]);
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toMatch(new RegExp(`meta ${gone} removed`));
    // The leader no longer tracks it as a member: no progress for it.
    const st = await c.status(await c.leader());
    expect(st?.peers.find((p) => p.id === gone)?.match).toBeUndefined();
    // It is no longer needed: with it dead, the two voters left commit.
    await c.kill(gone);
    await fs.writeFile("/dc/after-removal.txt", "two voters");
    expect((await fs.readFile("/dc/after-removal.txt")).toString()).toBe("two voters");
    // Removing it twice is refused: it is not a member any more.
    await expect(fs.admin.removeMetaReplica(gone)).rejects.toMatchObject({ code: "CONDITION_FAILED" });
  });
});

async function readChunkIds(path: string): Promise<string[]> {
  const leader = await c.leader();
  const r = await getJson(`${c.url(leader)}${META_ROUTES.read}?path=${encodeURIComponent(path)}`);
  return ((r as { content: { chunks: { id: string }[] } }).content.chunks ?? []).map((x) => x.id);
}

async function locations(ids: string[]): Promise<Record<string, number[]>> {
  const leader = await c.leader();
  const body = (await getJson(`${c.url(leader)}${META_ROUTES.locations}?ids=${ids.join(",")}`)) as {
    locations: Record<string, { id: number }[]>;
  };
  return Object.fromEntries(Object.entries(body.locations).map(([k, v]) => [k, v.map((n) => n.id)]));
}

/** A GET with the admin token (reads need a token once tokens are configured). */
async function getJson(url: string): Promise<unknown> {
  const res = await request(url, { headers: bearer(ADMIN), headersTimeout: 5000, bodyTimeout: 5000 });
  const text = await res.body.text();
  if (res.statusCode !== 200) throw new Error(`GET ${url}: ${res.statusCode} ${text}`);
  return JSON.parse(text);
}
