/**
 * A real Raft cluster in one process: each node has its own fastify server on 127.0.0.1, HTTP
 * transport, LevelDB store in a temp dir, driver and counter state machine. Nodes can be stopped and
 * restarted from their stores on the same port. (Clusters of server processes: test/support/processes.ts.)
 */
import { join } from "node:path";
import Fastify, { type FastifyInstance } from "fastify";
import type { ConfState, NodeId, RaftSettings } from "../../src/raft/core/index.js";
import { RaftDriver } from "../../src/raft/driver.js";
import { LevelStorage } from "../../src/raft/level-storage.js";
import { HttpTransport } from "../../src/raft/transport.js";
import {
  type CounterDisk,
  CounterMachine,
  DurableCounterMachine,
  makeTempDir,
  removeDir,
  waitFor,
} from "./helpers.js";

const SECRET = "cluster-test-secret";

export interface TestNode {
  id: NodeId;
  dir: string;
  port: number;
  app: FastifyInstance;
  transport: HttpTransport;
  storage: LevelStorage;
  driver: RaftDriver;
  sm: CounterMachine;
  running: boolean;
}

export class InProcessCluster {
  readonly nodes = new Map<NodeId, TestNode>();
  readonly fatalErrors: unknown[] = [];
  /** With `durableMachines`: each node's machine store, which outlives its restarts. */
  private readonly disks = new Map<NodeId, CounterDisk>();
  private durableMachines = false;

  private constructor(
    private readonly root: string,
    private readonly tuning: Partial<RaftSettings>,
    private readonly conf: ConfState,
  ) {}

  /** `durableMachines`: every node runs a DurableCounterMachine (its state kept apart from the log). */
  static async start(
    size: number,
    tuning: Partial<RaftSettings>,
    opts: { durableMachines?: boolean } = {},
  ): Promise<InProcessCluster> {
    const ids = Array.from({ length: size }, (_, i) => i + 1);
    const c = new InProcessCluster(await makeTempDir("raftfs-cluster-"), tuning, {
      voters: ids,
      learners: [],
      joining: [],
    });
    c.durableMachines = opts.durableMachines === true;
    // Listen first, so that every node knows every port before any driver starts.
    const parts = await Promise.all(ids.map((id) => c.serve(id, 0)));
    for (const p of parts) c.nodes.set(p.id, p as TestNode);
    for (const id of ids) await c.boot(id);
    return c;
  }

  node(id: NodeId): TestNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  running(): TestNode[] {
    return [...this.nodes.values()].filter((n) => n.running);
  }

  /** Waits until one running node leads and every running node knows it. */
  async leader(timeoutMs = 10_000): Promise<TestNode> {
    let found: TestNode | undefined;
    await waitFor(
      () => {
        const live = this.running();
        const leaders = live.filter((n) => n.driver.status().role === "leader");
        found = leaders[0];
        return leaders.length === 1 && live.every((n) => n.driver.status().leaderId === found!.id);
      },
      "a leader known to all",
      timeoutMs,
    );
    return found!;
  }

  followers(): TestNode[] {
    return this.running().filter((n) => n.driver.status().role !== "leader");
  }

  async waitConverged(count: number, timeoutMs = 10_000): Promise<void> {
    await waitFor(
      () => this.running().every((n) => n.sm.values.length === count),
      `all running nodes to apply ${count} values`,
      timeoutMs,
    );
  }

  async stop(id: NodeId): Promise<void> {
    const n = this.node(id);
    if (!n.running) return;
    n.running = false;
    await n.driver.stop();
    await n.app.close();
  }

  /** The stopped node loses its disk: its whole store is deleted (it restarts on an empty one). */
  async wipe(id: NodeId): Promise<void> {
    const n = this.node(id);
    if (n.running) throw new Error(`wipe(${id}) of a running node`);
    await removeDir(n.dir);
  }

  /** Restarts a stopped node from its LevelDB store, on its old port. */
  async restart(id: NodeId): Promise<void> {
    const old = this.node(id);
    const part = await this.serve(id, old.port);
    Object.assign(old, part);
    await this.boot(id);
  }

  async close(): Promise<void> {
    for (const n of this.nodes.values()) await this.stop(n.id);
    await removeDir(this.root);
  }

  private async serve(
    id: NodeId,
    port: number,
  ): Promise<Pick<TestNode, "id" | "dir" | "port" | "app" | "transport">> {
    const app = Fastify();
    const transport = new HttpTransport({ secret: SECRET }, { app });
    await app.listen({ host: "127.0.0.1", port });
    const address = app.server.address();
    if (address === null || typeof address === "string") throw new Error("no port");
    return { id, dir: join(this.root, `node-${id}`), port: address.port, app, transport };
  }

  private async boot(id: NodeId): Promise<void> {
    const n = this.node(id);
    for (const peer of this.nodes.values()) {
      if (peer.id !== id) n.transport.setPeer(peer.id, `http://127.0.0.1:${peer.port}`);
    }
    n.storage = await LevelStorage.open({
      dir: n.dir,
      initialConf: this.conf,
      identity: { clusterId: "test", replicaId: id },
    });
    if (this.durableMachines) {
      const disk = this.disks.get(id) ?? { applied: 0, values: [] };
      this.disks.set(id, disk);
      n.sm = new DurableCounterMachine(disk);
    } else {
      n.sm = new CounterMachine();
    }
    n.driver = new RaftDriver(
      { id, ...this.tuning },
      {
        storage: n.storage,
        transport: n.transport,
        stateMachine: n.sm,
        onFatal: (err) => this.fatalErrors.push(err),
      },
    );
    n.driver.start();
    n.running = true;
  }
}
