/**
 * A raftfs cluster spread over network namespaces (test/support/netns.ts): metadata replicas and data
 * nodes each in their own namespace, grouped in zones, started from one cluster.config.json with their
 * real addresses (`ip netns exec … node dist/src/cli/main.js meta|data --id N --config F`), exactly
 * as on separate machines. The test process reaches them from the root namespace's address on the
 * private subnet. Shared by `npm run test:netns` (test/netns/run.ts) and bench/netns-cluster.ts.
 */
import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { request } from "undici";
import type { ReplicaStatus } from "../../src/common/protocol/index.js";
import { NetnsLab, sweepStale } from "../support/netns.js";
import { type LinkOf, planLab } from "../support/netns-plan.js";
import { ProcessGroup, writeClusterConfig } from "../support/processes.js";
import { waitFor } from "../support/wait.js";

export const CLI = resolve("dist/src/cli/main.js");
const META_PORT = 7100;
const DATA_PORT = 7200;

export interface NetnsClusterOptions {
  zones: string[];
  /** Zone of each metadata replica (ids 1..n) and data node (ids 1..n). */
  metaZones: string[];
  dataZones: string[];
  link: LinkOf;
  /** The test process's zone (whose links its traffic crosses). */
  clientZone: string;
  /** Merged over the config. */
  overrides?: Record<string, unknown>;
}

/** A delay/jitter/loss table from RTTs per unordered zone pair ("a-b"), the same zone cheap. */
export function zoneLinks(
  rttMs: Record<string, number>,
  opts: { jitterMs: number; lossPerMille: number; sameZoneRttMs?: number },
): LinkOf {
  return (x, y) => {
    if (x === y) return { rttMs: opts.sameZoneRttMs ?? 0.5, jitterMs: 0, lossPerMille: 0 };
    const rtt = rttMs[`${x}-${y}`] ?? rttMs[`${y}-${x}`];
    if (rtt === undefined) throw new Error(`no RTT for zones ${x}-${y}`);
    return { rttMs: rtt, jitterMs: opts.jitterMs, lossPerMille: opts.lossPerMille };
  };
}

export class NetnsCluster {
  private readonly procs = new ProcessGroup();

  private constructor(
    readonly lab: NetnsLab,
    readonly dir: string,
    readonly configPath: string,
    readonly opts: NetnsClusterOptions,
  ) {}

  static async start(opts: NetnsClusterOptions, log: (l: string) => void): Promise<NetnsCluster> {
    sweepStale(log);
    const hosts = [
      ...opts.metaZones.map((zone, i) => ({ name: `m${i + 1}`, zone, servicePort: META_PORT })),
      ...opts.dataZones.map((zone, i) => ({ name: `d${i + 1}`, zone, servicePort: DATA_PORT })),
    ];
    const plan = planLab(String(process.pid), opts.zones, hosts);
    const lab = await NetnsLab.create(plan, opts.link, opts.clientZone);
    const dir = mkdtempSync(join(tmpdir(), "raftfs-netns-"));
    const addr = (name: string) => lab.host(name).address;
    const config = {
      clusterName: "raftfs-netns",
      dataDir: join(dir, "data"),
      // Not a public secret: the listeners are on non-loopback addresses.
      secret: randomBytes(16).toString("hex"),
      replication: 3,
      chunkSizeBytes: 64 * 1024,
      inlineThresholdBytes: 4096,
      freeSpaceReserveBytes: 0,
      dataNodeHeartbeatMs: 500,
      dataNodeDeadAfterMs: 5000,
      ...opts.overrides,
      meta: opts.metaZones.map((_, i) => ({ id: i + 1, host: addr(`m${i + 1}`), port: META_PORT })),
      data: opts.dataZones.map((zone, i) => ({ id: i + 1, host: addr(`d${i + 1}`), port: DATA_PORT, zone })),
    };
    const configPath = writeClusterConfig(dir, config);
    const c = new NetnsCluster(lab, dir, configPath, opts);
    try {
      for (let i = 1; i <= opts.metaZones.length; i++) c.launch("meta", i);
      for (let i = 1; i <= opts.dataZones.length; i++) c.launch("data", i);
      await c.ready();
    } catch (err) {
      await c.stop();
      throw err;
    }
    return c;
  }

  get metaIds(): number[] {
    return this.opts.metaZones.map((_, i) => i + 1);
  }

  metaUrl(id: number): string {
    return `http://${this.lab.host(`m${id}`).address}:${META_PORT}`;
  }

  metaZone(id: number): string {
    return this.opts.metaZones[id - 1] ?? "";
  }

  dataZone(id: number): string {
    return this.opts.dataZones[id - 1] ?? "";
  }

  launch(kind: "meta" | "data", id: number): void {
    const name = NetnsCluster.procName(kind, id);
    const child = this.lab.spawnIn(
      name,
      process.execPath,
      [CLI, kind, "--id", String(id), "--config", this.configPath],
      { env: { RAFTFS_LOG_LEVEL: "warn" } },
    );
    this.procs.adopt(name, child);
  }

  private static procName(kind: "meta" | "data", id: number): string {
    return `${kind === "meta" ? "m" : "d"}${id}`;
  }

  /** SIGKILLs a process and waits for it to end. */
  kill(kind: "meta" | "data", id: number): Promise<void> {
    return this.procs.kill(NetnsCluster.procName(kind, id));
  }

  /** Sends a signal to a running process (SIGSTOP pauses it, SIGCONT resumes it). */
  signal(kind: "meta" | "data", id: number, sig: NodeJS.Signals): void {
    void this.procs.kill(NetnsCluster.procName(kind, id), sig);
  }

  alive(kind: "meta" | "data", id: number): boolean {
    return this.procs.alive(NetnsCluster.procName(kind, id));
  }

  /** The tail of every process's output (for a failure's report). */
  logs(): string {
    return this.procs
      .names()
      .map((n) => `--- ${n} (exit ${this.procs.child(n)?.exitCode})\n${this.procs.log(n)}`)
      .join("\n");
  }

  /** Each replica's own /status, or null for one that does not answer within 1 s. */
  async statuses(): Promise<Map<number, ReplicaStatus | null>> {
    const out = new Map<number, ReplicaStatus | null>();
    await Promise.all(
      this.metaIds.map(async (id) => {
        try {
          const res = await request(`${this.metaUrl(id)}/status`, {
            headersTimeout: 1000,
            bodyTimeout: 1000,
          });
          const text = await res.body.text();
          out.set(id, res.statusCode === 200 ? (JSON.parse(text) as ReplicaStatus) : null);
        } catch {
          // Cut off, down or slow: "no answer" is what the caller polls on.
          out.set(id, null);
        }
      }),
    );
    return out;
  }

  /** A leader, and every data node alive in its view. */
  async ready(timeoutMs = 90_000): Promise<void> {
    await waitFor(
      "a leader and every data node registered",
      async () => {
        for (const id of this.metaIds) {
          const res = await request(`${this.metaUrl(id)}/v1/cluster/status`, {
            headersTimeout: 2000,
            bodyTimeout: 2000,
          });
          const s = (await res.body.json()) as { leader: number | null; data: { alive: boolean }[] };
          if (res.statusCode === 200 && s.leader !== null && s.data.every((d) => d.alive)) return true;
        }
        return null;
      },
      { timeoutMs, intervalMs: 200 },
    );
  }

  /** Chunk ids on each data node's disk: `<dataDir>/data-<id>/chunks/<2 hex>/<id>`. */
  chunksOnDisk(): Map<number, Set<string>> {
    const out = new Map<number, Set<string>>();
    this.opts.dataZones.forEach((_, i) => {
      const root = join(this.dir, "data", `data-${i + 1}`, "chunks");
      const ids = new Set<string>();
      let folders: string[] = [];
      try {
        folders = readdirSync(root);
      } catch {
        // A node that never stored a chunk has no folder yet.
      }
      for (const f of folders) {
        for (const name of readdirSync(join(root, f))) if (/^[0-9a-f]{64}$/.test(name)) ids.add(name);
      }
      out.set(i + 1, ids);
    });
    return out;
  }

  async stop(): Promise<void> {
    await this.lab.destroy();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
