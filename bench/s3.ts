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
 * `--baseline PATH` runs a second gateway from another build's dist/src/cli/main.js on the same
 * cluster, and the big phases go through both (side `old`), in an order that rotates each round: a
 * change's before and after under one load. `--profile-cluster DIR` profiles the replicas and data
 * nodes (support/cpu-profile-preload.cjs) and prints, per big phase, their hottest functions in CPU
 * ms per MiB (with `--profile`, the gateways' too), so the same PUT can be compared both ways.
 */

import { createCipheriv } from "node:crypto";
import { once } from "node:events";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { Readable } from "node:stream";
import { parseArgs } from "node:util";
import { crc32 } from "node:zlib";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { Upload } from "@aws-sdk/lib-storage";
import { ACCESS_KEY, SECRET_KEY, startS3 } from "../test/s3/gateway.js";
import { freePort } from "../test/support/cluster-harness.js";
import {
  formatProfile,
  type ProfileSummary,
  profileClockUs,
  summarizeProfile,
} from "./support/cpu-profile.js";
import { cpuSeconds } from "./support/procs.js";
import { leanS3, startBaselineGateway, startNullEndpoint } from "./support/s3-clients.js";

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
    baseline: { type: "string" },
    /** Node flags for the (new) gateway alone, space-separated: a V8 setting tried against the baseline. */
    "gateway-node-args": { type: "string", default: "" },
    "profile-cluster": { type: "string" },
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

/** CPU ms per MiB of a big phase: the cluster split into its replicas and its data nodes. */
interface CpuPerMib {
  client: number;
  gateway: number;
  replicas: number;
  data: number;
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

/**
 * Read and write system calls so far of these processes (/proc/PID/io: sockets and files alike). Per
 * MiB, they show how finely the bytes arrive: a sender short of CPU sends a chunk in more, smaller
 * bursts, and the receiver wakes for more, smaller reads.
 */
function syscalls(pids: number[]): { reads: number; writes: number } {
  let reads = 0;
  let writes = 0;
  for (const pid of pids) {
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    reads += Number(/syscr: (\d+)/.exec(io)?.[1] ?? 0);
    writes += Number(/syscw: (\d+)/.exec(io)?.[1] ?? 0);
  }
  return { reads, writes };
}

/** The gateway's peak RSS since the last reset, in MiB; the reset (clear_refs 5) starts a new phase. */
function peakRssMib(pid: number): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m === null ? Number.NaN : Number(m[1]) / 1024;
}
function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
}

/** With --profile, this process (the library's and the SDK's side) is profiled too, into the same folder. */
const selfProfile = values.profile !== undefined ? new Session() : undefined;
if (selfProfile !== undefined) {
  selfProfile.connect();
  selfProfile.post("Profiler.enable");
  selfProfile.post("Profiler.start");
}
const profileArgs = values.profile !== undefined ? ["--cpu-prof", `--cpu-prof-dir=${values.profile}`] : [];
const gatewayNodeArgs = [...profileArgs, ...values["gateway-node-args"].split(" ").filter((a) => a !== "")];
const env = await startS3({
  overrides: { chunkSizeBytes: 4 * 1024 * 1024, inlineThresholdBytes: 64 * 1024 },
  ...(values["gateway-cli"] !== undefined ? { cli: values["gateway-cli"] } : {}),
  nodeArgs: gatewayNodeArgs,
  ...(values["profile-cluster"] !== undefined
    ? {
        clusterEnv: {
          NODE_OPTIONS: `--require ${resolve("bench/support/cpu-profile-preload.cjs")}`,
          RAFTFS_CPU_PROF_DIR: resolve(values["profile-cluster"]),
        },
      }
    : {}),
});
const baseline =
  values.baseline !== undefined
    ? await startBaselineGateway(
        values.baseline,
        env.cluster.configPath,
        await freePort(),
        profileArgs,
      ).catch(async (err: unknown) => {
        await env.stop();
        throw err;
      })
    : undefined;
const oldS3Client =
  baseline === undefined
    ? undefined
    : new S3Client({
        endpoint: baseline.endpoint,
        region: "us-east-1",
        forcePathStyle: true,
        credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY },
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
/** Each big phase's span on the profiles' clock, to cut it out of the children's profiles. */
const spans: { name: string; fromUs: number; toUs: number }[] = [];
/** Whose profile is whose: pid → replica, data node or gateway. */
const roles = new Map<number, string>();
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
  const mib = BIG_BYTES / (1024 * 1024);
  const rss = new Map<string, number>();
  /** CPU ms per MiB moved in each big phase, by who spent it (the phase's best round). */
  const bigCpu = new Map<string, CpuPerMib>();
  const replicaPids = env.cluster.metaIds.map((id) => env.cluster.pid("meta", id)!);
  const dataPids = env.cluster.dataIds.map((id) => env.cluster.pid("data", id)!);
  for (const pid of replicaPids) roles.set(pid, "replicas");
  for (const pid of dataPids) roles.set(pid, "data nodes");
  roles.set(gatewayPid, "gateway");
  if (baseline !== undefined) roles.set(baseline.child.pid!, "old gateway");
  /** Chunk writes so far, summed over the data nodes (every replica of every chunk counts). */
  const chunkStores = async () => {
    let n = 0;
    for (const id of env.cluster.dataIds)
      n += await env.cluster.dataMetric(id, "raftfs_data_chunk_writes_total");
    return n;
  };
  if (BIG > 0) {
    // The cluster's CPU with nothing to do (heartbeats, ticks): a slower phase carries more of it per MiB.
    const r0 = cpuSeconds(replicaPids);
    const d0 = cpuSeconds(dataPids);
    const idleMs = 5000;
    await new Promise((r) => setTimeout(r, idleMs));
    console.error(
      `idle cluster: replicas ${((cpuSeconds(replicaPids) - r0) / (idleMs / 1000)).toFixed(3)} CPU-s/s, data nodes ${((cpuSeconds(dataPids) - d0) / (idleMs / 1000)).toFixed(3)} CPU-s/s`,
    );
  }
  type BigSide = "lib" | "s3" | "old";
  const gatewayOf = (side: BigSide) => (side === "old" ? baseline!.child.pid! : gatewayPid);
  const clientOf = (side: BigSide) => (side === "old" ? oldS3Client! : s3);
  /** One big-object phase, timed, with its gateway's peak RSS and everyone's CPU during it. */
  async function phase(side: BigSide, name: string, fn: () => Promise<void>): Promise<void> {
    const gateway = gatewayOf(side);
    resetPeakRss(gateway);
    const c0 = process.cpuUsage();
    const g0 = cpuSeconds([gateway]);
    const r0 = cpuSeconds(replicaPids);
    const d0 = cpuSeconds(dataPids);
    const stores0 = await chunkStores();
    const io0 = syscalls(dataPids);
    const fromUs = profileClockUs();
    const start = performance.now();
    try {
      await fn();
    } catch (err) {
      errors.push(`${name}: ${String(err)}`);
      return;
    }
    const perS = mibPerS(start);
    spans.push({ name, fromUs, toUs: profileClockUs() });
    const stores = (await chunkStores()) - stores0;
    const io1 = syscalls(dataPids);
    const c = process.cpuUsage(c0);
    const perMib = (seconds: number) => (seconds * 1000) / mib;
    const spent: CpuPerMib = {
      client: perMib((c.user + c.system) / 1e6),
      gateway: perMib(cpuSeconds([gateway]) - g0),
      replicas: perMib(cpuSeconds(replicaPids) - r0),
      data: perMib(cpuSeconds(dataPids) - d0),
    };
    if (perS > (best.get(name) ?? 0)) bigCpu.set(name, spent);
    keep(name, perS);
    rss.set(name, Math.max(rss.get(name) ?? 0, peakRssMib(gateway)));
    // Progress on stderr: a 1 GiB phase takes minutes on a loaded machine.
    console.error(
      `${name}: ${perS.toFixed(1)} MiB/s, gateway peak RSS ${peakRssMib(gateway).toFixed(0)} MiB, CPU ms/MiB client ${spent.client.toFixed(1)} gateway ${spent.gateway.toFixed(1)} replicas ${spent.replicas.toFixed(1)} data nodes ${spent.data.toFixed(1)}; chunk writes on the data nodes ${stores}, their read/write syscalls per MiB ${((io1.reads - io0.reads) / mib).toFixed(0)}/${((io1.writes - io0.writes) / mib).toFixed(0)}; load ${loadavg()[0]!.toFixed(1)}`,
    );
  }
  const bigSides: BigSide[] = baseline === undefined ? ["lib", "s3"] : ["lib", "s3", "old"];
  let seed = 1;
  for (let round = 0; round < BIG_ROUNDS; round++) {
    for (let b = 0; b < BIG; b++) {
      // Each round starts with another side, so a load that rises or falls favours none of them.
      const shift = (round + b + (values["big-first"] === "s3" ? 1 : 0)) % bigSides.length;
      const sides = [...bigSides.slice(shift), ...bigSides.slice(0, shift)];
      for (const side of sides) {
        // A gateway writes the object once with each kind of PUT; the GET reads the multipart one.
        const uploads =
          side === "lib"
            ? (["put"] as const)
            : values["big-uploads"].split(",").map((u) => (u === "put" ? "put" : "multipart put"));
        for (const how of uploads) {
          const s = seed++;
          const key = `${side}-r${round}-big-${b}-${how === "put" ? "single" : "parts"}`;
          const expected = await crcOf(generated(s, BIG_BYTES)); // outside the timed phase
          await phase(side, `${side} ${how} big`, async () => {
            if (side === "lib") await fs.writeFile(`/bench/${key}`, generated(s, BIG_BYTES));
            else if (how === "put")
              await clientOf(side).send(
                new PutObjectCommand({
                  Bucket: "bench",
                  Key: key,
                  Body: Readable.from(generated(s, BIG_BYTES)),
                  ContentLength: BIG_BYTES,
                }),
              );
            else
              await new Upload({
                client: clientOf(side),
                params: { Bucket: "bench", Key: key, Body: Readable.from(generated(s, BIG_BYTES)) },
                partSize: PART_BYTES,
                queueSize: 4,
              }).done();
          });
          const remove = () => fs.rm(`/bench/${key}`, { force: true });
          // The GET reads the multipart object when there is one, else the single PUT's.
          if (how === "put" && side !== "lib" && uploads.length > 1) {
            await remove();
            continue;
          }
          await phase(side, `${side} get big`, async () => {
            const got = await crcOf(
              side === "lib"
                ? fs.createReadStream(`/bench/${key}`)
                : ((await clientOf(side).send(new GetObjectCommand({ Bucket: "bench", Key: key })))
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
    if (l === 0 || g === 0) return;
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
  if (baseline !== undefined) {
    row(
      `put ${big}, SDK PutObject, baseline gateway`,
      "lib put big",
      "old put big",
      "MiB/s",
      rssOf("old put big"),
    );
    row(
      `put ${big}, lib-storage Upload, baseline gateway`,
      "lib put big",
      "old multipart put big",
      "MiB/s",
      rssOf("old multipart put big"),
    );
    row(
      `get ${big}, SDK GetObject, baseline gateway`,
      "lib get big",
      "old get big",
      "MiB/s",
      rssOf("old get big"),
    );
  }
  if (bigCpu.size > 0) {
    console.log(
      `\n| ${big} phase | CPU ms per MiB: client | gateway | replicas | data nodes | total | total ÷ library's |`,
    );
    console.log("|---|---:|---:|---:|---:|---:|---:|");
    const total = (c: CpuPerMib) => c.client + c.gateway + c.replicas + c.data;
    for (const [name, c] of bigCpu) {
      const lib = bigCpu.get(name.includes("get") ? "lib get big" : "lib put big");
      console.log(
        `| ${name} | ${c.client.toFixed(1)} | ${c.gateway.toFixed(1)} | ${c.replicas.toFixed(1)} | ${c.data.toFixed(1)} | ${total(c).toFixed(1)} | ${lib === undefined ? "" : (total(c) / total(lib)).toFixed(2)} |`,
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
  oldS3Client?.destroy();
  // Graceful stops, so the profiles are written (stop() alone kills every process).
  const gateways = [env.gateway, ...(baseline !== undefined ? [baseline.child] : [])];
  for (const g of gateways) {
    if (g.exitCode !== null) continue;
    g.kill(values.profile !== undefined ? "SIGTERM" : "SIGKILL");
    await once(g, "exit");
  }
  if (values["profile-cluster"] !== undefined) {
    for (const id of env.cluster.metaIds) await env.cluster.kill("meta", id, "SIGTERM");
    for (const id of env.cluster.dataIds) await env.cluster.kill("data", id, "SIGTERM");
  }
  await env.stop();
}
if (selfProfile !== undefined) {
  roles.set(process.pid, "bench client");
  const profile = await new Promise<unknown>((done, fail) =>
    selfProfile.post("Profiler.stop", (err, r) => (err ? fail(err) : done(r.profile))),
  );
  writeFileSync(join(values.profile!, `CPU.${process.pid}.cpuprofile`), JSON.stringify(profile));
}
printProfiles([values.profile, values["profile-cluster"]]);

/** Per big phase and per kind of process, the hottest functions of the profiles in `dirs`, in CPU ms per MiB. */
function printProfiles(dirs: (string | undefined)[]): void {
  const files = new Map<number, string>();
  for (const dir of dirs) {
    if (dir === undefined || !existsSync(dir)) continue;
    for (const f of readdirSync(dir)) {
      const m = /^CPU\.(?:\d+\.\d+\.)?(\d+)\./.exec(f);
      if (m !== null && roles.has(Number(m[1]))) files.set(Number(m[1]), join(dir, f));
    }
  }
  if (files.size === 0) return;
  const mib = BIG_BYTES / (1024 * 1024);
  for (const name of new Set(spans.map((s) => s.name))) {
    const mine = spans.filter((s) => s.name === name);
    for (const role of new Set(roles.values())) {
      const merged: ProfileSummary = { sampledMs: 0, idleMs: 0, gcMs: 0, rows: [] };
      const rows = new Map<string, { selfMs: number; totalMs: number }>();
      for (const [pid, file] of files) {
        if (roles.get(pid) !== role) continue;
        for (const span of mine) {
          const one = summarizeProfile(file, span.fromUs, span.toUs);
          merged.sampledMs += one.sampledMs / mine.length;
          merged.idleMs += one.idleMs / mine.length;
          merged.gcMs += one.gcMs / mine.length;
          for (const r of one.rows) {
            const acc = rows.get(r.name) ?? { selfMs: 0, totalMs: 0 };
            acc.selfMs += r.selfMs / mine.length;
            acc.totalMs += r.totalMs / mine.length;
            rows.set(r.name, acc);
          }
        }
      }
      if (merged.sampledMs === 0) continue;
      merged.rows = [...rows].map(([n, r]) => ({ name: n, ...r }));
      // In ms per MiB: the profile's ms of one phase (averaged over its rounds) over the MiB it moved.
      const busy = merged.sampledMs - merged.idleMs;
      console.log(
        `\n${name}, ${role}: busy ${(busy / mib).toFixed(2)} ms/MiB (GC ${(merged.gcMs / mib).toFixed(2)})\n${formatProfile(`${name}, ${role}`, merged, 15)}`,
      );
    }
  }
}
