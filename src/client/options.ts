/**
 * `connect()` options and their defaults. A client is made from a cluster config (which names every
 * replica and data node and the cluster's sizes) or from a bare list of replica URLs.
 */
import { readFileSync } from "node:fs";
import { type BackoffOptions, DEFAULT_BACKOFF } from "../common/backoff.js";
import { type ClusterConfig, loadConfig, metaUrl } from "../common/config.js";
import { DfsError } from "../common/errors.js";
import { clusterCa } from "../common/tls.js";

export type MetadataCacheMode = "revalidate" | "watch";

export interface ConnectOptions {
  /** Path of a cluster config (`cluster.config.json`). */
  config?: string;
  /** Or: metadata replica URLs (`http://host:port`). */
  endpoints?: string[];
  /** Client token, sent as `authorization: Bearer <token>`. */
  token?: string;
  /**
   * The PEM the cluster's https listeners are checked against (its CA, or its self-signed cert).
   * Default: `caPath`, else the config's `tls.caPath`/`tls.certPath`, else the system's CAs.
   */
  ca?: string | Buffer;
  /** A file holding that PEM. */
  caPath?: string;
  /** Budget of one metadata call, retries and leader changes included. Default 10 s. */
  deadlineMs?: number;
  /** Budget of storing or fetching one chunk, retries included. Default 60 s. */
  chunkDeadlineMs?: number;
  /** One attempt's silence limit (headers, then between body bytes). Default 5 s. */
  requestTimeoutMs?: number;
  connectTimeoutMs?: number;
  /**
   * Connections to each metadata replica. The pool opens one per concurrent call up to this bound
   * (and keeps them alive), so a caller with 64 calls in flight gets 64 requests on the wire, not 64
   * queued behind a few. Default 256.
   */
  maxMetaConnections?: number;
  /**
   * Connections to each data node. A chunk's PUT holds one until the whole pipeline stored it, and
   * placement puts most chunks' pipelines at the same head, so 64 small files in flight queued behind
   * 8 PUTs with the old fixed 8 (bench/RESULTS.md, issue 14). Default 64.
   */
  maxDataConnections?: number;
  /** Chunk cache in memory, in bytes. Default 64 MiB; 0 turns it off. */
  cacheBytes?: number;
  /** Optional disk folder for chunks behind the memory cache, bounded by `cacheDirBytes` (1 GiB). */
  cacheDir?: string;
  cacheDirBytes?: number;
  /**
   * `"revalidate"` (default): every open asks the leader (one linearizable read) for the current
   * metadata. `"watch"`: metadata is cached and kept fresh by following the change feed; opens need
   * no round trip while the feed has proved, within `metadataMaxStalenessMs`, that it misses nothing
   * committed (a quorum-confirmed answer): others' changes are seen at most that late.
   */
  metadataCache?: MetadataCacheMode;
  /** Watch mode: how old the feed's last proof of freshness may be for a cached answer. Default 1 s. */
  metadataMaxStalenessMs?: number;
  /** With `endpoints` only: the cluster's sizes (a config carries them). */
  inlineThresholdBytes?: number;
  chunkSizeBytes?: number;
  backoff?: BackoffOptions;
  /**
   * Coalesce metadata calls that are in flight at once (inline commits, stats) into batch requests
   * (`/v1/fs/batch`, meta-batcher.ts). A lone call still goes alone, at once. Default true.
   */
  batchMetaCalls?: boolean;
  /** Batch (or lone) requests the coalescer keeps in flight at once; calls beyond wait and coalesce. Default 2. */
  metaBatchRequestsInFlight?: number;
  /** Called before each retry pause (diagnostics). */
  onRetry?: (info: { attempt: number; url: string; error: DfsError; waitMs: number }) => void;
}

export interface ResolvedOptions {
  endpoints: string[];
  /** Data node URLs from the config (for status when no leader answers). */
  dataNodes: { id: number; url: string }[];
  token: string | undefined;
  ca: string | Buffer | undefined;
  deadlineMs: number;
  chunkDeadlineMs: number;
  requestTimeoutMs: number;
  connectTimeoutMs: number;
  maxMetaConnections: number;
  maxDataConnections: number;
  cacheBytes: number;
  cacheDir: string | undefined;
  cacheDirBytes: number;
  metadataCache: MetadataCacheMode;
  metadataMaxStalenessMs: number;
  inlineThresholdBytes: number;
  chunkSizeBytes: number;
  backoff: BackoffOptions;
  batchMetaCalls: boolean;
  metaBatchRequestsInFlight: number;
  onRetry: ConnectOptions["onRetry"];
}

export const DEFAULT_INLINE_THRESHOLD_BYTES = 64 * 1024;
export const DEFAULT_CHUNK_SIZE_BYTES = 4 * 1024 * 1024;

function positive(name: string, v: number | undefined, fallback: number, min = 1): number {
  const value = v ?? fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new DfsError("BAD_REQUEST", `${name} must be an integer ≥ ${min}, not ${v}`);
  }
  return value;
}

export function resolveOptions(opts: ConnectOptions): ResolvedOptions {
  let config: ClusterConfig | null = null;
  if (opts.config !== undefined) config = loadConfig(opts.config);
  const tls = config?.tls !== undefined;
  const endpoints = opts.endpoints ?? config?.meta.map((m) => metaUrl(m, tls)) ?? [];
  if (endpoints.length === 0) {
    throw new DfsError("BAD_REQUEST", "connect() needs `config` (a cluster config path) or `endpoints`");
  }
  for (const e of endpoints) {
    if (!URL.canParse(e)) throw new DfsError("BAD_REQUEST", `not a URL: ${JSON.stringify(e)}`);
  }
  const metadataCache = opts.metadataCache ?? "revalidate";
  if (metadataCache !== "revalidate" && metadataCache !== "watch") {
    throw new DfsError("BAD_REQUEST", `metadataCache must be "revalidate" or "watch", not ${metadataCache}`);
  }
  return {
    endpoints,
    dataNodes: config?.data.map((d) => ({ id: d.id, url: metaUrl(d, tls) })) ?? [],
    token: opts.token,
    ca:
      opts.ca ?? readCa(opts.caPath) ?? (config && opts.config ? clusterCa(config, opts.config) : undefined),
    deadlineMs: positive("deadlineMs", opts.deadlineMs, 10_000),
    chunkDeadlineMs: positive("chunkDeadlineMs", opts.chunkDeadlineMs, 60_000),
    requestTimeoutMs: positive("requestTimeoutMs", opts.requestTimeoutMs, 5000),
    connectTimeoutMs: positive("connectTimeoutMs", opts.connectTimeoutMs, 2000),
    maxMetaConnections: positive("maxMetaConnections", opts.maxMetaConnections, 256),
    maxDataConnections: positive("maxDataConnections", opts.maxDataConnections, 64),
    cacheBytes: positive("cacheBytes", opts.cacheBytes, 64 * 1024 * 1024, 0),
    cacheDir: opts.cacheDir,
    cacheDirBytes: positive("cacheDirBytes", opts.cacheDirBytes, 1024 * 1024 * 1024, 0),
    metadataCache,
    metadataMaxStalenessMs: positive("metadataMaxStalenessMs", opts.metadataMaxStalenessMs, 1000),
    inlineThresholdBytes: positive(
      "inlineThresholdBytes",
      opts.inlineThresholdBytes ?? config?.inlineThresholdBytes,
      DEFAULT_INLINE_THRESHOLD_BYTES,
      0,
    ),
    chunkSizeBytes: positive(
      "chunkSizeBytes",
      opts.chunkSizeBytes ?? config?.chunkSizeBytes,
      DEFAULT_CHUNK_SIZE_BYTES,
    ),
    backoff: opts.backoff ?? DEFAULT_BACKOFF,
    batchMetaCalls: opts.batchMetaCalls ?? true,
    metaBatchRequestsInFlight: positive("metaBatchRequestsInFlight", opts.metaBatchRequestsInFlight, 2),
    onRetry: opts.onRetry,
  };
}

function readCa(path: string | undefined): Buffer | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new DfsError("BAD_REQUEST", `cannot read the CA file ${path}: ${(err as Error).message}`);
  }
}
