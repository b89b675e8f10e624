/**
 * What bench/s3.ts measures the gateway with beside the AWS SDK: a lean S3 client (undici, signed
 * with the SDK's own SigV4 signer, nothing else per request) that shows the gateway's own cost, and a
 * null S3 endpoint (a bare node:http server in a child process, answering every GET with the same
 * 4 KiB and every PUT with an ETag) that shows what the SDK alone can drive on this machine: the most
 * any gateway could reach with the SDK as its client.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { once } from "node:events";
import { Agent, request } from "undici";
import { s3Signer } from "../../test/support/sigv4-hash.js";

export interface LeanS3 {
  get(bucket: string, key: string): Promise<Buffer>;
  put(bucket: string, key: string, body: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Path-style GET/PUT of whole small objects, signed (UNSIGNED-PAYLOAD), on keep-alive connections. */
export function leanS3(
  endpoint: string,
  creds: { accessKeyId: string; secretAccessKey: string },
  connections: number,
): LeanS3 {
  const url = new URL(endpoint);
  const agent = new Agent({
    connections,
    keepAliveTimeout: 10_000,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const signer = s3Signer(creds);
  async function send(method: "GET" | "PUT", bucket: string, key: string, body?: Buffer) {
    const path = `/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
    const signed = await signer.sign({
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path,
      query: {},
      headers: {
        host: url.host,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        ...(body !== undefined ? { "content-length": String(body.length) } : {}),
      },
    });
    const res = await request(`${endpoint}${path}`, {
      method,
      headers: signed.headers,
      dispatcher: agent,
      ...(body !== undefined ? { body } : {}),
    });
    const bytes = Buffer.from(await res.body.arrayBuffer());
    if (res.statusCode !== 200) throw new Error(`${method} ${path}: ${res.statusCode} ${bytes.toString()}`);
    return bytes;
  }
  return {
    get: (bucket, key) => send("GET", bucket, key),
    put: async (bucket, key, body) => {
      await send("PUT", bucket, key, body);
    },
    close: () => agent.close(),
  };
}

/** The null endpoint's whole program: no auth, no storage, the least an HTTP server can do per request. */
const NULL_ENDPOINT = `
const http = require("node:http");
const object = Buffer.alloc(4096, 7);
http.createServer({ keepAliveTimeout: 10000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    if (req.method === "GET") {
      res.writeHead(200, { "content-length": object.length, etag: '"null"', "content-type": "application/octet-stream" });
      res.end(object);
    } else {
      res.writeHead(200, { etag: '"null"', "content-length": 0 });
      res.end();
    }
  });
}).listen(0, "127.0.0.1", function () { process.stdout.write(String(this.address().port) + "\\n"); });
`;

export async function startNullEndpoint(): Promise<{ endpoint: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["-e", NULL_ENDPOINT], { stdio: ["ignore", "pipe", "inherit"] });
  const [first] = (await once(child.stdout!, "data")) as [Buffer];
  return { endpoint: `http://127.0.0.1:${Number(first.toString().trim())}`, child };
}

/**
 * A second gateway on the same cluster, run from another build's CLI (`dist/src/cli/main.js` copied
 * aside before a change): bench/s3.ts's `--baseline`, so the old and the new gateway are compared in
 * one run, on one cluster, under the same load. `nodeArgs` as for the main gateway (`--cpu-prof`).
 */
export async function startBaselineGateway(
  cli: string,
  configPath: string,
  port: number,
  nodeArgs: string[] = [],
): Promise<{ endpoint: string; child: ChildProcess }> {
  const child = spawn(
    process.execPath,
    [...nodeArgs, cli, "s3", "--config", configPath, "--port", String(port)],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let log = "";
  const listening = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      log += b.toString();
      if (log.includes("listening")) resolve();
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.once("exit", (code) => reject(new Error(`the baseline gateway exited (${code}): ${log}`)));
  });
  const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
  try {
    await listening;
  } finally {
    clearTimeout(timer);
  }
  return { endpoint: `http://127.0.0.1:${port}`, child };
}
