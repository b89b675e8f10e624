/**
 * The metadata suites' front door to the one process harness (cluster-harness.ts's `TestCluster`):
 * replicas addressed by id, a raw HTTP client, and a raw client session. Every process runs the built
 * code (`dist/`, made by `npm run build` before the suite), with LevelDB in a temp folder; tests kill
 * them with real signals.
 */
import { Agent, request } from "undici";
import type { ClusterStatus, ReplicaStatus } from "../../src/common/protocol/index.js";
import { freePort, TestCluster, waitFor } from "./cluster-harness.js";

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

/**
 * The replica-first view of a `TestCluster` that the metadata suites use: replicas by id alone
 * (`kill(id)`, `url(id)`), data nodes through `…Data` methods, and a raw HTTP client. It starts the
 * servers as modules (or with the fault hooks), 40 ms ticks, zones `a`, `b`, … and the product's
 * chunk sizes.
 */
export class MetaCluster {
  readonly urls: Map<number, string>;
  readonly dataUrls: Map<number, string>;
  readonly http = new Http();

  private constructor(readonly cluster: TestCluster) {
    this.urls = cluster.urls.meta;
    this.dataUrls = cluster.urls.data;
  }

  get dir(): string {
    return this.cluster.dir;
  }

  get configPath(): string {
    return this.cluster.configPath;
  }

  get ids(): number[] {
    return this.cluster.metaIds;
  }

  static async start(opts: MetaClusterOptions = {}): Promise<MetaCluster> {
    const dataNodes = opts.dataNodes ?? 0;
    const cluster = await TestCluster.start({
      metaCount: opts.replicas ?? 3,
      dataCount: dataNodes,
      launcher: opts.faults ? "faults" : "module",
      // 40 ms ticks: elections within 0.4–0.8 s, and none spurious when CI loads both cores.
      tickIntervalMs: 40,
      zone: (i) => String.fromCharCode(97 + i),
      joining: opts.joining,
      dir: opts.dir,
      scrubEveryMs: opts.scrubEveryMs,
      productSizes: true,
      env: opts.env,
      overrides: {
        // Death noticed and garbage collected within these suites' patience.
        ...(dataNodes > 0 ? { dataNodeDeadAfterMs: 2000, garbageGraceMs: 1500 } : {}),
        ...opts.extra,
        raft: opts.raft,
      },
    });
    return new MetaCluster(cluster);
  }

  launch(id: number): void {
    this.cluster.launch("meta", id);
  }

  launchData(id: number): void {
    this.cluster.launch("data", id);
  }

  /** Sends a signal to a data node (default SIGKILL); waits for the exit when the signal ends it. */
  killData(id: number, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    return this.cluster.kill("data", id, signal);
  }

  dataRunning(id: number): boolean {
    return this.cluster.alive("data", id);
  }

  dataLogs(id: number): string {
    return this.cluster.logs("data", id);
  }

  /** The leader's view of the cluster (data nodes, replication health). */
  clusterStatus(): Promise<ClusterStatus> {
    return this.cluster.status();
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
    return this.cluster.kill("meta", id, signal);
  }

  restart(id: number): Promise<void> {
    return this.cluster.restart("meta", id);
  }

  async status(id: number): Promise<ReplicaStatus | null> {
    try {
      const r = await this.http.get(`${this.url(id)}/status`);
      return r.status === 200 ? (r.body as ReplicaStatus) : null;
    } catch {
      return null;
    }
  }

  /** The replica that leads, per its own /status (bounded wait). */
  leader(timeoutMs = 60_000): Promise<number> {
    return this.cluster.leaderId(timeoutMs);
  }

  alive(id: number): boolean {
    return this.cluster.alive("meta", id);
  }

  pid(id: number): number | undefined {
    return this.cluster.pid("meta", id);
  }

  url(id: number): string {
    return this.cluster.url("meta", id);
  }

  logs(id: number): string {
    return this.cluster.logs("meta", id);
  }

  /** Kills every process (paused ones too); removes the folder the cluster made itself. */
  async stop(): Promise<void> {
    await this.cluster.stop();
    await this.http.close();
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
