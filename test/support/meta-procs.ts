/**
 * Real metadata replica processes on loopback for end-to-end tests: each replica runs the built
 * code (`dist/`, made by `npm run build` before the suite) in its own Node process, with LevelDB in a
 * temp folder. Tests kill them with real signals.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { Agent, request } from "undici";
import type { ClusterStatus, ReplicaStatus } from "../../src/common/protocol/index.js";
import { freePort, waitFor } from "./cluster-harness.js";
import { freePorts, ProcessGroup, writeClusterConfig } from "./processes.js";
import { testClusterConfig } from "./test-config.js";

// One implementation of these for every harness (cluster-harness.ts drives the CLI).
export { freePort };
export const waitUntil = waitFor;

export interface HttpResult {
  status: number;
  body: unknown;
}

export class Http {
  private readonly agent = new Agent({ connectTimeout: 1000, headersTimeout: 5000, bodyTimeout: 5000 });

  async get(url: string, headers: Record<string, string> = {}): Promise<HttpResult> {
    const res = await request(url, { dispatcher: this.agent, headers });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : null };
  }

  async post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<HttpResult> {
    const res = await request(url, {
      method: "POST",
      body: typeof body === "string" ? body : JSON.stringify(body),
      headers: { "content-type": "application/json", ...headers },
      dispatcher: this.agent,
    });
    const text = await res.body.text();
    return { status: res.statusCode, body: text ? JSON.parse(text) : null };
  }

  close(): Promise<void> {
    return this.agent.close();
  }
}

export interface MetaClusterOptions {
  replicas?: number;
  /** Replicas configured with `join: true` and not started: a test adds them (`raftfs admin add-meta`). */
  joining?: number[];
  /** Data nodes to start as well (zones a, b, c, ...). */
  dataNodes?: number;
  raft?: Record<string, unknown>;
  extra?: Record<string, unknown>;
  env?: Record<string, string>;
  /**
   * Starts every process through test/support/fault-process.ts, with the test-only fault routes
   * (`/internal/test/...`, test/support/fault-hooks.ts) that production servers do not have.
   */
  faults?: boolean;
  /**
   * Runs a scrub pass of every data node's own scrubber this often (the node's built-in first pass
   * waits 30 s after start, too late for a test). Off by default.
   */
  scrubEveryMs?: number;
  /**
   * The folder to run in (config, `data/meta-N`, `data/data-N`) instead of a fresh temp one, so a test
   * can put a process's data directory on a mount of its own (test/support/lazyfs). The caller owns
   * it: `stop()` leaves it in place.
   */
  dir?: string;
}

export class MetaCluster {
  readonly urls = new Map<number, string>();
  readonly dataUrls = new Map<number, string>();
  readonly http = new Http();
  /** Replicas as `meta-<id>`, data nodes as `data-<id>`. */
  private readonly procs = new ProcessGroup();
  private ownsDir = true;

  private constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly ids: number[],
    private readonly env: Record<string, string>,
    private readonly scrubEveryMs: number | undefined,
    private readonly faults: boolean,
  ) {}

  static async start(opts: MetaClusterOptions = {}): Promise<MetaCluster> {
    const n = opts.replicas ?? 3;
    const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "raftfs-e2e-"));
    const allPorts = await freePorts(n + (opts.dataNodes ?? 0));
    const ports = allPorts.slice(0, n);
    const dataPorts = allPorts.slice(n);
    const config = testClusterConfig({
      dir,
      metaPorts: ports,
      dataPorts,
      // 40 ms ticks: elections within 0.4–0.8 s, and none spurious when CI loads both cores.
      tickIntervalMs: 40,
      zone: (i) => String.fromCharCode(97 + i),
      joining: opts.joining,
      overrides: {
        // Death noticed and garbage collected within these suites' patience.
        ...(dataPorts.length > 0 ? { dataNodeDeadAfterMs: 2000, garbageGraceMs: 1500 } : {}),
        ...opts.extra,
        raft: opts.raft,
      },
    });
    const configPath = writeClusterConfig(dir, config);
    const c = new MetaCluster(
      dir,
      configPath,
      ports.map((_, i) => i + 1),
      opts.env ?? {},
      opts.scrubEveryMs,
      opts.faults ?? false,
    );
    c.ownsDir = opts.dir === undefined;
    for (const [i, p] of ports.entries()) c.urls.set(i + 1, `http://127.0.0.1:${p}`);
    for (const [i, p] of dataPorts.entries()) c.dataUrls.set(i + 1, `http://127.0.0.1:${p}`);
    for (const id of c.ids) if (!opts.joining?.includes(id)) c.launch(id);
    for (const id of c.dataUrls.keys()) c.launchData(id);
    await c.leader();
    if (dataPorts.length > 0) await c.dataAlive([...c.dataUrls.keys()]);
    return c;
  }

  /** The node arguments that start a process with the fault hooks (the test-only entry point). */
  private faultArgs(kind: "meta" | "data", id: number): string[] {
    const entry = resolve("test/support/fault-process.ts");
    const scrub = kind === "data" && this.scrubEveryMs !== undefined ? [String(this.scrubEveryMs)] : [];
    return ["--import", "tsx", entry, kind, this.configPath, String(id), ...scrub];
  }

  launch(id: number): void {
    const main = resolve("dist/src/meta/main.js");
    const code = [
      `const m = await import(${JSON.stringify(main)});`,
      `const r = await m.runMetaReplica({ configPath: ${JSON.stringify(this.configPath)}, id: ${id} });`,
      `for (const s of ["SIGTERM", "SIGINT"]) process.on(s, () => r.close().then(() => process.exit(0)));`,
    ].join("\n");
    const args = this.faults ? this.faultArgs("meta", id) : ["--input-type=module", "-e", code];
    this.procs.launch(`meta-${id}`, args, {
      env: { RAFTFS_LOG_LEVEL: "error", ...this.env },
      keep: "stderr",
    });
  }

  launchData(id: number): void {
    const main = resolve("dist/src/data/main.js");
    const start = `const m = await import(${JSON.stringify(main)}); const n = await m.runDataNode({ configPath: ${JSON.stringify(this.configPath)}, id: ${id} });`;
    // One pass at a time, through the node's own scrubber (quarantine, report to the leader, repair).
    const scrub =
      this.scrubEveryMs === undefined
        ? ""
        : `let busy = false; setInterval(() => { if (busy) return; busy = true; n.scrubber.runPass().finally(() => { busy = false; }); }, ${this.scrubEveryMs});`;
    const code = `${start}\n${scrub}`;
    const args = this.faults ? this.faultArgs("data", id) : ["--input-type=module", "-e", code];
    this.procs.launch(`data-${id}`, args, {
      env: { RAFTFS_LOG_LEVEL: "error", ...this.env },
      keep: "stderr",
    });
  }

  /** Sends a signal to a data node (default SIGKILL); waits for the exit when the signal ends it. */
  killData(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.procs.kill(`data-${id}`, signal);
  }

  dataRunning(id: number): boolean {
    return this.procs.alive(`data-${id}`);
  }

  dataLogs(id: number): string {
    return this.procs.log(`data-${id}`);
  }

  /** The leader's view of the cluster (data nodes, replication health). */
  async clusterStatus(): Promise<ClusterStatus> {
    return waitUntil("the cluster status", async () => {
      const r = await this.http.get(`${this.url(await this.leader())}/v1/cluster/status`);
      return r.status === 200 ? (r.body as ClusterStatus) : null;
    });
  }

  /** Waits until the leader sees exactly these data nodes alive (the others dead). */
  async dataAlive(ids: number[], timeoutMs = 60_000): Promise<ClusterStatus> {
    const want = [...ids].sort().join(",");
    return waitUntil(
      `data nodes ${want} alive`,
      async () => {
        const s = await this.clusterStatus();
        const alive = s.data
          .filter((d) => d.alive)
          .map((d) => d.id)
          .sort()
          .join(",");
        return alive === want ? s : null;
      },
      timeoutMs,
    );
  }

  /** Sends a signal (default SIGKILL); waits for the exit when the signal ends the process. */
  kill(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.procs.kill(`meta-${id}`, signal);
  }

  async restart(id: number): Promise<void> {
    await this.kill(id);
    this.launch(id);
    await waitUntil(`replica ${id} to answer`, async () => ((await this.status(id)) ? true : null));
  }

  async status(id: number): Promise<ReplicaStatus | null> {
    try {
      const r = await this.http.get(`${this.urls.get(id)}/status`);
      return r.status === 200 ? (r.body as ReplicaStatus) : null;
    } catch {
      return null;
    }
  }

  /** The replica that leads, as every live replica agrees (bounded wait). */
  async leader(timeoutMs = 60_000): Promise<number> {
    return waitUntil(
      "a leader",
      async () => {
        for (const id of this.ids) {
          const s = await this.status(id);
          if (s?.role === "leader") return id;
        }
        return null;
      },
      timeoutMs,
    );
  }

  alive(id: number): boolean {
    return this.procs.alive(`meta-${id}`);
  }

  pid(id: number): number | undefined {
    return this.procs.pid(`meta-${id}`);
  }

  url(id: number): string {
    return this.urls.get(id)!;
  }

  logs(id: number): string {
    return this.procs.log(`meta-${id}`);
  }

  /** Kills every process (paused ones too); removes the folder the cluster made itself. */
  async stop(): Promise<void> {
    await this.procs.killAll();
    await this.http.close();
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A client session for raw HTTP tests: numbers mutations, lets a test retry one with the same seq. */
export class RawSession {
  seq = 0;
  constructor(
    readonly id: number,
    private readonly secret: string,
    private readonly cluster: MetaCluster,
  ) {}

  /**
   * Opens at `leader`, following a new leader if it lost its place meanwhile (a loaded machine may
   * elect again between finding the leader and this call); any other refusal fails at once.
   */
  static async open(cluster: MetaCluster, leader: number): Promise<RawSession> {
    let at = leader;
    const opened = await waitUntil("a session to open", async () => {
      const r = await cluster.http.post(`${cluster.url(at)}/v1/sessions`, {});
      if (r.status === 200) return r.body as { sessionId: number; secret: string };
      const code = (r.body as { code?: string } | null)?.code;
      if (code !== "NOT_LEADER" && code !== "UNAVAILABLE") {
        throw new Error(`open session: ${JSON.stringify(r.body)}`);
      }
      at = await cluster.leader();
      return null;
    });
    return new RawSession(opened.sessionId, opened.secret, cluster);
  }

  next(): { id: number; seq: number; ackedSeq: number; secret: string } {
    this.seq++;
    return { id: this.id, seq: this.seq, ackedSeq: 0, secret: this.secret };
  }

  /** Posts a mutation to whichever replica leads, following NOT_LEADER, retrying the same seq. */
  async mutate(route: string, body: Record<string, unknown>, timeoutMs = 15_000): Promise<HttpResult> {
    const session = this.next();
    return waitUntil(
      `${route} to be accepted`,
      async () => {
        const leader = await this.cluster.leader();
        const r = await this.cluster.http.post(`${this.cluster.url(leader)}${route}`, { ...body, session });
        if (r.status === 421 || r.status === 503) return null;
        return r;
      },
      timeoutMs,
    );
  }
}

export const inline = (text: string) => ({
  kind: "inline",
  dataBase64: Buffer.from(text).toString("base64"),
});
