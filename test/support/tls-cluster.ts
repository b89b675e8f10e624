/**
 * A cluster of real processes that serves TLS on every listener, for the TLS end-to-end test: a
 * self-signed cert for 127.0.0.1 made with openssl in a temp folder, a config naming it, and every
 * process started through the built CLI. Health checks trust the cert, as the client does.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "undici";
import type { ClusterStatus } from "../../src/common/protocol/index.js";
import { CLI, waitFor } from "./cluster-harness.js";
import { freePorts, ProcessGroup, writeClusterConfig } from "./processes.js";

/** A self-signed P-256 cert valid for 127.0.0.1 and localhost, for one day. */
export function selfSignedCert(dir: string, name = "cluster"): { certPath: string; keyPath: string } {
  const certPath = join(dir, `${name}.crt`);
  const keyPath = join(dir, `${name}.key`);
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1,DNS:localhost",
      "-keyout",
      keyPath,
      "-out",
      certPath,
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  return { certPath, keyPath };
}

export class TlsCluster {
  private readonly procs = new ProcessGroup();

  private constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly certPath: string,
    readonly metaPorts: number[],
    readonly dataPorts: number[],
    readonly agent: Agent,
  ) {}

  static async start(opts: { metaCount?: number; dataCount?: number; extra?: object } = {}) {
    const dir = mkdtempSync(join(tmpdir(), "raftfs-tls-"));
    const { certPath } = selfSignedCert(dir);
    const ports = await freePorts((opts.metaCount ?? 3) + (opts.dataCount ?? 3));
    const metaPorts = ports.slice(0, opts.metaCount ?? 3);
    const dataPorts = ports.slice(metaPorts.length);
    const config = {
      dataDir: join(dir, "data"),
      secret: "tls-test-secret-0123456789",
      replication: Math.min(3, dataPorts.length),
      chunkSizeBytes: 64 * 1024,
      inlineThresholdBytes: 4096,
      freeSpaceReserveBytes: 0,
      dataNodeHeartbeatMs: 200,
      dataNodeDeadAfterMs: 3000,
      raft: { tickIntervalMs: 40, electionTimeoutTicks: 10 },
      tls: { certPath: "cluster.crt", keyPath: "cluster.key" },
      meta: metaPorts.map((port, i) => ({ id: i + 1, host: "127.0.0.1", port })),
      data: dataPorts.map((port, i) => ({ id: i + 1, host: "127.0.0.1", port, zone: `z${i + 1}` })),
      ...opts.extra,
    };
    const configPath = writeClusterConfig(dir, config);
    const agent = new Agent({
      connectTimeout: 1000,
      headersTimeout: 2000,
      bodyTimeout: 2000,
      connect: { ca: readFileSync(certPath) },
    });
    const c = new TlsCluster(dir, configPath, certPath, metaPorts, dataPorts, agent);
    try {
      for (const [i] of metaPorts.entries()) c.launch("meta", i + 1);
      for (const [i] of dataPorts.entries()) c.launch("data", i + 1);
      await c.ready();
    } catch (err) {
      await c.stop();
      throw new Error(
        `${(err as Error).message}\n${c.procs
          .names()
          .map((n) => c.log(n))
          .join("\n")}`,
      );
    }
    return c;
  }

  metaUrl(id: number): string {
    return `https://127.0.0.1:${this.metaPorts[id - 1]}`;
  }

  dataUrl(id: number): string {
    return `https://127.0.0.1:${this.dataPorts[id - 1]}`;
  }

  private launch(kind: "meta" | "data", id: number): void {
    this.procs.launch(`${kind}-${id}`, [CLI, kind, "--id", String(id), "--config", this.configPath], {
      env: { RAFTFS_LOG_LEVEL: "warn" },
    });
  }

  /** GET over https with the cluster cert trusted; null when nothing answers 200. */
  async get<T>(url: string): Promise<T | null> {
    try {
      const u = new URL(url);
      const r = await this.agent.request({ origin: u.origin, path: u.pathname, method: "GET" });
      const text = await r.body.text();
      return r.statusCode === 200 ? (JSON.parse(text) as T) : null;
    } catch {
      return null;
    }
  }

  /** A leader, and every data node alive in its view. */
  ready(timeoutMs = 60_000): Promise<ClusterStatus> {
    return waitFor(
      "a leader and every data node registered (over TLS)",
      async () => {
        for (const [i] of this.metaPorts.entries()) {
          const s = await this.get<ClusterStatus>(`${this.metaUrl(i + 1)}/v1/cluster/status`);
          if (s && s.leader !== null && s.data.every((d) => d.alive)) return s;
        }
        return null;
      },
      timeoutMs,
    );
  }

  log(name: string): string {
    return this.procs.log(name);
  }

  async stop(): Promise<void> {
    await this.procs.killAll();
    await this.agent.close();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
