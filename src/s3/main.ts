/**
 * `raftfs s3`: the gateway process. Reads the cluster config's `s3` section, makes one library client
 * per token the access keys act with (the cluster enforces each token's role), and listens. It keeps
 * no state of its own, so several gateways can serve one cluster behind a load balancer.
 */
import { connect, type RaftfsClient } from "../client/index.js";
import { loadConfig, type S3Config } from "../common/config.js";
import { buildS3Server, type S3AccessKeyEntry } from "./server.js";

export interface GatewayOptions {
  configPath: string;
  /** Overrides the config's `s3.port` / `s3.host`. */
  port?: number;
  host?: string;
  env?: NodeJS.ProcessEnv;
  logger?: boolean;
}

export interface RunningGateway {
  url: string;
  close(): Promise<void>;
}

const DEFAULT_S3: S3Config = {
  host: "127.0.0.1",
  port: 9000,
  region: "us-east-1",
  accessKeys: [],
  maxObjectBytes: 5 * 1024 * 1024 * 1024,
  minPartSizeBytes: 5 * 1024 * 1024,
};

export async function runS3Gateway(o: GatewayOptions): Promise<RunningGateway> {
  const config = loadConfig(o.configPath);
  const s3 = config.s3 ?? DEFAULT_S3;
  const env = o.env ?? process.env;
  const clients = new Map<string, RaftfsClient>();
  const clientFor = async (tokenName: string | undefined): Promise<RaftfsClient> => {
    const name = tokenName ?? "";
    let c = clients.get(name);
    if (c === undefined) {
      const token = config.tokens.find((t) => t.name === tokenName)?.token;
      c = await connect({ config: o.configPath, ...(token !== undefined ? { token } : {}) });
      clients.set(name, c);
    }
    return c;
  };
  const keys = new Map<string, S3AccessKeyEntry>();
  for (const k of s3.accessKeys) {
    keys.set(k.accessKeyId, { secretAccessKey: k.secretAccessKey, client: await clientFor(k.token) });
  }
  const envKey = env.RAFTFS_S3_ACCESS_KEY;
  const envSecret = env.RAFTFS_S3_SECRET_KEY;
  if (envKey && envSecret) {
    // The admin key a script can start a gateway with: it acts with the config's first admin token.
    const admin = config.tokens.find((t) => t.role === "admin")?.name;
    keys.set(envKey, { secretAccessKey: envSecret, client: await clientFor(admin) });
  }
  if (keys.size === 0) {
    throw new Error(
      "the S3 gateway has no access keys: add s3.accessKeys to the config or set RAFTFS_S3_ACCESS_KEY and RAFTFS_S3_SECRET_KEY",
    );
  }
  const anyClient = clients.values().next().value as RaftfsClient;
  const app = buildS3Server(
    {
      region: s3.region,
      ...(s3.domain !== undefined ? { domain: s3.domain } : {}),
      limits: {
        maxObjectBytes: s3.maxObjectBytes,
        inlineThresholdBytes: anyClient.options.inlineThresholdBytes,
        minPartSizeBytes: s3.minPartSizeBytes,
      },
      listener: config.listener,
    },
    { keys, logger: o.logger ?? false },
  );
  const host = o.host ?? s3.host;
  const url = await app.listen({ host, port: o.port ?? s3.port });
  return {
    url,
    async close() {
      await app.close();
      await Promise.all([...clients.values()].map((c) => c.close()));
    },
  };
}
