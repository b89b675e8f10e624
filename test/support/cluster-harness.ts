/**
 * A whole cluster of real processes on loopback for end-to-end tests: metadata replicas and data
 * nodes started through the built CLI (`node dist/src/cli/main.js meta|data --id N`, so run
 * `npm run build` first), a config with free ports and a temp data folder, and helpers to kill,
 * pause, restart and drive the CLI. `stop()` kills everything; every child is also killed when the
 * test process exits, so a failing test leaves nothing behind.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent, request } from "undici";
import type { ClusterStatus } from "../../src/common/protocol/index.js";
import { selfSignedCert } from "./certs.js";
import { freePorts, ProcessGroup, trackChild, writeClusterConfig } from "./processes.js";
import { CLI, type Launcher, type ServerKind, serverLaunch } from "./server-launch.js";
import { type TestConfig, testClusterConfig } from "./test-config.js";
import { freePort, waitFor } from "./wait.js";

export { CLI };
export type Kind = ServerKind;

export { freePort, waitFor };

export interface CliResult {
  code: number;
  stdout: string;
  stdoutBytes: Buffer;
  stderr: string;
}

export interface CliOptions {
  input?: string | Buffer;
  env?: Record<string, string>;
  timeoutMs?: number;
  cwd?: string;
}

/** Runs the built CLI with `args`; resolves when it exits (killed after `timeoutMs`). */
export function runCli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    trackChild(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 60_000);
    child.once("error", reject);
    child.once("close", (code, signal) => {
      clearTimeout(timer);
      const stdoutBytes = Buffer.concat(out);
      resolvePromise({
        code: code ?? 128 + (signal === "SIGKILL" ? 9 : 15),
        stdout: stdoutBytes.toString("utf8"),
        stdoutBytes,
        stderr: Buffer.concat(err).toString("utf8"),
      });
    });
    child.stdin.on("error", () => undefined); // a CLI that exits without reading its input
    child.stdin.end(opts.input ?? "");
  });
}

export interface ClusterOptions {
  metaCount?: number;
  dataCount?: number;
  /** Merged over the test config (`raft` is merged one level deep). */
  overrides?: Record<string, unknown>;
  env?: Record<string, string>;
  /**
   * TLS on every listener: a self-signed cert for 127.0.0.1 in the cluster's folder (`certPath`), the
   * config naming it, URLs in https, and the harness's own checks trusting it as the client does.
   */
  tls?: boolean;
  /** How the servers start (see server-launch.ts). Default `cli`, as a user starts them. */
  launcher?: Launcher;
  /** Raft tick. Default 20 ms. */
  tickIntervalMs?: number;
  /** The zone of the i-th data node (0-based). Default `z1`, `z2`, … */
  zone?: (i: number) => string;
  /** Replicas configured with `join: true` and not started: a test adds them (`raftfs admin add-meta`). */
  joining?: number[];
  /**
   * The folder to run in instead of a fresh temp one, so a test can put a process's data directory on
   * a mount of its own (test/support/lazyfs). The caller owns it: `stop()` leaves it in place.
   */
  dir?: string;
  /** Data nodes run a pass of their own scrubber this often (`module` and `faults` launchers). */
  scrubEveryMs?: number;
  /**
   * The product's chunk and inline sizes. By default the cluster uses small ones (64 KiB chunks,
   * 4 KiB inline), so that modest test files span several chunks.
   */
  productSizes?: boolean;
}

export class TestCluster {
  private readonly procs = new ProcessGroup();
  /** Trusts the cluster's own cert when it serves TLS; the default dispatcher otherwise. */
  private readonly dispatcher: Agent | undefined;

  private constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly config: TestConfig,
    private readonly opts: ClusterOptions,
    /** The cluster's self-signed cert, when it serves TLS. */
    readonly certPath?: string,
  ) {
    this.dispatcher =
      certPath === undefined
        ? undefined
        : new Agent({ connectTimeout: 1000, connect: { ca: readFileSync(certPath) } });
    const scheme = certPath === undefined ? "http" : "https";
    const url = (port: number) => `${scheme}://127.0.0.1:${port}`;
    this.urls = {
      meta: new Map(config.meta.map((m) => [m.id, url(m.port)])),
      data: new Map(config.data.map((d) => [d.id, url(d.port)])),
    };
  }

  get metaIds(): number[] {
    return this.config.meta.map((m) => m.id);
  }

  get dataIds(): number[] {
    return this.config.data.map((d) => d.id);
  }

  /** URLs by kind and id. */
  readonly urls: { meta: Map<number, string>; data: Map<number, string> };

  get metaUrls(): string[] {
    return [...this.urls.meta.values()];
  }

  url(kind: Kind, id: number): string {
    const u = this.urls[kind].get(id);
    if (u === undefined) throw new Error(`no ${kind} ${id}`);
    return u;
  }

  static async start(opts: ClusterOptions = {}): Promise<TestCluster> {
    const metaCount = opts.metaCount ?? 3;
    const dataCount = opts.dataCount ?? 3;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "raftfs-cluster-"));
    const ports = await freePorts(metaCount + dataCount);
    const certPath = opts.tls ? selfSignedCert(dir).certPath : undefined;
    const config = testClusterConfig({
      dir,
      metaPorts: ports.slice(0, metaCount),
      dataPorts: ports.slice(metaCount),
      tickIntervalMs: opts.tickIntervalMs ?? 20,
      zone: opts.zone,
      joining: opts.joining,
      overrides: {
        ...(opts.productSizes ? {} : { chunkSizeBytes: 64 * 1024, inlineThresholdBytes: 4096 }),
        ...(opts.tls ? { tls: { certPath: "cluster.crt", keyPath: "cluster.key" } } : {}),
        ...opts.overrides,
      },
    });
    const configPath = writeClusterConfig(dir, config);
    const c = new TestCluster(dir, configPath, config, opts, certPath);
    try {
      for (const id of c.metaIds) if (!opts.joining?.includes(id)) c.launch("meta", id);
      for (const id of c.dataIds) c.launch("data", id);
      await c.ready();
    } catch (err) {
      const logs = c.procs.names().map((n) => `${n}: ${c.procs.log(n)}`);
      await c.stop();
      throw new Error([(err as Error).message, ...logs].join("\n"));
    }
    return c;
  }

  launch(kind: Kind, id: number): void {
    const { args, opts } = serverLaunch({
      launcher: this.opts.launcher ?? "cli",
      kind,
      id,
      configPath: this.configPath,
      scrubEveryMs: this.opts.scrubEveryMs,
    });
    this.procs.launch(`${kind}-${id}`, args, { ...opts, env: { ...opts.env, ...this.opts.env } });
  }

  alive(kind: Kind, id: number): boolean {
    return this.procs.alive(`${kind}-${id}`);
  }

  pid(kind: Kind, id: number): number | undefined {
    return this.procs.pid(`${kind}-${id}`);
  }

  logs(kind: Kind, id: number): string {
    return this.procs.log(`${kind}-${id}`);
  }

  /** Sends a signal (default SIGKILL); waits for the process to end when the signal ends it. */
  kill(kind: Kind, id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.procs.kill(`${kind}-${id}`, signal);
  }

  /** Kills (SIGKILL) and starts again; waits until it answers its /status. */
  async restart(kind: Kind, id: number): Promise<void> {
    await this.kill(kind, id, "SIGCONT");
    await this.kill(kind, id, "SIGKILL");
    this.launch(kind, id);
    await waitFor(`${kind} ${id} to answer`, async () =>
      (await this.get(this.url(kind, id), "/status")) ? true : null,
    );
  }

  /** The replica that leads, per its own /status (waits for one). */
  async leaderId(timeoutMs = 30_000): Promise<number> {
    return waitFor(
      "a leader",
      async () => {
        for (const id of this.metaIds) {
          if (!this.alive("meta", id)) continue;
          const s = (await this.get(this.url("meta", id), "/status")) as { role?: string } | null;
          if (s?.role === "leader") return id;
        }
        return null;
      },
      timeoutMs,
    );
  }

  /** The leader's cluster status. */
  async status(): Promise<ClusterStatus> {
    const leader = await this.leaderId();
    return waitFor(
      "the cluster status",
      async () => (await this.get(this.url("meta", leader), "/v1/cluster/status")) as ClusterStatus | null,
    );
  }

  /**
   * A leader, and every data node alive in its view. Two minutes by default: seven processes that
   * each load tsx (the `faults` launcher) can take over a minute to answer on a loaded machine.
   */
  async ready(timeoutMs = 120_000): Promise<ClusterStatus> {
    return waitFor(
      "a leader and every data node registered",
      async () => {
        for (const id of this.metaIds) {
          const s = (await this.get(this.url("meta", id), "/v1/cluster/status")) as ClusterStatus | null;
          if (s && s.leader !== null && s.data.every((d) => d.alive)) return s;
        }
        return null;
      },
      timeoutMs,
    );
  }

  /** A data node's Prometheus counter (sum over labels matching `filter`). */
  dataMetric(id: number, name: string, filter = ""): Promise<number> {
    return this.metric("data", id, name, filter);
  }

  /** A server's Prometheus counter (sum over labels matching `filter`). */
  async metric(kind: Kind, id: number, name: string, filter = ""): Promise<number> {
    const res = await request(`${this.url(kind, id)}/metrics`, {
      dispatcher: this.dispatcher,
      headersTimeout: 2000,
      bodyTimeout: 2000,
    });
    const text = await res.body.text();
    let sum = 0;
    for (const l of text.split("\n")) {
      if (l.startsWith(`${name}{`) || l.startsWith(`${name} `)) {
        if (filter && !l.includes(filter)) continue;
        sum += Number(l.slice(l.lastIndexOf(" ") + 1));
      }
    }
    return sum;
  }

  /** Runs the built CLI against this cluster (RAFTFS_CONFIG points at its config). */
  cli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
    return runCli(args, { ...opts, env: { RAFTFS_CONFIG: this.configPath, ...opts.env } });
  }

  private async get(url: string, path: string): Promise<unknown> {
    try {
      const res = await request(`${url}${path}`, {
        dispatcher: this.dispatcher,
        headersTimeout: 1000,
        bodyTimeout: 1000,
      });
      const text = await res.body.text();
      return res.statusCode === 200 ? JSON.parse(text) : null;
    } catch {
      // Not up yet, killed or paused: every caller polls, so "no answer" is the answer.
      return null;
    }
  }

  /** Kills every process (paused ones too) and removes the folder. Safe to call twice. */
  async stop(): Promise<void> {
    await this.procs.killAll();
    await this.dispatcher?.close();
    if (this.opts.dir === undefined) rmSync(this.dir, { recursive: true, force: true });
  }
}

export function startCluster(opts: ClusterOptions = {}): Promise<TestCluster> {
  return TestCluster.start(opts);
}
