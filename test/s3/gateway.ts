/**
 * A cluster of real processes plus one S3 gateway (`raftfs s3`, the built CLI as a child process),
 * and an SDK client for it. Run `npm run build` first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { CLI, freePort, startCluster, type TestCluster, waitFor } from "../support/cluster-harness.js";

export const ACCESS_KEY = "testkey";
export const SECRET_KEY = "test-secret-key-0123";

export interface SdkOptions {
  secret?: string;
  accessKey?: string;
  clockOffsetMs?: number;
  maxAttempts?: number;
}

export interface S3Env {
  cluster: TestCluster;
  gateway: ChildProcess;
  endpoint: string;
  s3: S3Client;
  fs: RaftfsClient;
  /** An SDK client with other credentials or options. */
  sdk(opts?: SdkOptions): S3Client;
  stop(): Promise<void>;
}

export interface S3Options {
  dataCount?: number;
  overrides?: Record<string, unknown>;
  /** More of the config's `s3` section (extra access keys, a domain). */
  s3?: Record<string, unknown>;
  /** The gateway's environment beyond this process's (RAFTFS_S3_ACCESS_KEY...). */
  env?: Record<string, string>;
  /** The token the test's own library client uses (when the cluster has tokens). */
  fsToken?: string;
  /** The config token (by name) the default test key acts with. */
  keyToken?: string;
  /** Node flags for the gateway process (a bench's `--cpu-prof`, which NODE_OPTIONS refuses). */
  nodeArgs?: string[];
  /** Another build's CLI to run the gateway from (a bench's before-and-after). */
  cli?: string;
  /** Config sections the gateway alone reads differently (its `listener` limits), beside the cluster's. */
  gatewayOverrides?: Record<string, unknown>;
  /** The cluster's processes' environment beyond this process's (a bench's profiler preload). */
  clusterEnv?: Record<string, string>;
}

/** The cluster's config with the gateway's own overrides, written beside it; the cluster's path if none. */
function gatewayConfigPath(configPath: string, overrides: Record<string, unknown> | undefined): string {
  if (overrides === undefined) return configPath;
  const config = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  for (const [section, value] of Object.entries(overrides)) {
    const base = config[section];
    config[section] =
      typeof base === "object" && base !== null && !Array.isArray(base)
        ? { ...(base as object), ...(value as object) }
        : value;
  }
  const path = `${configPath.replace(/\.json$/, "")}.gateway.json`;
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}

export async function startS3(opts: S3Options = {}): Promise<S3Env> {
  const { accessKeys: extraKeys, ...s3Rest } = (opts.s3 ?? {}) as { accessKeys?: unknown[] };
  const cluster = await startCluster({
    ...(opts.dataCount !== undefined ? { dataCount: opts.dataCount } : {}),
    ...(opts.clusterEnv !== undefined ? { env: opts.clusterEnv } : {}),
    overrides: {
      ...opts.overrides,
      s3: {
        host: "127.0.0.1",
        // Replaced by the gateway's own config (below); the cluster's processes never read it.
        port: 1,
        ...s3Rest,
        accessKeys: [
          {
            accessKeyId: ACCESS_KEY,
            secretAccessKey: SECRET_KEY,
            ...(opts.keyToken ? { token: opts.keyToken } : {}),
          },
          ...(extraKeys ?? []),
        ],
      },
    },
  });
  // The gateway's port is chosen right before it starts, and again if it was taken meanwhile: a port
  // the kernel handed out as free can become another socket's local port (the cluster's own outbound
  // connections draw from the same range) before the gateway binds it.
  let gateway: ChildProcess | null = null;
  let port = 0;
  let log = "";
  const stopAll = async () => {
    if (gateway && gateway.exitCode === null) gateway.kill("SIGKILL");
    await cluster.stop();
  };
  try {
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      const overrides = { ...opts.gatewayOverrides, s3: { ...(opts.gatewayOverrides?.s3 as object), port } };
      const child = spawn(
        process.execPath,
        [
          ...(opts.nodeArgs ?? []),
          opts.cli ?? CLI,
          "s3",
          "--config",
          gatewayConfigPath(cluster.configPath, overrides),
        ],
        { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } },
      );
      gateway = child;
      log = "";
      child.stdout?.on("data", (b: Buffer) => (log += b.toString()));
      child.stderr?.on("data", (b: Buffer) => (log += b.toString()));
      const outcome = await waitFor(
        "the gateway to listen",
        () => (log.includes("listening") ? "listening" : child.exitCode !== null ? "exited" : null),
        30_000,
      );
      if (outcome === "listening") break;
      if (!log.includes("EADDRINUSE") || attempt === 3) throw new Error(`gateway exited: ${log}`);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  const sdk = (o: SdkOptions = {}) => {
    const c = new S3Client({
      endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: o.accessKey ?? ACCESS_KEY, secretAccessKey: o.secret ?? SECRET_KEY },
      maxAttempts: o.maxAttempts ?? 3,
    });
    if (o.clockOffsetMs !== undefined) c.config.systemClockOffset = o.clockOffsetMs;
    return c;
  };
  const s3 = sdk();
  const fs = await connect({
    config: cluster.configPath,
    ...(opts.fsToken !== undefined ? { token: opts.fsToken } : {}),
  });
  return {
    cluster,
    gateway,
    endpoint,
    s3,
    fs,
    sdk,
    async stop() {
      s3.destroy();
      await fs.close();
      await stopAll();
    },
  };
}

/** The S3 error an SDK call failed with (fails the test if the call succeeded). */
export async function s3Error(p: Promise<unknown>): Promise<{ name: string; status: number | undefined }> {
  try {
    await p;
  } catch (err) {
    if (err instanceof S3ServiceException) return { name: err.name, status: err.$metadata.httpStatusCode };
    throw err;
  }
  throw new Error("the call succeeded");
}
