/**
 * The cluster configuration: one TypeBox schema, defaults applied, every error listed, result frozen.
 * Units are in the names (…Ms, …Bytes, …Ticks) so that no reader has to guess.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { dirname, resolve } from "node:path";
import Type, { type Static, type TBoolean, type TInteger, type TNumber, type TSchema } from "typebox";
import Value from "typebox/value";
import { MAX_UPLOAD_AGE_MS } from "./protocol/meta.js";
import { RAFT_SETTINGS, type RaftSettingName, type RaftSettingSpec } from "./raft-settings.js";

const SECRET_LENGTH_MIN = 8;
/** The secret a config without one gets. */
const SCHEMA_DEFAULT_SECRET = "raftfs-insecure-default-secret";
/**
 * Secrets anyone can read in this repository (the schema's default and the shipped
 * cluster.config.json's): they protect nothing, so they are allowed on loopback only.
 */
export const PUBLIC_SECRETS: readonly string[] = [SCHEMA_DEFAULT_SECRET, "change-me-raftfs-local-secret"];

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

type RaftSettingSchemas = {
  [K in RaftSettingName]: (typeof RAFT_SETTINGS)[K]["kind"] extends "boolean"
    ? TBoolean
    : (typeof RAFT_SETTINGS)[K]["kind"] extends "integer"
      ? TInteger
      : TNumber;
};

function raftSettingSchema(spec: RaftSettingSpec): TSchema {
  if (spec.kind === "boolean") return Type.Boolean({ default: spec.default, description: spec.doc });
  const opts = { minimum: spec.minimum, default: spec.default, description: spec.doc };
  return spec.kind === "integer" ? Type.Integer(opts) : Type.Number(opts);
}

/** The `raft` section, derived from RAFT_SETTINGS (names, defaults, bounds written there once). */
const RaftSettings = Type.Object(
  Object.fromEntries(
    Object.entries(RAFT_SETTINGS).map(([name, spec]) => [name, raftSettingSchema(spec)]),
  ) as RaftSettingSchemas,
  { additionalProperties: false, default: {} },
);

/**
 * The change feed's long-polls (`GET /v1/watch`). A client is its token's name, or its remote address
 * when the cluster has no tokens. `afterSlackEntries`: how far a client's `after` may run ahead of
 * this replica's applied index (it may have read it from a replica further ahead) before it is a
 * bad request.
 */
const WatchSettings = Type.Object(
  {
    maxWaiters: Type.Integer({ minimum: 1, default: 10_000 }),
    maxWaitersPerClient: Type.Integer({ minimum: 1, default: 1_000 }),
    maxChanges: Type.Integer({ minimum: 16, default: 10_000 }),
    afterSlackEntries: Type.Integer({ minimum: 0, default: 10_000 }),
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

/**
 * What every listener (metadata replica, data node) allows a connection. The defaults leave room for
 * a 60 s watch long-poll (the socket idles while it waits) and a 4 MiB chunk uploaded at ~40 KiB/s
 * (the request timeout); the Raft stream (`/raft/stream`) is an upgraded socket, outside both.
 */
const ListenerSettings = Type.Object(
  {
    /** Time to receive a request's headers: a client that never finishes them (slowloris) is cut. */
    headersTimeoutMs: Type.Integer({ minimum: 100, default: 10_000 }),
    /** Time to receive a whole request, body included (not the answer: a long poll may wait longer). */
    requestTimeoutMs: Type.Integer({ minimum: 100, default: 120_000 }),
    /** A socket with no traffic at all for this long is closed (above the 60 s watch long-poll). */
    idleTimeoutMs: Type.Integer({ minimum: 100, default: 90_000 }),
    /** An idle keep-alive connection is closed after this (above the clients' 10 s pools). */
    keepAliveTimeoutMs: Type.Integer({ minimum: 100, default: 65_000 }),
    /** Connections beyond this are refused at once; the ones already open keep being served. */
    maxConnections: Type.Integer({ minimum: 1, default: 1024 }),
    /** Request line plus headers, in bytes. */
    maxHeaderBytes: Type.Integer({ minimum: 1024, default: 16 * 1024 }),
    /** How often node looks for connections past their headers or request timeout. */
    timeoutCheckIntervalMs: Type.Integer({ minimum: 10, default: 1000 }),
  },
  { additionalProperties: false, default: {} },
);

/** One S3 access key. `token`: the name of a `tokens` entry whose role the key acts with (none: no token). */
const S3AccessKey = Type.Object(
  {
    accessKeyId: Type.String({ minLength: 3, maxLength: 128, pattern: "^[A-Za-z0-9_.-]+$" }),
    secretAccessKey: Type.String({ minLength: 8, maxLength: 256 }),
    token: Type.Optional(Type.String({ minLength: 1 })),
  },
  { additionalProperties: false },
);

/**
 * The S3 gateway (`raftfs s3`, started by `cluster up` when present). `domain`: virtual-host-style
 * addressing for `<bucket>.<domain>` hosts; path style always works.
 */
const S3Settings = Type.Object(
  {
    host: Type.String({ minLength: 1, default: "127.0.0.1" }),
    port: Type.Integer({ minimum: 0, maximum: 65535, default: 9000 }),
    region: Type.String({ minLength: 1, default: "us-east-1" }),
    domain: Type.Optional(Type.String({ minLength: 1 })),
    accessKeys: Type.Array(S3AccessKey, { default: [] }),
    /** Largest object (and part) a PUT may carry. */
    maxObjectBytes: Type.Integer({ minimum: 1, default: 5 * 1024 * 1024 * 1024 }),
    /** Smallest part of a multipart upload but the last (S3's 5 MiB; tests of other things lower it). */
    minPartSizeBytes: Type.Integer({ minimum: 0, default: 5 * 1024 * 1024 }),
  },
  { additionalProperties: false },
);

export const ClusterConfigSchema = Type.Object(
  {
    clusterName: Type.String({ minLength: 1, default: "raftfs" }),
    dataDir: Type.String({ minLength: 1, default: "./data" }),
    secret: Type.String({ minLength: SECRET_LENGTH_MIN, default: SCHEMA_DEFAULT_SECRET }),
    replication: Type.Integer({ minimum: 1, maximum: 16, default: 3 }),
    // The fewest copies a chunk is written to while fewer than `replication` data nodes can take it
    // (the rest are made by repair when nodes come back). Unset: half of the chunk's R, rounded up.
    minReplication: Type.Optional(Type.Integer({ minimum: 1, maximum: 16 })),
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
    // Entries one log entry may move by renames (a rename's subtree; all renames of a txn together):
    // apply re-keys each moved entry, so this bounds how long one entry holds every replica. The
    // state machine enforces it, so every replica must have the same value.
    maxRenameEntries: Type.Integer({ minimum: 1, default: 10_000 }),
    // Bytes of state records a replica caches in memory (the state itself lives in LevelDB beside the
    // Raft log, so this and not the namespace bounds a replica's memory; LevelDB adds its own 8 MiB).
    metaStateCacheBytes: Type.Integer({ minimum: 1024 * 1024, default: 32 * 1024 * 1024 }),
    watch: WatchSettings,
    // Chunk GETs a data node serves at once (each may hold a chunk in memory); beyond, 503 at once.
    dataMaxConcurrentReads: Type.Integer({ minimum: 1, maximum: 4096, default: 64 }),
    raft: RaftSettings,
    meta: Type.Array(MetaNode, { minItems: 1 }),
    data: Type.Array(DataNode, { default: [] }),
    tokens: Type.Array(Token, { default: [] }),
    tls: Type.Optional(Tls),
    listener: ListenerSettings,
    s3: Type.Optional(S3Settings),
  },
  { additionalProperties: false },
);

export type ClusterConfig = Static<typeof ClusterConfigSchema>;
export type MetaNodeConfig = Static<typeof MetaNode>;
export type DataNodeConfig = Static<typeof DataNode>;
export type RaftSettingsConfig = Static<typeof RaftSettings>;
export type WatchSettingsConfig = Static<typeof WatchSettings>;
export type TlsConfig = Static<typeof Tls>;
export type ListenerConfig = Static<typeof ListenerSettings>;
export type S3Config = Static<typeof S3Settings>;

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
  // The environment overrides the file's secret, under the same rule as the file.
  const envSecret = process.env.RAFTFS_SECRET;
  if (envSecret !== undefined && envSecret !== "" && envSecret.length < SECRET_LENGTH_MIN) {
    problems.push(`RAFTFS_SECRET: must NOT have fewer than ${SECRET_LENGTH_MIN} characters`);
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
  if (envSecret) cfg.secret = envSecret;
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
  if (cfg.listener.headersTimeoutMs > cfg.listener.requestTimeoutMs) {
    problems.push("/listener: headersTimeoutMs must not exceed requestTimeoutMs");
  }
  if (cfg.meta.every((m) => m.join)) problems.push("/meta: every replica has join: true; none can bootstrap");
  for (const k of cfg.s3?.accessKeys ?? []) {
    if (k.token !== undefined && !cfg.tokens.some((t) => t.name === k.token)) {
      problems.push(`/s3/accessKeys: ${k.accessKeyId} names the token "${k.token}", which /tokens lacks`);
    }
  }
  if (cfg.minReplication !== undefined && cfg.minReplication > cfg.replication) {
    problems.push(`/minReplication: ${cfg.minReplication} exceeds replication (${cfg.replication})`);
  }
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

/** True for an address that only this machine can reach: 127.0.0.0/8, ::1, `localhost`. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (h === "localhost") return true;
  const v4 = h.startsWith("::ffff:") ? h.slice(7) : h;
  if (isIP(v4) === 4) return v4.startsWith("127.");
  return isIP(h) === 6 && (h === "::1" || /^(0{1,4}:){7}0{0,3}1$/.test(h));
}

/**
 * Whether a process may start with this config's secret: a secret of the user's own always; a public
 * one (PUBLIC_SECRETS) only when every address (its own listener and every node of the cluster) is
 * loopback — anyone who can reach a non-loopback address knows it. The refusal is one line.
 */
export function publicSecretVerdict(
  config: ClusterConfig,
  listenHost: string,
): { ok: true; warning: string | null } | { ok: false; problem: string } {
  if (!PUBLIC_SECRETS.includes(config.secret)) return { ok: true, warning: null };
  const exposed = [listenHost, ...config.meta.map((m) => m.host), ...config.data.map((d) => d.host)].find(
    (h) => !isLoopbackHost(h),
  );
  if (exposed !== undefined) {
    return {
      ok: false,
      problem: `/secret: the shipped default secret is refused on the non-loopback address ${exposed}; set a secret of your own in the config or RAFTFS_SECRET`,
    };
  }
  return { ok: true, warning: "the cluster uses the shipped default secret: fine on loopback only" };
}
