/**
 * etcd for bench/meta-vs-etcd.ts: a 3-member cluster of Debian's etcd-server on loopback, driven through
 * its v3 JSON gateway (the `post` the bench hands in) or through its own gRPC client (npm etcd3).
 */
import type { ChildProcess } from "node:child_process";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Etcd3 } from "etcd3";
import { freePort, livePids, start, stop, waitFor } from "./procs.js";
import type { System } from "./system.js";

/** JSON POSTs through the bench's current dispatcher. */
export interface JsonPost {
  post(url: string, body: unknown): Promise<{ status: number; json: unknown }>;
  postOk(url: string, body: unknown): Promise<unknown>;
}

export function etcdAvailable(): boolean {
  return spawnSync("etcd", ["--version"], { stdio: "ignore" }).status === 0;
}

export async function startEtcd({ post, postOk }: JsonPost): Promise<System> {
  const dir = mkdtempSync(join(tmpdir(), "etcd-bench-"));
  const members: { id: number; client: number; peer: number }[] = [];
  for (let id = 1; id <= 3; id++) members.push({ id, client: await freePort(), peer: await freePort() });
  const initialCluster = members.map((m) => `m${m.id}=http://127.0.0.1:${m.peer}`).join(",");
  const procs = new Map<number, ChildProcess>();
  const launch = (id: number) => {
    const m = members[id - 1]!;
    procs.set(
      id,
      start("etcd", [
        `--name=m${id}`,
        `--data-dir=${join(dir, `m${id}`)}`,
        `--listen-client-urls=http://127.0.0.1:${m.client}`,
        `--advertise-client-urls=http://127.0.0.1:${m.client}`,
        `--listen-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${m.peer}`,
        `--initial-cluster=${initialCluster}`,
        "--initial-cluster-state=new",
        "--log-level=error",
      ]),
    );
  };
  for (let id = 1; id <= 3; id++) launch(id);
  const urls = new Map(members.map((m) => [m.id, `http://127.0.0.1:${m.client}`]));
  const b64 = (s: string) => Buffer.from(s).toString("base64");
  const sys: System = {
    name: "etcd",
    urls,
    async leader() {
      return waitFor("an etcd leader", async () => {
        for (const [id, url] of urls) {
          const r = await post(`${url}/v3/maintenance/status`, {}).catch(() => null);
          const s = r?.json as { header?: { member_id?: string }; leader?: string } | undefined;
          if (s?.leader && s.header?.member_id === s.leader) return id;
        }
        return null;
      });
    },
    pids: () => livePids(procs),
    async kill(id) {
      await stop(procs.get(id)!);
    },
    async restart(id) {
      launch(id);
    },
    async write(url, i, bytes = 100) {
      await postOk(`${url}/v3/kv/put`, {
        key: b64(`/bench/f${i % 1000}`),
        value: Buffer.alloc(bytes, i % 256).toString("base64"),
      });
    },
    async mkdir(url, i) {
      await postOk(`${url}/v3/kv/put`, { key: b64(`/dirs/d${i}`), value: b64("dir") });
    },
    async read(url, i) {
      await postOk(`${url}/v3/kv/range`, { key: b64(`/bench/f${i % 100}`) });
    },
    async close() {
      for (const p of procs.values()) await stop(p);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return sys;
}

export /** The same etcd cluster through etcd's own gRPC client (npm etcd3): linearizable gets, as the gateway's. */
function etcdGrpc(gateway: System): System {
  const client = new Etcd3({ hosts: [...gateway.urls.values()] });
  return {
    ...gateway,
    name: "etcd gRPC (etcd3)",
    async write(_url, i, bytes = 100) {
      await client.put(`/bench/f${i % 1000}`).value(Buffer.alloc(bytes, i % 256));
    },
    async mkdir(_url, i) {
      await client.put(`/dirs/d${i}`).value("dir");
    },
    async read(_url, i) {
      await client.get(`/bench/f${i % 100}`).buffer();
    },
    async close() {
      client.close();
    },
  };
}
