/**
 * The cluster configuration: one TypeBox schema, defaults applied, every error listed, result frozen.
 * Units are in the names (…Ms, …Bytes, …Ticks) so that no reader has to guess.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Type, { type Static } from "typebox";
import Value from "typebox/value";
import { MAX_UPLOAD_AGE_MS } from "./protocol/meta.js";

const Port = Type.Integer({ minimum: 1, maximum: 65535 });
const Host = Type.String({ minLength: 1, default: "127.0.0.1" });

const MetaNode = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    host: Host,
    port: Port,
    /**
     * Not one of the initial voters: the replica joins a running cluster as a learner through
     * `raftfs admin add-meta <id>` (keep the flag afterwards: every replica must agree on the bootstrap).
     */
    join: Type.Boolean({ default: false }),
  },
  { additionalProperties: false },
);

const DataNode = Type.Object(
  {
    id: Type.Integer({ minimum: 1 }),
    host: Host,
    port: Port,
    zone: Type.String({ minLength: 1, default: "default" }),
  },
  { additionalProperties: false },
);

const RaftSettings = Type.Object(
  {
    tickIntervalMs: Type.Integer({ minimum: 1, default: 50 }),
    electionTimeoutTicks: Type.Integer({ minimum: 2, default: 10 }),
    heartbeatIntervalTicks: Type.Integer({ minimum: 1, default: 1 }),
    maxInflightAppends: Type.Integer({ minimum: 1, default: 4 }),
    maxEntriesPerAppend: Type.Integer({ minimum: 1, default: 512 }),
    maxBytesPerAppend: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
    maxUncommittedBytes: Type.Integer({ minimum: 1024, default: 64 * 1024 * 1024 }),
    snapshotEveryEntries: Type.Integer({ minimum: 1, default: 10_000 }),
    snapshotLogBytesRatio: Type.Number({ minimum: 0, default: 1 }),
    snapshotKeepEntries: Type.Integer({ minimum: 0, default: 1_000 }),
    snapshotChunkBytes: Type.Integer({ minimum: 1024, default: 1024 * 1024 }),
    leaseReads: Type.Boolean({ default: false }),
  },
  { additionalProperties: false, default: {} },
);

const Token = Type.Object(
  {
    name: Type.String({ minLength: 1 }),
    token: Type.String({ minLength: 8 }),
    role: Type.Union([Type.Literal("read"), Type.Literal("write"), Type.Literal("admin")]),
  },
  { additionalProperties: false },
);

/** Paths relative to the config file. `caPath` is what every client trusts; default: the cert itself. */
const Tls = Type.Object(
  {
    certPath: Type.String({ minLength: 1 }),
    keyPath: Type.String({ minLength: 1 }),
    caPath: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

export const ClusterConfigSchema = Type.Object(
  {
    clusterName: Type.String({ minLength: 1, default: "raftfs" }),
    dataDir: Type.String({ minLength: 1, default: "./data" }),
    secret: Type.String({ minLength: 8, default: "raftfs-insecure-default-secret" }),
    replication: Type.Integer({ minimum: 1, maximum: 16, default: 3 }),
    chunkSizeBytes: Type.Integer({ minimum: 4096, maximum: 64 * 1024 * 1024, default: 4 * 1024 * 1024 }),
    inlineThresholdBytes: Type.Integer({ minimum: 0, maximum: 1024 * 1024, default: 64 * 1024 }),
    versionsRetained: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
    sessionTimeoutMs: Type.Integer({ minimum: 1000, default: 10 * 60 * 1000 }),
    dataNodeDeadAfterMs: Type.Integer({ minimum: 500, default: 10_000 }),
    dataNodeHeartbeatMs: Type.Integer({ minimum: 100, default: 1000 }),
    garbageGraceMs: Type.Integer({ minimum: 0, default: 10 * 60 * 1000 }),
    // At least twice MAX_UPLOAD_AGE_MS (see there): shorter would let a slow upload's commit succeed
    // for chunks that were collected.
    tombstoneRetentionMs: Type.Integer({ minimum: 2 * MAX_UPLOAD_AGE_MS, default: 7 * 24 * 60 * 60 * 1000 }),
    freeSpaceReserveBytes: Type.Integer({ minimum: 0, default: 256 * 1024 * 1024 }),
    // Chunk GETs a data node serves at once (each may hold a chunk in memory); beyond, 503 at once.
    dataMaxConcurrentReads: Type.Integer({ minimum: 1, maximum: 4096, default: 64 }),
    raft: RaftSettings,
    meta: Type.Array(MetaNode, { minItems: 1 }),
    data: Type.Array(DataNode, { default: [] }),
    tokens: Type.Array(Token, { default: [] }),
    tls: Type.Optional(Tls),
  },
  { additionalProperties: false },
);

export type ClusterConfig = Static<typeof ClusterConfigSchema>;
export type MetaNodeConfig = Static<typeof MetaNode>;
export type DataNodeConfig = Static<typeof DataNode>;
export type RaftSettingsConfig = Static<typeof RaftSettings>;
export type TlsConfig = Static<typeof Tls>;

export class ConfigError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    super(`invalid config ${source}:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "ConfigError";
  }
}

function deepFreeze<T>(value: T): T {
  if (typeof value === "object" && value !== null) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/** Checks a parsed config: applies defaults, lists every problem at once, resolves `dataDir`, freezes. */
export function parseConfig(raw: unknown, opts: { source?: string; baseDir?: string } = {}): ClusterConfig {
  const source = opts.source ?? "<inline>";
  const withDefaults = Value.Default(ClusterConfigSchema, structuredClone(raw));
  const problems = [...Value.Errors(ClusterConfigSchema, withDefaults)].map(
    (e) => `${e.instancePath || "/"}: ${e.message}`,
  );
  if (problems.length === 0) {
    const cfg = withDefaults as ClusterConfig;
    problems.push(...uniquenessProblems(cfg));
  }
  if (problems.length > 0) throw new ConfigError(source, problems);
  const cfg = withDefaults as ClusterConfig;
  const baseDir = opts.baseDir ?? process.cwd();
  cfg.dataDir = resolve(baseDir, cfg.dataDir);
  if (cfg.tls) {
    cfg.tls.certPath = resolve(baseDir, cfg.tls.certPath);
    cfg.tls.keyPath = resolve(baseDir, cfg.tls.keyPath);
    if (cfg.tls.caPath !== undefined) cfg.tls.caPath = resolve(baseDir, cfg.tls.caPath);
  }
  if (process.env.RAFTFS_SECRET) cfg.secret = process.env.RAFTFS_SECRET;
  return deepFreeze(cfg);
}

function uniquenessProblems(cfg: ClusterConfig): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const [kind, nodes] of [
    ["meta", cfg.meta],
    ["data", cfg.data],
  ] as const) {
    const ids = new Set<number>();
    for (const n of nodes) {
      if (ids.has(n.id)) problems.push(`/${kind}: duplicate id ${n.id}`);
      ids.add(n.id);
      const addr = `${n.host}:${n.port}`;
      if (seen.has(addr)) problems.push(`/${kind}: address ${addr} is used twice`);
      seen.add(addr);
    }
  }
  if (cfg.meta.every((m) => m.join)) problems.push("/meta: every replica has join: true; none can bootstrap");
  if (cfg.replication > Math.max(cfg.data.length, 1) && cfg.data.length > 0) {
    problems.push(`/replication: ${cfg.replication} exceeds the ${cfg.data.length} data nodes`);
  }
  return problems;
}

/** The path a command uses: `--config`, else `RAFTFS_CONFIG`, else `./cluster.config.json`. */
export function configPath(explicit?: string): string {
  return resolve(explicit ?? process.env.RAFTFS_CONFIG ?? "cluster.config.json");
}

export function loadConfig(path: string): ClusterConfig {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, [`cannot read: ${(err as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(path, [`not valid JSON: ${(err as Error).message}`]);
  }
  return parseConfig(raw, { source: path, baseDir: dirname(path) });
}

/** The voters every replica starts from (the same on all, so that their logs replay alike). */
export function initialVoters(config: ClusterConfig): number[] {
  return config.meta.filter((m) => !m.join).map((m) => m.id);
}

export function metaUrl(node: { host: string; port: number }, tls = false): string {
  return `${tls ? "https" : "http"}://${node.host}:${node.port}`;
}
