/**
 * Where a 4 KiB S3 request's time goes inside the gateway, stage by stage, with no cluster: µs per
 * request of SigV4 verification, of the whole request through the gateway's fastify app in process
 * (`inject`: routing, handler, reply; the library stubbed by an in-memory answer), and of the same over
 * a real loopback socket (node's HTTP parsing and writing too), measured as this process's CPU per
 * request. What is left of the gateway's ~1 ms per op in bench/s3.ts is the library's call to the
 * cluster and the waits on a loaded machine.
 *
 *   npx tsx bench/s3-stages.ts [--n 5000]
 */
import { createHash } from "node:crypto";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import type { RaftfsClient } from "../src/client/index.js";
import type { ReadResponse } from "../src/common/protocol/index.js";
import { buildS3Server } from "../src/s3/server.js";
import { SigningKeyCache, verifySigV4 } from "../src/s3/sigv4.js";
import { s3Signer } from "../test/support/sigv4-hash.js";

const { values } = parseArgs({ options: { n: { type: "string", default: "5000" } } });
const N = Number(values.n);
const ACCESS_KEY = "stagekey";
const SECRET = "stage-secret-0123456789";
const OBJECT = Buffer.alloc(4096, 5);

/** The library as the GET and PUT handlers use it, answering at once from memory. */
const file: ReadResponse = {
  path: "/bench/k",
  version: 7,
  sizeBytes: OBJECT.length,
  createdAtMs: Date.now(),
  content: { kind: "inline", dataBase64: OBJECT.toString("base64") },
} as unknown as ReadResponse;
const stubClient = {
  fileInfo: async () => file,
  writeFile: async (_path: string, data: AsyncIterable<Buffer>) => {
    let sizeBytes = 0;
    for await (const b of data) sizeBytes += b.length;
    return { version: 8, sizeBytes };
  },
} as unknown as RaftfsClient;

const app = buildS3Server(
  {
    region: "us-east-1",
    limits: { maxObjectBytes: 5 << 30, inlineThresholdBytes: 65536, minPartSizeBytes: 5 << 20 },
  },
  { keys: new Map([[ACCESS_KEY, { secretAccessKey: SECRET, client: stubClient }]]) },
);
const url = new URL(await app.listen({ host: "127.0.0.1", port: 0 }));
const signer = s3Signer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET });

/** Headers as the SDK sends them for a GET or a 4 KiB PUT (signed body hash, as the SDK's default). */
async function signedHeaders(method: "GET" | "PUT", path: string): Promise<Record<string, string>> {
  const body: Record<string, string> = method === "PUT" ? { "content-length": "4096" } : {};
  const hash = method === "PUT" ? createHash("sha256").update(OBJECT).digest("hex") : "UNSIGNED-PAYLOAD";
  const signed = await signer.sign({
    method,
    protocol: "http:",
    hostname: url.hostname,
    port: Number(url.port),
    path,
    query: { "x-id": method === "GET" ? "GetObject" : "PutObject" },
    headers: {
      host: url.host,
      "x-amz-content-sha256": hash,
      "user-agent": "aws-sdk-js/3 ua/2.1 os/linux lang/js md/nodejs#20.20.2 api/s3#3",
      "amz-sdk-invocation-id": "00000000-0000-4000-8000-000000000000",
      "amz-sdk-request": "attempt=1; max=3",
      ...body,
    },
  });
  return signed.headers;
}

/** µs of this process's CPU per call, over N calls of `fn` (at most `concurrency` in flight). */
async function cpuPerCall(fn: () => Promise<unknown> | unknown, concurrency = 1): Promise<number> {
  for (let i = 0; i < Math.min(N, 2000); i++) await fn(); // warm-up (past the JIT's tiers)
  const c0 = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next++ < N) await fn();
    }),
  );
  const c = process.cpuUsage(c0);
  return (c.user + c.system) / N;
}

const rows: [string, number][] = [];
const path = "/bench/k";
const getHeaders = await signedHeaders("GET", path);
const putHeaders = await signedHeaders("PUT", path);
const rawUrl = `${path}?x-id=GetObject`;
const rawHeaders = Object.entries(getHeaders).flat();
const signingKeys = new SigningKeyCache();
const secretOf = (id: string) => (id === ACCESS_KEY ? SECRET : undefined);
const nowMs = Date.now();
rows.push([
  "SigV4 verify (GET)",
  await cpuPerCall(() =>
    verifySigV4({ method: "GET", rawUrl, rawHeaders }, { secretOf, nowMs, signingKeys }),
  ),
]);
rows.push([
  "GET 4 KiB through fastify in process (inject)",
  await cpuPerCall(() => app.inject({ method: "GET", url: rawUrl, headers: getHeaders })),
]);
rows.push([
  "PUT 4 KiB through fastify in process (inject)",
  await cpuPerCall(() =>
    app.inject({ method: "PUT", url: `${path}?x-id=PutObject`, headers: putHeaders, payload: OBJECT }),
  ),
]);
// Over loopback the client's CPU is in this process too: a bare undici GET of the same bytes from a
// plain node:http server is measured alongside, so its cost can be taken out.
const agent = new Agent({
  connections: 16,
  keepAliveTimeout: 10_000,
  headersTimeout: 30_000,
  bodyTimeout: 30_000,
});
const overSocket = async (method: "GET" | "PUT") => {
  const res = await request(`${url.origin}${path}?x-id=${method === "GET" ? "GetObject" : "PutObject"}`, {
    method,
    headers: method === "GET" ? getHeaders : putHeaders,
    dispatcher: agent,
    ...(method === "PUT" ? { body: OBJECT } : {}),
  });
  const body = Buffer.from(await res.body.arrayBuffer());
  if (res.statusCode !== 200) throw new Error(`${method}: ${res.statusCode} ${body.toString()}`);
};
// The floor: the same client against a bare node:http server answering the same 4 KiB (no fastify, no S3).
const bare = createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
  req.resume();
  req.on("end", () => {
    res.writeHead(200, { "content-length": req.method === "GET" ? OBJECT.length : 0, etag: '"x"' });
    res.end(req.method === "GET" ? OBJECT : undefined);
  });
});
await new Promise<void>((resolve) => bare.listen(0, "127.0.0.1", resolve));
const bareUrl = `http://127.0.0.1:${(bare.address() as AddressInfo).port}`;
const overBare = async (method: "GET" | "PUT") => {
  const res = await request(`${bareUrl}${path}`, {
    method,
    dispatcher: agent,
    ...(method === "PUT" ? { body: OBJECT } : {}),
  });
  await res.body.arrayBuffer();
};
rows.push([
  "GET 4 KiB over loopback, bare node:http server + undici client",
  await cpuPerCall(() => overBare("GET"), 16),
]);
rows.push([
  "PUT 4 KiB over loopback, bare node:http server + undici client",
  await cpuPerCall(() => overBare("PUT"), 16),
]);
rows.push([
  "GET 4 KiB over loopback, gateway + undici client, 16 in flight",
  await cpuPerCall(() => overSocket("GET"), 16),
]);
rows.push([
  "PUT 4 KiB over loopback, gateway + undici client, 16 in flight",
  await cpuPerCall(() => overSocket("PUT"), 16),
]);
console.log("| stage (no cluster; the library answers from memory) | µs CPU per request |");
console.log("|---|---:|");
for (const [name, us] of rows) console.log(`| ${name} | ${us.toFixed(1)} |`);
await agent.close();
bare.close();
await app.close();
