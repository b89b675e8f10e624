/**
 * The S3 gateway beside the library it is built on, in one run on one cluster. Small objects (4 KiB,
 * ops/s at 16 in flight): the library's `writeFile`/`readFile`; the AWS SDK's PutObject/GetObject
 * through `raftfs s3` (a child process); a lean signed undici client through the same gateway (the
 * gateway's own cost, without the SDK's); and the SDK against a null endpoint (bench/support/
 * s3-clients.ts: what the SDK alone drives here, so the bound of any gateway with it as the client).
 * Big objects (`--big-mib`, MiB/s, one at a time, streamed from a generator, never held whole, read
 * back and checked by CRC-32): the library's `writeFile` of a stream and `createReadStream`; the
 * SDK's single streaming PutObject, lib-storage's multipart Upload, and a streaming GetObject through
 * the gateway, with the gateway's peak RSS in each phase (VmHWM, reset before each phase).
 * The cluster uses the shipped sizes (4 MiB chunks, 64 KiB inline). Rounds alternate the order of
 * the sides; each side keeps its best round. Any error is printed and fails the run.
 *
 *   npm run build && npx tsx bench/s3.ts [--small 2000] [--seconds 10] [--rounds 2] \
 *     [--big 1] [--big-mib 64] [--big-rounds 1] [--part-mib 5] [--big-first lib|s3] [--big-uploads put,multipart] [--sides lib,s3,lean,null] [--profile DIR]
 *
 * `--profile DIR` runs the gateway with `--cpu-prof` into DIR (written when it stops on SIGTERM);
 * `--gateway-cli PATH` runs it from another build's dist/src/cli/main.js (an earlier commit's gateway).
 */

import { createCipheriv } from "node:crypto";
import { once } from "node:events";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { crc32 } from "node:zlib";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { ACCESS_KEY, SECRET_KEY, startS3 } from "../test/s3/gateway.js";
import { cpuSeconds } from "./support/procs.js";
import { leanS3, startNullEndpoint } from "./support/s3-clients.js";

const { values } = parseArgs({
  options: {
    small: { type: "string", default: "2000" },
    seconds: { type: "string", default: "10" },
    rounds: { type: "string", default: "2" },
    big: { type: "string", default: "1" },
    "big-mib": { type: "string", default: "64" },
    "big-rounds": { type: "string", default: "1" },
    "part-mib": { type: "string", default: "5" },
    "big-first": { type: "string", default: "lib" },
    /** The gateway's kinds of big PUT: `put` (one streamed PutObject), `multipart` (lib-storage's Upload). */
    "big-uploads": { type: "string", default: "put,multipart" },
    sides: { type: "string", default: "lib,s3,lean,null" },
    profile: { type: "string" },
    "gateway-cli": { type: "string" },
  },
});
const SMALL = Number(values.small);
const SECONDS = Number(values.seconds);
const ROUNDS = Number(values.rounds);
const BIG = Number(values.big);
const BIG_BYTES = Number(values["big-mib"]) * 1024 * 1024;
const BIG_ROUNDS = Number(values["big-rounds"]);
const PART_BYTES = Number(values["part-mib"]) * 1024 * 1024;
const CONCURRENCY = 16;
const PIECE_BYTES = 1024 * 1024;

const errors: string[] = [];

/**
 * `count` calls at CONCURRENCY in flight, stopped after SECONDS: completed calls per second, and how
 * many were started (the GETs then read only the objects the PUTs got to).
 */
async function rate(
  count: number,
  fn: (i: number) => Promise<void>,
): Promise<{ perS: number; n: number; done: number }> {
  const deadline = performance.now() + SECONDS * 1000;
  const start = performance.now();
  let next = 0;
  let done = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < count && performance.now() < deadline) {
        const i = next++;
        try {
          await fn(i);
          done++;
        } catch (err) {
          errors.push(String(err));
        }
      }
    }),
  );
  return { perS: done / ((performance.now() - start) / 1000), n: next, done };
}

/** Pids of this process's children (the cluster, the gateway, the null endpoint): /proc entries whose ppid is ours. */
function childPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === process.pid)
        pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** CPU ms per completed op, by who spent it: this process (the client), the gateway, the cluster. */
interface CpuPerOp {
  client: number;
  gateway: number;
  cluster: number;
}

/** `bytes` pseudo-random bytes from `seed` in 1 MiB pieces (AES-CTR of zeros: cheap, never repeats a chunk). */
async function* generated(seed: number, bytes: number): AsyncGenerator<Buffer> {
  const key = Buffer.alloc(32);
  key.writeUInt32BE(seed);
  const cipher = createCipheriv("aes-256-ctr", key, Buffer.alloc(16));
  const zeros = Buffer.alloc(PIECE_BYTES);
  for (let left = bytes; left > 0; left -= PIECE_BYTES) {
    yield cipher.update(left >= PIECE_BYTES ? zeros : zeros.subarray(0, left));
  }
}

async function crcOf(stream: AsyncIterable<Uint8Array>): Promise<{ crc: number; bytes: number }> {
  let crc = 0;
  let bytes = 0;
  for await (const b of stream) {
    crc = crc32(b, crc);
    bytes += b.length;
  }
  return { crc, bytes };
}

/** The gateway's peak RSS since the last reset, in MiB; the reset (clear_refs 5) starts a new phase. */
function peakRssMib(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

const env = await startS3({
  overrides: { chunkSizeBytes: 4 * 1024 * 1024, inlineThresholdBytes: 64 * 1024 },
  ...(values["gateway-cli"] !== undefined ? { cli: values["gateway-cli"] } : {}),
  ...(values.profile !== undefined ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${values.profile}`] } : {}),
});
const nullEndpoint = await startNullEndpoint();
const creds = { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY };
const lean = leanS3(env.endpoint, creds, CONCURRENCY);
const nullSdk = new S3Client({
  endpoint: nullEndpoint.endpoint,
  region: "us-east-1",
  forcePathStyle: true,
  credentials: creds,
});
try {
  const { s3, fs } = env;
  const gatewayPid = env.gateway.pid!;
  await s3.send(new CreateBucketCommand({ Bucket: "bench" }));
  const small = Buffer.alloc(4096, 3);
  const best = new Map<string, number>();
  const keep = (name: string, v: number) => best.set(name, Math.max(best.get(name) ?? 0, v));
  const sdkGet = async (client: S3Client, key: string) =>
    (
      await (
        await client.send(new GetObjectCommand({ Bucket: "bench", Key: key }))
      ).Body!.transformToByteArray()
    ).length;
  type Side = "lib" | "s3" | "lean" | "null";
  const smallOps: Record<Side, { put(key: string): Promise<unknown>; get(key: string): Promise<number> }> = {
    lib: {
      put: (k) => fs.writeFile(`/bench/${k}`, small),
      get: async (k) => (await fs.readFile(`/bench/${k}`)).length,
    },
    s3: {
      put: (k) => s3.send(new PutObjectCommand({ Bucket: "bench", Key: k, Body: small })),
      get: (k) => sdkGet(s3, k),
    },
    lean: { put: (k) => lean.put("bench", k, small), get: async (k) => (await lean.get("bench", k)).length },
    null: {
      put: (k) => nullSdk.send(new PutObjectCommand({ Bucket: "bench", Key: k, Body: small })),
      get: (k) => sdkGet(nullSdk, k),
    },
  };
  const cpu = new Map<string, CpuPerOp>();
  const cluster = childPids().filter((pid) => pid !== gatewayPid && pid !== nullEndpoint.child.pid);
  /** One small-object phase: its best rate kept, and the CPU per op of each party in the best round. */
  async function withCpu(name: string, fn: () => Promise<{ perS: number; n: number; done: number }>) {
    const c0 = process.cpuUsage();
    const g0 = cpuSeconds([gatewayPid, nullEndpoint.child.pid!]);
    const k0 = cpuSeconds(cluster);
    const r = await fn();
    const c = process.cpuUsage(c0);
    const perOp = (s: number) => (s * 1000) / Math.max(1, r.done);
    if (r.perS > (best.get(name) ?? 0)) {
      cpu.set(name, {
        client: perOp((c.user + c.system) / 1e6),
        gateway: perOp(cpuSeconds([gatewayPid, nullEndpoint.child.pid!]) - g0),
        cluster: perOp(cpuSeconds(cluster) - k0),
      });
    }
    keep(name, r.perS);
    return r;
  }
  const order = values.sides.split(",") as Side[];
  for (let round = 0; round < ROUNDS && SMALL > 0; round++) {
    const sides = round % 2 === 0 ? order : [...order].reverse();
    for (const side of sides) {
      const key = (i: number) => `${side}-r${round}-small-${i}`;
      const put = await withCpu(`${side} put 4k`, () =>
        rate(SMALL, (i) => smallOps[side].put(key(i)).then(() => undefined)),
      );
      await withCpu(`${side} get 4k`, () =>
        rate(put.n, async (i) => {
          const n = await smallOps[side].get(key(i));
          if (n !== 4096) throw new Error(`${side}: read ${n} bytes, not 4096`);
        }),
      );
    }
  }
  const mibPerS = (start: number) => BIG_BYTES / (1024 * 1024) / ((performance.now() - start) / 1000);
  const rss = new Map<string, number>();
  /** CPU ms per MiB moved in each big phase, by who spent it (the phase's best round). */
  const bigCpu = new Map<string, CpuPerOp>();
  /** One big-object phase, timed, with the gateway's peak RSS and everyone's CPU during it. */
  async function phase(name: string, fn: () => Promise<void>): Promise<void> {
    resetPeakRss(gatewayPid);
    const c0 = process.cpuUsage();
    const g0 = cpuSeconds([gatewayPid]);
    const k0 = cpuSeconds(cluster);
    const start = performance.now();
    try {
      await fn();
    } catch (err) {
      errors.push(`${name}: ${String(err)}`);
      return;
    }
    const perS = mibPerS(start);
    const c = process.cpuUsage(c0);
    const perMib = (seconds: number) => (seconds * 1000) / (BIG_BYTES / (1024 * 1024));
    const spent = {
      client: perMib((c.user + c.system) / 1e6),
      gateway: perMib(cpuSeconds([gatewayPid]) - g0),
      cluster: perMib(cpuSeconds(cluster) - k0),
    };
    if (perS > (best.get(name) ?? 0)) bigCpu.set(name, spent);
    keep(name, perS);
    rss.set(name, Math.max(rss.get(name) ?? 0, peakRssMib(gatewayPid)));
    // Progress on stderr: a 1 GiB phase takes minutes on a loaded machine.
    console.error(
      `${name}: ${perS.toFixed(1)} MiB/s, gateway peak RSS ${peakRssMib(gatewayPid).toFixed(0)} MiB, CPU ms/MiB client ${spent.client.toFixed(1)} gateway ${spent.gateway.toFixed(1)} cluster ${spent.cluster.toFixed(1)}, load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
  let seed = 1;
  for (let round = 0; round < BIG_ROUNDS; round++) {
    for (let b = 0; b < BIG; b++) {
      const flip = (round + b + (values["big-first"] === "s3" ? 1 : 0)) % 2 === 1;
      const sides = flip ? (["s3", "lib"] as const) : (["lib", "s3"] as const);
      for (const side of sides) {
        // The gateway writes the object twice, once with each kind of PUT; the GET reads the multipart one.
        const uploads =
          side === "lib"
            ? (["put"] as const)
            : values["big-uploads"].split(",").map((u) => (u === "put" ? "put" : "multipart put"));
        for (const how of uploads) {
          const s = seed++;
          const key = `${side}-r${round}-big-${b}-${how === "put" ? "single" : "parts"}`;
          const expected = await crcOf(generated(s, BIG_BYTES)); // outside the timed phase
          await phase(`${side} ${how} big`, async () => {
            if (side === "lib") await fs.writeFile(`/bench/${key}`, generated(s, BIG_BYTES));
            else if (how === "put")
              await s3.send(
                new PutObjectCommand({
                  Bucket: "bench",
                  Key: key,
                  Body: Readable.from(generated(s, BIG_BYTES)),
                  ContentLength: BIG_BYTES,
                }),
              );
            else
              await new Upload({
                client: s3,
                params: { Bucket: "bench", Key: key, Body: Readable.from(generated(s, BIG_BYTES)) },
                partSize: PART_BYTES,
                queueSize: 4,
              }).done();
          });
          const remove = () => fs.rm(`/bench/${key}`, { force: true });
          // The GET reads the multipart object when there is one, else the single PUT's.
          if (how === "put" && side === "s3" && uploads.length > 1) {
            await remove();
            continue;
          }
          await phase(`${side} get big`, async () => {
            const got = await crcOf(
              side === "lib"
                ? fs.createReadStream(`/bench/${key}`)
                : ((await s3.send(new GetObjectCommand({ Bucket: "bench", Key: key })))
                    .Body as AsyncIterable<Uint8Array>),
            );
            if (got.bytes !== expected.bytes || got.crc !== expected.crc) {
              throw new Error(`${key}: read ${got.bytes} bytes (crc ${got.crc}), not what was written`);
            }
          });
          await remove();
        }
      }
    }
  }
  const big = `${BIG_BYTES / (1024 * 1024)} MiB`;
  const header = () => {
    console.log("| operation | library | through the gateway | gateway / library |");
    console.log("|---|---:|---:|---:|");
  };
  if (SMALL > 0) header();
  const row = (op: string, lib: string, gw: string, unit: string, extra = "") => {
    const l = best.get(lib) ?? 0;
    const g = best.get(gw) ?? 0;
    if (l === 0 && g === 0) return;
    console.log(
      `| ${op} | ${l.toFixed(1)} ${unit} | ${g.toFixed(1)} ${unit}${extra} | ${(g / l).toFixed(2)} |`,
    );
  };
  for (const op of ["put", "get"]) {
    row(`${op} 4 KiB, AWS SDK`, `lib ${op} 4k`, `s3 ${op} 4k`, "ops/s");
    row(`${op} 4 KiB, lean signed client`, `lib ${op} 4k`, `lean ${op} 4k`, "ops/s");
    row(`${op} 4 KiB, AWS SDK to a null endpoint (no gateway)`, `lib ${op} 4k`, `null ${op} 4k`, "ops/s");
  }
  if (cpu.size > 0) {
    console.log("\n| 4 KiB op | CPU ms per op: client | gateway (or null endpoint) | cluster | total |");
    console.log("|---|---:|---:|---:|---:|");
    for (const [name, c] of cpu) {
      const t = c.client + c.gateway + c.cluster;
      console.log(
        `| ${name} | ${c.client.toFixed(3)} | ${c.gateway.toFixed(3)} | ${c.cluster.toFixed(3)} | ${t.toFixed(3)} |`,
      );
    }
  }
  if (rss.size > 0) {
    console.log();
    header();
  }
  const rssOf = (name: string) =>
    rss.has(name) ? `, gateway peak RSS ${rss.get(name)!.toFixed(0)} MiB` : "";
  row(`put ${big}, SDK PutObject (streamed)`, "lib put big", "s3 put big", "MiB/s", rssOf("s3 put big"));
  row(
    `put ${big}, lib-storage Upload (${PART_BYTES / (1024 * 1024)} MiB parts, 4 at once)`,
    "lib put big",
    "s3 multipart put big",
    "MiB/s",
    rssOf("s3 multipart put big"),
  );
  row(`get ${big}, SDK GetObject (streamed)`, "lib get big", "s3 get big", "MiB/s", rssOf("s3 get big"));
  if (bigCpu.size > 0) {
    console.log(`\n| ${big} phase | CPU ms per MiB: client | gateway | cluster | total |`);
    console.log("|---|---:|---:|---:|---:|");
    for (const [name, c] of bigCpu) {
      const t = c.client + c.gateway + c.cluster;
      console.log(
        `| ${name} | ${c.client.toFixed(1)} | ${c.gateway.toFixed(1)} | ${c.cluster.toFixed(1)} | ${t.toFixed(1)} |`,
      );
    }
  }
  if (errors.length > 0) {
    console.error(`${errors.length} errors:`);
    for (const e of errors.slice(0, 20)) console.error(`  ${e}`);
    process.exitCode = 1;
  }
} finally {
  nullSdk.destroy();
  nullEndpoint.child.kill("SIGKILL");
  await lean.close();
  if (values.profile !== undefined && env.gateway.exitCode === null) {
    // A graceful stop, so the profile is written (stop() alone kills the gateway).
    env.gateway.kill("SIGTERM");
    await once(env.gateway, "exit");
  }
  await env.stop();
}
