/**
 * `raftfs meta --id N`: one metadata replica process. Wires LevelDB storage, the HTTP transport, the
 * Raft driver and the API on one fastify server, listens, and stops cleanly on SIGTERM/SIGINT.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import Fastify, { type FastifyInstance, LogController, type RouteOptions } from "fastify";
import { Agent } from "undici";
import {
  type ClusterConfig,
  ConfigError,
  initialVoters,
  loadConfig,
  metaUrl,
  publicSecretVerdict,
} from "../common/config.js";
import { listenerOptions } from "../common/listener.js";
import type { Logger } from "../common/log.js";
import { clusterCa, serverTls } from "../common/tls.js";
import {
  CorruptStoreError,
  HttpTransport,
  LevelStorage,
  type PersistentStorage,
  RaftDriver,
  type Transport,
} from "../raft/index.js";
import { buildMetaServer } from "./app.js";
import { DataTracker } from "./data-tracker.js";
import { FsMachine } from "./fs-machine.js";
import { MetaMetrics } from "./metrics.js";
import { MetaReplica } from "./replica.js";
import { WatchFeed } from "./watch-feed.js";

/** Heartbeats a data node may miss before the leader stops placing new copies on it (it is stale). */
const STALE_AFTER_HEARTBEATS = 3;

export interface RunningMeta {
  replica: MetaReplica;
  url: string;
  close(): Promise<void>;
}

/** What an extra plugin gets to work with: the server before it listens, and the parts behind it. */
export interface MetaPluginContext {
  app: FastifyInstance;
  replica: MetaReplica;
  transport: HttpTransport;
  secret: string;
}

/**
 * Registers extra routes on a replica before it listens. The `raftfs meta` command passes none: the
 * test harness's fault hooks (test/support/) come in only through here, so the production build has
 * no code for them at all.
 */
export type MetaPlugin = (ctx: MetaPluginContext) => void;

export async function runMetaReplica(opts: {
  configPath: string;
  id: number;
  /** Sees every route as it is registered (a test checks that each has a schema). */
  onRoute?: (route: RouteOptions) => void;
  plugins?: readonly MetaPlugin[];
}): Promise<RunningMeta> {
  const config = loadConfig(opts.configPath);
  const self = config.meta.find((m) => m.id === opts.id);
  if (!self) throw new ConfigError(opts.configPath, [`/meta: no replica with id ${opts.id}`]);
  const secretVerdict = publicSecretVerdict(config, self.host);
  if (!secretVerdict.ok) throw new ConfigError(opts.configPath, [secretVerdict.problem]);
  const limits = listenerOptions(config.listener);
  const tls = config.tls !== undefined;
  const tlsFiles = serverTls(config, opts.configPath);
  const tlsCa = clusterCa(config, opts.configPath);

  const metrics = new MetaMetrics(opts.id);
  // Where a restart's time goes (issue 15: a restarted follower caught up within 5 s): logged below.
  const startedAt = performance.now();
  const storage = await LevelStorage.open({
    dir: join(config.dataDir, `meta-${opts.id}`),
    // A `join` replica starts outside the configuration too, and learns its membership from the log.
    initialConf: { voters: initialVoters(config), learners: [], joining: [] },
    identity: { clusterId: clusterIdOf(config), replicaId: opts.id },
  });
  const raftStoreOpenedAt = performance.now();
  const app = Fastify({
    ...(tlsFiles ? { https: { ...limits.node, ...tlsFiles } } : { http: limits.node }),
    ...limits.fastify,
    logger: { level: process.env.RAFTFS_LOG_LEVEL ?? "info" },
    // Per-request lines would drown the Raft events; errors still go through the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: Math.ceil(config.inlineThresholdBytes * 1.4) + 64 * 1024,
  });
  if (opts.onRoute) app.addHook("onRoute", opts.onRoute);
  // Beyond the cap a new connection is closed as soon as it is accepted; open ones keep being served.
  app.server.maxConnections = config.listener.maxConnections;
  const log = app.log.child({ replica: opts.id });
  if (secretVerdict.warning) log.warn(secretVerdict.warning);
  const transport = new HttpTransport(
    {
      secret: config.secret,
      peers: config.meta.filter((m) => m.id !== opts.id).map((m) => ({ id: m.id, url: metaUrl(m, tls) })),
      ...(tlsCa ? { tlsCa } : {}),
    },
    { app, log },
  );
  const replica = await createMetaReplica(config, opts.id, {
    stateDir: join(config.dataDir, `meta-${opts.id}`, "state"),
    storage: metrics.instrument(storage),
    transport,
    log,
    metrics,
  });
  const stateOpenedAt = performance.now();
  metrics.watch(replica);
  // The cluster status asks the other replicas for theirs.
  const peerAgent = new Agent({
    connectTimeout: 1000,
    keepAliveTimeout: 10_000,
    connections: 4,
    headersTimeout: 1000,
    bodyTimeout: 1000,
    ...(tlsCa ? { connect: { ca: tlsCa } } : {}),
  });
  buildMetaServer(
    {
      secret: config.secret,
      tokens: config.tokens,
      inlineThresholdBytes: config.inlineThresholdBytes,
      replication: config.replication,
      minReplication: config.minReplication,
      chunkSizeBytes: config.chunkSizeBytes,
      bodyLimitBytes: Math.ceil(config.inlineThresholdBytes * 1.4) + 64 * 1024,
    },
    { replica, app, metrics, dispatcher: peerAgent },
  );
  for (const plugin of opts.plugins ?? []) plugin({ app, replica, transport, secret: config.secret });
  replica.start();
  try {
    await app.listen({ host: self.host, port: self.port });
  } catch (err) {
    await replica.stop();
    await peerAgent.destroy();
    throw err;
  }
  if (config.tokens.length === 0) {
    log.warn(
      "no client tokens configured: the cluster is open to anyone who can reach it (fine on loopback)",
    );
  }
  // From the process's start (performance.now's origin): loading and config, then each store's open.
  const startMs = {
    load: Math.round(startedAt),
    raftStore: Math.round(raftStoreOpenedAt - startedAt),
    stateStore: Math.round(stateOpenedAt - raftStoreOpenedAt),
    listen: Math.round(performance.now() - stateOpenedAt),
  };
  log.info({ url: metaUrl(self, tls), pid: process.pid, startMs }, "metadata replica listening");
  let closing: Promise<void> | null = null;
  return {
    replica,
    url: metaUrl(self, tls),
    close: () => {
      closing ??= (async () => {
        await app.close();
        await replica.stop();
        await peerAgent.close();
      })();
      return closing;
    },
  };
}

/**
 * The production wiring of a replica: the watch feed, the state machine publishing to it (its state in
 * LevelDB at `stateDir`, beside the Raft log in the replica's folder, so that removing the folder
 * removes both), the Raft driver over storage and transport applying to the machine, and data-node
 * trackers built from the config with the replica's metrics.
 */
export async function createMetaReplica(
  config: ClusterConfig,
  id: number,
  deps: {
    stateDir: string;
    storage: PersistentStorage;
    transport: Transport;
    log: Logger;
    metrics: MetaMetrics;
  },
): Promise<MetaReplica> {
  const feed = new WatchFeed(config.watch);
  const machine = await FsMachine.openDurable(
    {
      versionsRetained: config.versionsRetained,
      sessionTimeoutMs: config.sessionTimeoutMs,
      maxRenameEntries: config.maxRenameEntries,
    },
    feed,
    deps.stateDir,
    { cacheBytes: config.metaStateCacheBytes },
  );
  // The config's raft section holds the driver's settings under the same names (RAFT_SETTINGS).
  const driver = new RaftDriver(
    { id, ...config.raft },
    { storage: deps.storage, transport: deps.transport, stateMachine: machine, log: deps.log },
  );
  const trackerOptions = {
    replication: config.replication,
    deadAfterMs: config.dataNodeDeadAfterMs,
    // Three heartbeats missed: new copies go elsewhere until it reports again (or is judged dead).
    staleAfterMs: STALE_AFTER_HEARTBEATS * config.dataNodeHeartbeatMs,
    secret: config.secret,
    ticketTtlMs: 60_000,
    maxRepairsInFlight: 16,
    garbageGraceMs: config.garbageGraceMs,
    tombstoneRetentionMs: config.tombstoneRetentionMs,
    expectedNodeIds: config.data.map((d) => d.id),
  };
  return new MetaReplica(
    { config, id },
    {
      driver,
      machine,
      feed,
      newTracker: (trackerDeps) => new DataTracker(trackerOptions, { ...trackerDeps, metrics: deps.metrics }),
      metrics: deps.metrics,
      log: deps.log,
    },
  );
}

/**
 * The cluster id kept in each replica's node identity: a hash of the cluster's name and its initial
 * voters, the two things every replica must agree on for their logs to replay alike (and which never
 * change over the cluster's life: members joined later carry `join: true`). Not the secret: a rotated
 * secret must not make every store look foreign.
 */
export function clusterIdOf(config: ClusterConfig): string {
  const voters = initialVoters(config).sort((a, b) => a - b);
  const digest = createHash("sha256").update(JSON.stringify({ name: config.clusterName, voters }));
  return digest.digest("hex").slice(0, 16);
}

/** Turns a start-up failure into the one clear line the process prints before exiting non-zero. */
export function startupFailureLine(err: unknown, what: string): string {
  const e = err as { code?: string; message?: string };
  if (e?.code === "EADDRINUSE") return `${what}: ${e.message ?? "address in use"} (port already in use)`;
  if (err instanceof CorruptStoreError) return `${what}: the metadata store is damaged: ${err.message}`;
  if (err instanceof ConfigError) return err.message;
  return `${what}: ${e?.message ?? String(err)}`;
}
