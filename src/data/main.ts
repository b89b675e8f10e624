/**
 * `raftfs data --id N`: one data node process. Loads the config, opens the chunk store under
 * `<dataDir>/data-<id>/`, listens, starts the scrubber and the link to the metadata leader, and stops
 * cleanly on SIGTERM/SIGINT. `startDataNode` is the same without the process handling (for tests and
 * launchers in one process); `runDataNode` is the process entry.
 */
import { join } from "node:path";
import Fastify, { type FastifyInstance, LogController } from "fastify";
import { Agent } from "undici";
import { ConfigError, loadConfig, metaUrl, publicSecretVerdict } from "../common/config.js";
import { EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE } from "../common/errors.js";
import { listenerOptions } from "../common/listener.js";
import { clusterCa, serverTls } from "../common/tls.js";
import { ChunkStore } from "./chunk-store.js";
import { LeaderLink } from "./leader-link.js";
import { DataMetrics } from "./metrics.js";
import { Pipeline } from "./pipeline.js";
import { DEFAULT_SCRUBBER_OPTIONS, Scrubber, type ScrubberOptions } from "./scrubber.js";
import { buildDataServer, frameworkErrors } from "./server.js";

/** What an extra plugin gets to work with: the server before it listens, and the parts behind it. */
export interface DataPluginContext {
  app: FastifyInstance;
  link: LeaderLink;
  store: ChunkStore;
  secret: string;
}

/**
 * Registers extra routes on a data node before it listens. The `raftfs data` command passes none: the
 * test harness's fault hooks (test/support/) come in only through here, so the production build has
 * no code for them at all.
 */
export type DataPlugin = (ctx: DataPluginContext) => void;

export interface DataNodeRunOptions {
  configPath: string;
  id: number;
  scrubber?: Partial<ScrubberOptions>;
  plugins?: readonly DataPlugin[];
}

export interface RunningDataNode {
  id: number;
  url: string;
  store: ChunkStore;
  link: LeaderLink;
  scrubber: Scrubber;
  close(): Promise<void>;
}

/** Downstream data nodes and the leader must answer within this (a 4 MiB chunk over a slow link). */
const DOWNSTREAM_TIMEOUT_MS = 30_000;
/** In-flight requests get this long to finish at shutdown; then their connections are cut. */
const CLOSE_GRACE_MS = 5000;
/** The first scrub pass waits until start-up traffic (registration, catch-up copies) has settled. */
const SCRUB_FIRST_DELAY_MS = 30_000;

export async function startDataNode(opts: DataNodeRunOptions): Promise<RunningDataNode> {
  const config = loadConfig(opts.configPath);
  const self = config.data.find((d) => d.id === opts.id);
  if (!self) throw new ConfigError(opts.configPath, [`/data: no data node with id ${opts.id}`]);
  const secretVerdict = publicSecretVerdict(config, self.host);
  if (!secretVerdict.ok) throw new ConfigError(opts.configPath, [secretVerdict.problem]);
  const limits = listenerOptions(config.listener);
  const tls = config.tls !== undefined;
  const tlsFiles = serverTls(config, opts.configPath);
  const tlsCa = clusterCa(config, opts.configPath);
  const url = metaUrl(self, tls);
  const peers = new Map(config.data.map((d) => [d.id, metaUrl(d, tls)]));

  const store = await ChunkStore.open({
    dir: join(config.dataDir, `data-${opts.id}`),
    chunkSizeBytes: config.chunkSizeBytes,
    freeSpaceReserveBytes: config.freeSpaceReserveBytes,
  });
  const dispatcher = new Agent({
    connectTimeout: 5000,
    keepAliveTimeout: 10_000,
    connections: 64,
    headersTimeout: DOWNSTREAM_TIMEOUT_MS,
    bodyTimeout: DOWNSTREAM_TIMEOUT_MS,
    // The leader and the other data nodes serve the cluster cert under TLS.
    ...(tlsCa ? { connect: { ca: tlsCa } } : {}),
  });
  const app = Fastify({
    ...(tlsFiles ? { https: { ...limits.node, ...tlsFiles } } : { http: limits.node }),
    ...limits.fastify,
    logger: { level: process.env.RAFTFS_LOG_LEVEL ?? "info", redact: ["req.headers.x-raftfs-secret"] },
    // One line per chunk would drown everything else; failures still go through the error handler.
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: 1024 * 1024,
    frameworkErrors,
  });
  // Beyond the cap a new connection is closed as soon as it is accepted; open ones keep being served.
  app.server.maxConnections = config.listener.maxConnections;
  const log = app.log.child({ dataNode: opts.id });
  if (secretVerdict.warning) log.warn(secretVerdict.warning);
  const pipeline = new Pipeline(
    {
      nodeId: opts.id,
      secret: config.secret,
      chunkSizeBytes: config.chunkSizeBytes,
      downstreamTimeoutMs: DOWNSTREAM_TIMEOUT_MS,
    },
    { store, dispatcher, now: Date.now, peerUrl: (id) => peers.get(id) },
  );
  const scrubber = new Scrubber(
    { ...DEFAULT_SCRUBBER_OPTIONS, ...opts.scrubber },
    {
      store,
      onCorrupt: (chunkId) => log.warn({ chunkId }, "scrubber found a corrupt chunk: quarantined"),
      onError: (err) => log.error({ err }, "scrubber could not read a chunk"),
    },
  );
  const link = new LeaderLink(
    {
      nodeId: opts.id,
      url,
      zone: self.zone,
      secret: config.secret,
      meta: config.meta.map((m) => ({ id: m.id, url: metaUrl(m, tls) })),
      heartbeatMs: config.dataNodeHeartbeatMs,
      reportDelayMs: 10,
      backoffMsMin: 50,
      backoffMsMax: Math.max(2000, config.dataNodeHeartbeatMs * 2),
      requestTimeoutMs: Math.max(2000, config.dataNodeHeartbeatMs * 2),
      maxConcurrentReplications: 2,
      maxQueuedReplications: 1000,
    },
    { store, pipeline, dispatcher, log: log.child({ component: "leader-link" }) },
  );
  const metrics = new DataMetrics(opts.id);
  metrics.watch(store, () => scrubber.progress());
  buildDataServer(
    {
      nodeId: opts.id,
      url,
      zone: self.zone,
      secret: config.secret,
      chunkSizeBytes: config.chunkSizeBytes,
      maxConcurrentReads: config.dataMaxConcurrentReads,
    },
    { store, app, pipeline, dispatcher, scrubber, link, metrics },
  );
  for (const plugin of opts.plugins ?? []) plugin({ app, link, store, secret: config.secret });
  try {
    await app.listen({ host: self.host, port: self.port });
  } catch (err) {
    await app.close();
    await dispatcher.destroy();
    throw err;
  }
  link.start();
  scrubber.start(SCRUB_FIRST_DELAY_MS);
  log.info(
    { url, pid: process.pid, chunks: store.chunkCount, usedBytes: store.usedBytes },
    "data node listening",
  );

  let closing: Promise<void> | null = null;
  return {
    id: opts.id,
    url,
    store,
    link,
    scrubber,
    close: () => {
      closing ??= (async () => {
        await Promise.all([link.stop(), scrubber.stop()]);
        const cut = setTimeout(() => app.server.closeAllConnections(), CLOSE_GRACE_MS);
        await app.close();
        clearTimeout(cut);
        await dispatcher.destroy();
      })();
      return closing;
    },
  };
}

/** The one line a failed start prints, and the exit code that goes with it. */
export function dataNodeStartupFailure(err: unknown, id: number): { line: string; exitCode: number } {
  const e = err as { code?: string; message?: string };
  if (err instanceof ConfigError) {
    return {
      line: `data node ${id}: invalid config ${err.source}: ${err.problems.join("; ")}`,
      exitCode: EXIT_USAGE,
    };
  }
  if (e?.code === "EADDRINUSE") {
    return { line: `data node ${id}: ${e.message ?? "address in use"} (port already in use)`, exitCode: 1 };
  }
  return { line: `data node ${id}: ${e?.message ?? String(err)}`, exitCode: 1 };
}

/**
 * The process entry: starts the node, or prints one line on stderr and exits non-zero; on SIGTERM or
 * SIGINT closes cleanly and exits (0, or 130 after Ctrl-C). Resolves once the node is serving.
 */
export async function runDataNode(opts: {
  configPath: string;
  id: number;
  plugins?: readonly DataPlugin[];
}): Promise<RunningDataNode> {
  let node: RunningDataNode;
  try {
    node = await startDataNode(opts);
  } catch (err) {
    const { line, exitCode } = dataNodeStartupFailure(err, opts.id);
    process.stderr.write(`${line}\n`);
    process.exit(exitCode);
  }
  const stop = (signal: NodeJS.Signals) => {
    // A second signal while closing means "now".
    process.once(signal, () => process.exit(EXIT_INTERRUPTED));
    node.close().then(
      () => process.exit(signal === "SIGINT" ? EXIT_INTERRUPTED : EXIT_OK),
      (err: unknown) => {
        process.stderr.write(`data node ${opts.id}: error while stopping: ${(err as Error).message}\n`);
        process.exit(1);
      },
    );
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  return node;
}
