/**
 * The gateway's own CPU per MiB for a big PutObject and GetObject, with no cluster: the server runs
 * in a child process (so its CPU is its own), the AWS SDK drives it from this one, and the library
 * under the gateway is a stub that does the library's in-process work and nothing else — a PUT goes
 * through the library's real `Upload` (cut into 4 MiB chunks, each hashed for its id; the store
 * answers at once), a GET is read from 4 MiB buffers already in memory, as the chunk reader hands
 * them out. Beside it, a bare node:http server that only drains the body (PUT) or writes the same
 * 4 MiB buffers (GET), and one that feeds the drained body into the same `Upload`: the gateway's S3
 * layer (SigV4, aws-chunked decoding, the SDK's CRC-32 trailer, fastify, the reply) is the gateway's
 * row minus the latter. Rounds alternate the servers' order; each keeps its best round.
 *
 *   npx tsx bench/s3-big-stages.ts [--mib 256] [--rounds 3]
 */
import { type ChildProcess, fork } from "node:child_process";
import { createCipheriv } from "node:crypto";
import { once } from "node:events";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg } from "node:os";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { sha256Hex } from "../src/client/chunking.js";
import type { RaftfsClient } from "../src/client/index.js";
import { Upload } from "../src/client/upload.js";
import type { ReadResponse } from "../src/common/protocol/index.js";
import { buildS3Server } from "../src/s3/server.js";

const CHUNK_BYTES = 4 * 1024 * 1024;
const STORE_MS = Number(process.env.S3_STAGES_STORE_MS ?? 0);
const ACCESS_KEY = "bigstagekey";
const SECRET = "big-stage-secret-0123456789";
type ServerKind = "gateway" | "bare-drain" | "bare-upload";

/** The library's in-process work for one write: the real Upload, its stores answered at once. */
async function uploadLocally(
  data: AsyncIterable<Uint8Array>,
): Promise<{ version: number; sizeBytes: number }> {
  const upload = new Upload({
    writer: {
      store: async (chunk: Buffer) => {
        const ref = { id: sha256Hex(chunk), sizeBytes: chunk.byteLength };
        // A store's time on the wire (STORE_MS), so the window's chunks live as long as in a real upload.
        if (STORE_MS > 0) await sleep(STORE_MS);
        return ref;
      },
    },
    commit: async () => ({ version: 2 }),
    abandon: async () => undefined,
    inlineThresholdBytes: 64 * 1024,
    chunkSizeBytes: CHUNK_BYTES,
  } as unknown as ConstructorParameters<typeof Upload>[0]);
  for await (const b of data) await upload.write(b);
  return upload.finish();
}

/** The object a GET reads: `mib` MiB as 4 MiB chunks, each handed out as the chunk reader would. */
function chunkStream(mib: number, chunk: Buffer): Readable {
  let left = (mib * 1024 * 1024) / CHUNK_BYTES;
  return new Readable({
    read() {
      this.push(left-- > 0 ? chunk : null);
    },
  });
}

/** The child: one server of `kind`, answering its port, then its CPU use whenever asked. */
async function serve(kind: ServerKind, mib: number): Promise<void> {
  const chunk = Buffer.alloc(CHUNK_BYTES, 9);
  const file = {
    path: "/bench/k",
    version: 2,
    sizeBytes: mib * 1024 * 1024,
    createdAtMs: Date.now(),
    content: {
      kind: "chunks",
      chunks: Array.from({ length: (mib * 1024 * 1024) / CHUNK_BYTES }, (_, i) => ({
        id: i.toString(16).padStart(64, "0"),
        sizeBytes: CHUNK_BYTES,
      })),
    },
  } as unknown as ReadResponse;
  let url: string;
  if (kind === "gateway") {
    const stub = {
      stat: async () => ({ type: "dir" }),
      fileInfo: async () => file,
      writeFile: (_path: string, data: AsyncIterable<Uint8Array>) => uploadLocally(data),
      createReadStream: () => chunkStream(mib, chunk),
    } as unknown as RaftfsClient;
    const app = buildS3Server(
      {
        region: "us-east-1",
        limits: { maxObjectBytes: 5 << 30, inlineThresholdBytes: 64 * 1024, minPartSizeBytes: 5 << 20 },
      },
      { keys: new Map([[ACCESS_KEY, { secretAccessKey: SECRET, client: stub }]]) },
    );
    url = await app.listen({ host: "127.0.0.1", port: 0 });
  } else {
    const server = createServer({ keepAliveTimeout: 10_000 }, (req, res) => {
      if (req.method === "GET") {
        res.writeHead(200, { "content-length": String(file.sizeBytes), etag: '"x"' });
        chunkStream(mib, chunk).pipe(res);
        return;
      }
      const done = kind === "bare-upload" ? uploadLocally(req) : drain(req);
      done.then(() => {
        res.writeHead(200, { "content-length": "0", etag: '"x"' });
        res.end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }
  process.send!({ url });
  process.on("message", (m) => {
    // A clean exit on "stop", so that a profiler preloaded into the child writes its profile.
    if (m === "stop") process.exit(0);
    const c = process.cpuUsage();
    process.send!({ cpuMs: (c.user + c.system) / 1000, systemMs: c.system / 1000 });
  });
}

async function drain(body: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of body);
}

async function* generated(bytes: number): AsyncGenerator<Buffer> {
  const cipher = createCipheriv("aes-256-ctr", Buffer.alloc(32), Buffer.alloc(16));
  const zeros = Buffer.alloc(1024 * 1024);
  for (let left = bytes; left > 0; left -= zeros.length) yield cipher.update(zeros);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { mib: { type: "string", default: "256" }, rounds: { type: "string", default: "3" } },
  });
  const mib = Number(values.mib);
  const rounds = Number(values.rounds);
  const kinds: ServerKind[] = ["gateway", "bare-upload", "bare-drain"];
  const servers = new Map<ServerKind, { child: ChildProcess; s3: S3Client }>();
  for (const kind of kinds) {
    const child = fork(fileURLToPath(import.meta.url), ["--serve", kind, "--mib", String(mib)]);
    const [{ url }] = (await once(child, "message")) as [{ url: string }];
    const s3 = new S3Client({
      endpoint: url,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET },
    });
    servers.set(kind, { child, s3 });
  }
  const serverCpuMs = async (child: ChildProcess) => {
    child.send("cpu");
    const [m] = (await once(child, "message")) as [{ cpuMs: number; systemMs: number }];
    return m;
  };
  const best = new Map<string, { server: number; client: number }>();
  try {
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? kinds : [...kinds].reverse();
      for (const kind of order) {
        const { child, s3 } = servers.get(kind)!;
        for (const op of ["put", "get"] as const) {
          const s0 = await serverCpuMs(child);
          const c0 = process.cpuUsage();
          if (op === "put") {
            await s3.send(
              new PutObjectCommand({
                Bucket: "bench",
                Key: "k",
                Body: Readable.from(generated(mib * 1024 * 1024)),
                ContentLength: mib * 1024 * 1024,
              }),
            );
          } else {
            const r = await s3.send(new GetObjectCommand({ Bucket: "bench", Key: "k" }));
            let got = 0;
            for await (const b of r.Body as AsyncIterable<Uint8Array>) got += b.byteLength;
            if (got !== mib * 1024 * 1024) throw new Error(`${kind} get: ${got} bytes`);
          }
          const c = process.cpuUsage(c0);
          const s1 = await serverCpuMs(child);
          const server = (s1.cpuMs - s0.cpuMs) / mib;
          const serverSystem = (s1.systemMs - s0.systemMs) / mib;
          const client = (c.user + c.system) / 1000 / mib;
          const name = `${op} ${kind}`;
          console.error(
            `${name}: server ${server.toFixed(2)} ms/MiB (system ${serverSystem.toFixed(2)}), SDK client ${client.toFixed(2)}; load ${loadavg()[0]!.toFixed(1)}`,
          );
          const prev = best.get(name);
          if (prev === undefined || server < prev.server) best.set(name, { server, client });
        }
      }
    }
  } finally {
    for (const { child, s3 } of servers.values()) {
      s3.destroy();
      const exited = once(child, "exit");
      child.send("stop");
      await exited;
    }
  }
  console.log(
    `| ${mib} MiB, server (best of ${rounds}) | server CPU ms per MiB | SDK client CPU ms per MiB |`,
  );
  console.log("|---|---:|---:|");
  const label: Record<ServerKind, string> = {
    gateway: "gateway (library stubbed: Upload with instant stores / chunks in memory)",
    "bare-upload": "bare node:http + the same Upload",
    "bare-drain": "bare node:http, body drained / chunks written",
  };
  for (const op of ["put", "get"] as const) {
    for (const kind of kinds) {
      if (op === "get" && kind === "bare-upload") continue; // the same GET as bare-drain
      const r = best.get(`${op} ${kind}`)!;
      console.log(`| ${op.toUpperCase()} ${label[kind]} | ${r.server.toFixed(2)} | ${r.client.toFixed(2)} |`);
    }
  }
}

const serveAt = process.argv.indexOf("--serve");
if (serveAt >= 0) {
  const mibAt = process.argv.indexOf("--mib");
  await serve(process.argv[serveAt + 1] as ServerKind, Number(process.argv[mibAt + 1]));
} else {
  await main();
}
