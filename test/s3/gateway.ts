/**
 * A cluster of real processes plus one S3 gateway (`raftfs s3`, the built CLI as a child process),
 * and an SDK client for it. Run `npm run build` first.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { S3Client } from "@aws-sdk/client-s3";
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

export async function startS3(
  opts: { dataCount?: number; overrides?: Record<string, unknown> } = {},
): Promise<S3Env> {
  const port = await freePort();
  const cluster = await startCluster({
    ...(opts.dataCount !== undefined ? { dataCount: opts.dataCount } : {}),
    overrides: {
      ...opts.overrides,
      s3: { host: "127.0.0.1", port, accessKeys: [{ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY }] },
    },
  });
  const gateway = spawn(process.execPath, [CLI, "s3", "--config", cluster.configPath], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  gateway.stdout?.on("data", (b: Buffer) => (log += b.toString()));
  gateway.stderr?.on("data", (b: Buffer) => (log += b.toString()));
  const endpoint = `http://127.0.0.1:${port}`;
  const stopAll = async () => {
    if (gateway.exitCode === null) gateway.kill("SIGKILL");
    await cluster.stop();
  };
  try {
    await waitFor(
      "the gateway to listen",
      async () => {
        if (gateway.exitCode !== null) throw new Error(`gateway exited: ${log}`);
        return log.includes("listening") ? true : null;
      },
      30_000,
    );
  } catch (err) {
    await stopAll();
    throw err;
  }
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
  const fs = await connect({ config: cluster.configPath });
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
