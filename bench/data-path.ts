/**
 * Data-path throughput beside this machine's ceilings, all measured in the same run:
 *  - disk: sequential 4 MiB writes with fsync after each, to a file in the temp folder;
 *  - HTTP streaming: undici → fastify → file (fsync), one stream, and the GET back;
 *  - raftfs: a file of N MiB put through placement + the 3-node pipeline + one commit, and read back
 *    (chunks from holders, verified), with replication 3 on 3 data nodes;
 *  - the product: the same size put and got through the library (`connect()`, a write stream and a
 *    read stream) and through the real `raftfs` CLI (a child process, `put` of a real file, `get` to a
 *    file and to /dev/null), each byte compared with what was written, with the peak RSS of each;
 *  - with --small, small files (4 KiB, 64 KiB, 1 MiB) with 16 concurrent writers: ops/s and p99.
 * Every request's answer is checked (placement, chunk PUT, commit, reads, the HTTP ceilings' own), and
 * any error fails the run: a throughput of failed requests is not a throughput.
 *
 *   npm run build && npx tsx bench/data-path.ts [--mib 1024] [--parallel 2] [--small] \
 *     [--cpu-prof-dir DIR] [--max-seconds 900] [--baseline-cli DIR]
 *
 * On a shared machine the ceilings move by 2-5x within minutes, so the CLI rows are also set beside
 * a ceiling measured right before each of them (`--near-mib` of disk writes before the put, of HTTP
 * GETs before each get): those ratios compare the same minute.
 *
 * `--cpu-prof-dir` writes a V8 CPU profile of every server process and of each CLI run into DIR
 * (each process's pid is printed with its role, to tell the files apart: the file names carry pids). The whole run stops with an
 * error after `--max-seconds`. `--baseline-cli DIR` runs the CLI rows again with another build's CLI
 * (DIR/dist/src/cli/main.js, e.g. a `git archive` of an earlier commit, built) against the same
 * cluster right after this build's, so the two compare within one run.
 */

import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import {
  closeSync,
  createWriteStream,
  fsyncSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { pipeline } from "node:stream/promises";
import { parseArgs } from "node:util";
import Fastify from "fastify";
import { Agent, request } from "undici";
import { connect } from "../src/index.js";
import { MetaCluster } from "../test/support/meta-procs.js";
import { load } from "./support/procs.js";

const { values } = parseArgs({
  options: {
    mib: { type: "string", default: "1024" },
    parallel: { type: "string", default: "2" },
    small: { type: "boolean", default: false },
    "cpu-prof-dir": { type: "string" },
    "max-seconds": { type: "string", default: "900" },
    "near-mib": { type: "string", default: "256" },
    "baseline-cli": { type: "string" },
  },
});
const MIB = Number(values.mib);
const PARALLEL = Number(values.parallel);
const CHUNK = 4 * 1024 * 1024;
const agent = new Agent({ connections: 32, headersTimeout: 60_000, bodyTimeout: 60_000 });
const PROF_DIR = values["cpu-prof-dir"] ? resolve(values["cpu-prof-dir"]) : undefined;
const PROF_ARGS = PROF_DIR ? ["--cpu-prof", `--cpu-prof-dir=${PROF_DIR}`] : [];
// A run that hangs (a stuck stream, a lost cluster) ends with an error instead of running on.
setTimeout(() => {
  console.error(`data-path: still running after ${values["max-seconds"]} s, stopping`);
  process.exit(1);
}, Number(values["max-seconds"]) * 1000).unref();
const mbps = (bytes: number, ms: number) => bytes / 1e6 / (ms / 1000);

/** Fails the run unless the answer has the expected status. */
function expectStatus(what: string, r: { status: number; body: unknown }, status: number): void {
  if (r.status !== status)
    throw new Error(`${what}: HTTP ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
}

function diskCeiling(dir: string, bytes: number): number {
  const fd = openSync(join(dir, "disk.bin"), "w");
  const block = Buffer.alloc(CHUNK, 7);
  const t0 = performance.now();
  for (let done = 0; done < bytes; done += CHUNK) {
    writeSync(fd, block);
    fsyncSync(fd);
  }
  const ms = performance.now() - t0;
  closeSync(fd);
  return mbps(bytes, ms);
}

async function httpCeiling(dir: string, bytes: number, only?: "get"): Promise<{ put: number; get: number }> {
  const app = Fastify({ bodyLimit: CHUNK * 2 });
  app.addContentTypeParser("application/octet-stream", (_req, _payload, done) => done(null));
  app.put("/f", async (req, reply) => {
    const out = createWriteStream(join(dir, "http.bin"));
    await pipeline(req.raw, out);
    const fd = openSync(join(dir, "http.bin"), "r+");
    fsyncSync(fd);
    closeSync(fd);
    return reply.code(201).send();
  });
  app.get("/f", async (_req, reply) => reply.send(Buffer.alloc(CHUNK, 3)));
  await app.listen({ host: "127.0.0.1", port: 0 });
  const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}/f`;
  const block = Buffer.alloc(CHUNK, 5);
  let t0 = performance.now();
  for (let done = 0; only !== "get" && done < bytes; done += CHUNK) {
    const res = await request(url, {
      method: "PUT",
      body: block,
      headers: { "content-type": "application/octet-stream" },
      dispatcher: agent,
    });
    await res.body.dump();
    expectStatus("HTTP ceiling PUT", { status: res.statusCode, body: null }, 201);
  }
  const put = mbps(bytes, performance.now() - t0);
  t0 = performance.now();
  for (let done = 0; done < bytes; done += CHUNK) {
    const res = await request(url, { dispatcher: agent });
    const got = await res.body.arrayBuffer();
    expectStatus("HTTP ceiling GET", { status: res.statusCode, body: null }, 200);
    if (got.byteLength !== CHUNK) throw new Error(`HTTP ceiling GET: ${got.byteLength} bytes`);
  }
  const get = mbps(bytes, performance.now() - t0);
  await app.close();
  return { put, get };
}

const sha = (b: Buffer) => createHash("sha256").update(b).digest("hex");

async function putChunk(
  c: MetaCluster,
  leader: string,
  data: Buffer,
): Promise<{ id: string; sizeBytes: number }> {
  const id = sha(data);
  const placed = await c.http.post(`${leader}/v1/chunks/placement`, {
    chunkId: id,
    sizeBytes: data.byteLength,
  });
  expectStatus("placement", placed, 200);
  const p = placed.body as { nodes: { id: number; url: string }[]; ticket: string };
  const [first, ...rest] = p.nodes;
  const res = await request(`${first!.url}/v1/chunks/${id}`, {
    method: "PUT",
    body: data,
    headers: {
      "content-type": "application/octet-stream",
      "content-length": String(data.byteLength),
      "x-raftfs-ticket": p.ticket,
      "x-raftfs-pipeline": JSON.stringify(rest),
    },
    dispatcher: agent,
  });
  const text = await res.body.text();
  if (res.statusCode !== 201) throw new Error(`chunk PUT: ${res.statusCode} ${text}`);
  return { id, sizeBytes: data.byteLength };
}

/** Content of byte range [at, at + n) of the bench file: distinct per MiB, so nothing dedups. */
function fileBytes(mib: number): Buffer {
  const b = Buffer.alloc(1024 * 1024, mib & 0xff);
  b.writeUInt32LE(mib, 0);
  b.writeUInt32LE((0x85ebca6b ^ mib) >>> 0, b.length - 4);
  return b;
}

/** Peak RSS of the current process in MiB (VmHWM). */
function peakRssMib(pid: number | "self" = "self"): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  return m ? Number(m[1]) / 1024 : Number.NaN;
}

/** CPU seconds (user + system) a process has used, from /proc; NaN once it is gone. */
function cpuSeconds(pid: number): number {
  try {
    // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th, in ticks.
    const rest = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ").at(-1)!.split(" ");
    return (Number(rest[11]) + Number(rest[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return Number.NaN;
  }
}

/** Linux's USER_HZ: /proc's CPU times are in these ticks on every architecture. */
const CLOCK_TICKS_PER_SECOND = 100;

/** CPU seconds of the cluster's data nodes together. */
function dataNodesCpuSeconds(configPath: string): number {
  let total = 0;
  for (const [pid, role] of clusterPids(configPath)) if (role.startsWith("data")) total += cpuSeconds(pid);
  return total;
}

/** The cluster's processes (pid → role), from /proc: their command lines name the config and the id. */
function clusterPids(configPath: string): Map<number, string> {
  const out = new Map<number, string>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8");
    } catch {
      continue; // exited meanwhile
    }
    if (!cmd.includes(configPath)) continue;
    const kind = cmd.includes("data/main.js") ? "data" : cmd.includes("meta/main.js") ? "meta" : null;
    const id = /id: (\d+)/.exec(cmd)?.[1];
    if (kind !== null && id !== undefined) out.set(Number(entry), `${kind}-${id}`);
  }
  return out;
}

/**
 * A preload that profiles a server process from its start to its exit (NODE_OPTIONS may not carry
 * --cpu-prof; an in-process inspector session answers synchronously, so the exit handler can write).
 */
function profHook(dir: string, profDir: string): string {
  const path = join(dir, "cpu-prof-hook.cjs");
  writeFileSync(
    path,
    `const { Session } = require("node:inspector");
const { writeFileSync } = require("node:fs");
const s = new Session();
s.connect();
s.post("Profiler.enable");
s.post("Profiler.start");
process.on("exit", () => {
  s.post("Profiler.stop", (err, r) => {
    if (!err) writeFileSync(${JSON.stringify(profDir)} + "/server." + process.pid + ".cpuprofile", JSON.stringify(r.profile));
  });
});
`,
  );
  return path;
}

/** Stops the servers with SIGTERM, so that each writes its CPU profile on the way out. */
async function stopForProfiles(c: MetaCluster): Promise<void> {
  for (const [pid, role] of clusterPids(c.configPath)) console.error(`profile: ${role} pid ${pid}`);
  for (const id of c.dataUrls.keys()) await c.killData(id, "SIGTERM");
  for (const id of c.ids) await c.kill(id, "SIGTERM");
}

const CLI = resolve("dist/src/cli/main.js");
/** Another build's CLI (`--baseline-cli DIR`: DIR/dist/src/cli/main.js), run right after this one's. */
const BASELINE_CLI = values["baseline-cli"]
  ? resolve(values["baseline-cli"], "dist/src/cli/main.js")
  : undefined;

/** Runs the CLI; fails on a non-zero exit; returns stdout, wall time and its peak RSS (polled). */
async function cli(
  config: string,
  args: string[],
  cliPath = CLI,
): Promise<{ ms: number; stdout: string; rssMib: number; cpuS: number; dataNodesCpuS: number }> {
  const dataNodesBefore = dataNodesCpuSeconds(config);
  const t0 = performance.now();
  const child = spawn(process.execPath, [...PROF_ARGS, cliPath, "--config", config, ...args], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  if (PROF_DIR) console.error(`profile: CLI ${args[0]} pid ${child.pid}`);
  let stdout = "";
  let stderr = "";
  let rssMib = 0;
  let cpuS = 0;
  child.stdout.on("data", (b: Buffer) => {
    if (args.at(-1) !== "-") stdout += b.toString();
  });
  child.stderr.on("data", (b: Buffer) => {
    stderr += b.toString();
  });
  const poll = setInterval(() => {
    try {
      // A zombie's status has no VmHWM line (NaN): keep the last reading.
      const now = peakRssMib(child.pid!);
      if (Number.isFinite(now)) rssMib = Math.max(rssMib, now);
      // The last reading before the exit: it misses at most one poll's worth of the CLI's CPU.
      const cpu = cpuSeconds(child.pid!);
      if (Number.isFinite(cpu)) cpuS = Math.max(cpuS, cpu);
    } catch {
      // exited between polls
    }
  }, 20);
  const code = await new Promise<number | null>((r) => child.on("exit", r));
  clearInterval(poll);
  const ms = performance.now() - t0;
  if (code !== 0) throw new Error(`raftfs ${args.join(" ")}: exit ${code}: ${stderr.slice(-500)}`);
  const dataNodesCpuS = dataNodesCpuSeconds(config) - dataNodesBefore;
  return { ms, stdout, rssMib, cpuS, dataNodesCpuS };
}

/**
 * One CLI's rows: `put` of a real file, `get` to a file and to stdout (/dev/null), each checked byte
 * for byte, each beside the start-of-run ceilings (`ratio`) and a ceiling measured just before it.
 */
async function cliRowsOf(
  run: { label: string; path: string },
  where: { dir: string; configPath: string },
  bytesOf: (m: number) => Buffer,
  ratio: { disk: (mbps: number) => string; get: (mbps: number) => string },
): Promise<string[]> {
  const { dir, configPath } = where;
  const bytes = MIB * 1024 * 1024;
  const local = join(dir, "local.bin");
  const fd = openSync(local, "w");
  for (let m = 0; m < MIB; m++) writeSync(fd, bytesOf(m));
  closeSync(fd);
  const want = createHash("sha256");
  for (let m = 0; m < MIB; m++) want.update(bytesOf(m));
  const wantHex = want.digest("hex");
  const near = Number(values["near-mib"]) * 1024 * 1024;
  const remote = run.path === CLI ? "/cli.bin" : "/cli-baseline.bin";
  const diskNear = diskCeiling(dir, near);
  const put = await cli(configPath, ["put", "--json", local, remote], run.path);
  const putAnswer = JSON.parse(put.stdout) as { version: number; sizeBytes: number };
  if (putAnswer.sizeBytes !== bytes || !(putAnswer.version >= 1))
    throw new Error(`raftfs put: ${put.stdout}`);
  rmSync(local);
  const back = join(dir, "back.bin");
  const getNear = (await httpCeiling(dir, near, "get")).get;
  const get = await cli(configPath, ["get", remote, back], run.path);
  const gotHex = createHash("sha256").update(readFileSync(back)).digest("hex");
  if (gotHex !== wantHex) throw new Error(`${run.label} get: the file read back differs from the one put`);
  rmSync(back);
  const getNullNear = (await httpCeiling(dir, near, "get")).get;
  const getNull = await cli(configPath, ["get", remote, "-"], run.path);
  const cliPut = mbps(bytes, put.ms);
  const cliGet = mbps(bytes, get.ms);
  const cliGetNull = mbps(bytes, getNull.ms);
  // CPU per MiB: what the load hardly moves, unlike MB/s (start-up included in the CLI's).
  const perMib = (r: { cpuS: number; dataNodesCpuS: number }) =>
    `${((r.cpuS * 1000) / MIB).toFixed(2)} | ${((r.dataNodesCpuS * 1000) / MIB).toFixed(2)}`;
  return [
    `| ${run.label} put (file) | ${cliPut.toFixed(0)} | ${ratio.disk(cliPut)} of disk÷3; ${(cliPut / (diskNear / 3)).toFixed(2)} of the disk÷3 just before (${diskNear.toFixed(0)}) | ${put.rssMib.toFixed(0)} | ${perMib(put)} |`,
    `| ${run.label} get (to a file) | ${cliGet.toFixed(0)} | ${ratio.get(cliGet)} of GET; ${(cliGet / getNear).toFixed(2)} of the GET just before (${getNear.toFixed(0)}) | ${get.rssMib.toFixed(0)} | ${perMib(get)} |`,
    `| ${run.label} get (to /dev/null) | ${cliGetNull.toFixed(0)} | ${ratio.get(cliGetNull)} of GET; ${(cliGetNull / getNullNear).toFixed(2)} of the GET just before (${getNullNear.toFixed(0)}) | ${getNull.rssMib.toFixed(0)} | ${perMib(getNull)} |`,
  ];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-datapath-"));
  const bytes = MIB * 1024 * 1024;
  const disk = diskCeiling(dir, bytes);
  const http = await httpCeiling(dir, bytes);
  const c = await MetaCluster.start({
    dataNodes: 3,
    extra: { chunkSizeBytes: CHUNK, garbageGraceMs: 600_000 },
    ...(PROF_DIR ? { env: { NODE_OPTIONS: `--require ${profHook(dir, PROF_DIR)}` } } : {}),
  });
  try {
    const leader = c.url(await c.leader());
    const s = await c.http.post(`${leader}/v1/sessions`, {});
    expectStatus("session", s, 200);
    const { sessionId: sid, secret } = s.body as { sessionId: number; secret: string };
    let seq = 0;
    // Distinct content per chunk, so nothing is deduplicated.
    const chunkData = (i: number) => {
      const b = Buffer.alloc(CHUNK);
      b.writeUInt32LE(i, 0);
      b.writeUInt32LE((0x9e3779b9 ^ i) >>> 0, CHUNK - 4);
      return b;
    };
    const n = Math.ceil(bytes / CHUNK);
    const refs: { id: string; sizeBytes: number }[] = new Array(n);
    let t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < n) {
          const i = next++;
          refs[i] = await putChunk(c, leader, chunkData(i));
        }
      }),
    );
    const committed = await c.http.post(`${leader}/v1/fs/commit`, {
      path: "/big",
      content: { kind: "chunks", chunks: refs, sizeBytes: n * CHUNK },
      session: { id: sid, seq: ++seq, ackedSeq: 0, secret },
    });
    const putMbps = mbps(n * CHUNK, performance.now() - t0);
    // The put counts only if the commit took: version 1 of a file of all the chunks.
    expectStatus("commit", committed, 200);
    if ((committed.body as { version: number }).version !== 1)
      throw new Error(`commit: ${JSON.stringify(committed.body)}`);
    const meta = await c.http.get(`${leader}/v1/fs/read?path=/big`);
    expectStatus("read /big", meta, 200);
    const stored = meta.body as { sizeBytes: number; content: { chunks?: unknown[] } };
    if (stored.sizeBytes !== n * CHUNK || stored.content.chunks?.length !== n)
      throw new Error(
        `/big: ${stored.sizeBytes} bytes in ${stored.content.chunks?.length} chunks, expected ${n}`,
      );

    // Locations in batches: a URL carries a bounded number of ids.
    const loc: { locations: Record<string, { url: string }[]>; tickets: Record<string, string> } = {
      locations: {},
      tickets: {},
    };
    for (let i = 0; i < refs.length; i += 32) {
      const ids = refs.slice(i, i + 32).map((r) => r.id);
      const r = await c.http.get(`${leader}/v1/chunks/locations?ids=${ids.join(",")}`);
      expectStatus("locations", r, 200);
      Object.assign(loc.locations, (r.body as typeof loc).locations);
      Object.assign(loc.tickets, (r.body as typeof loc).tickets);
    }
    t0 = performance.now();
    next = 0;
    await Promise.all(
      Array.from({ length: PARALLEL }, async () => {
        while (next < n) {
          const i = next++;
          const holders = loc.locations[refs[i]!.id] ?? [];
          if (holders.length === 0)
            throw new Error(`no holders for chunk ${i}: ${JSON.stringify(loc).slice(0, 300)}`);
          const res = await request(`${holders[i % holders.length]!.url}/v1/chunks/${refs[i]!.id}`, {
            dispatcher: agent,
            headers: { "x-raftfs-ticket": loc.tickets[refs[i]!.id] ?? "" },
          });
          const buf = Buffer.from(await res.body.arrayBuffer());
          expectStatus(
            `chunk ${i} GET`,
            { status: res.statusCode, body: buf.subarray(0, 200).toString() },
            200,
          );
          if (sha(buf) !== refs[i]!.id) throw new Error("checksum mismatch");
        }
      }),
    );
    const getMbps = mbps(n * CHUNK, performance.now() - t0);

    // ---- the product: library
    const client = await connect({ config: c.configPath });
    let lib: { put: number; get: number; rssMib: number };
    try {
      t0 = performance.now();
      const out = client.createWriteStream("/lib.bin");
      for (let m = 0; m < MIB; m++) {
        if (!out.write(fileBytes(m))) await new Promise((r) => out.once("drain", r));
      }
      out.end();
      const w = await out.result;
      const libPut = mbps(bytes, performance.now() - t0);
      if (w.sizeBytes !== bytes || w.version < 1) throw new Error(`library put: ${JSON.stringify(w)}`);
      t0 = performance.now();
      let at = 0;
      let mismatch = -1;
      let pending: Buffer = Buffer.alloc(0);
      for await (const part of client.createReadStream("/lib.bin")) {
        pending = pending.length ? Buffer.concat([pending, part as Buffer]) : (part as Buffer);
        while (pending.length >= 1024 * 1024) {
          if (mismatch < 0 && !pending.subarray(0, 1024 * 1024).equals(fileBytes(at))) mismatch = at;
          pending = pending.subarray(1024 * 1024);
          at++;
        }
      }
      const libGet = mbps(bytes, performance.now() - t0);
      if (at !== MIB || pending.length !== 0 || mismatch >= 0)
        throw new Error(`library get: ${at} MiB back, first mismatch at MiB ${mismatch}`);
      lib = { put: libPut, get: libGet, rssMib: peakRssMib() };
    } finally {
      await client.close();
    }

    // ---- the product: the raftfs CLI on a real file (this build's, then the baseline's if asked)
    const bytesOf = (m: number) => fileBytes(m + 1_000_000);
    const cliRuns = [{ label: "CLI", path: CLI }];
    if (BASELINE_CLI) cliRuns.push({ label: "baseline CLI", path: BASELINE_CLI });
    const vsDisk = (x: number) => (x / (disk / 3)).toFixed(2);
    const vsGet = (x: number) => (x / http.get).toFixed(2);
    const cliRows: string[] = [];
    for (const run of cliRuns) {
      const where = { dir, configPath: c.configPath };
      cliRows.push(...(await cliRowsOf(run, where, bytesOf, { disk: vsDisk, get: vsGet })));
    }
    console.log(
      `\n${MIB} MiB, 4 MiB chunks, replication 3 on 3 data nodes; raw rows: ${PARALLEL} chunks in flight\n`,
    );
    console.log("| measurement | MB/s | ratio | peak RSS MiB | CPU ms/MiB: CLI | data nodes |");
    console.log("|---|---:|---:|---:|---:|---:|");
    console.log(`| disk: sequential 4 MiB writes + fsync | ${disk.toFixed(0)} | | |`);
    console.log(`| HTTP: undici → fastify → file (+fsync), PUT | ${http.put.toFixed(0)} | | |`);
    console.log(`| HTTP: GET (ceiling) | ${http.get.toFixed(0)} | | |`);
    console.log(`| raw HTTP put (server ceiling) | ${putMbps.toFixed(0)} | ${vsDisk(putMbps)} of disk÷3 | |`);
    console.log(`| raw HTTP get (server ceiling) | ${getMbps.toFixed(0)} | ${vsGet(getMbps)} of GET | |`);
    console.log(
      `| library put (write stream) | ${lib.put.toFixed(0)} | ${vsDisk(lib.put)} of disk÷3 | ${lib.rssMib.toFixed(0)} (bench process) |`,
    );
    console.log(`| library get (read stream) | ${lib.get.toFixed(0)} | ${vsGet(lib.get)} of GET | |`);
    for (const row of cliRows) console.log(row);

    if (!values.small) return;
    console.log("\nSmall files, 16 concurrent writers (inline up to 64 KiB, chunks above):\n");
    console.log("| size | ops | ops/s | p50 ms | p99 ms | errors |");
    console.log("|---:|---:|---:|---:|---:|---:|");
    for (const size of [4096, 65_536, 1_048_576]) {
      let firstError: unknown = null;
      const r = await load(16, size > 65_536 ? 300 : 2000, 10, async (i) => {
        try {
          const data = Buffer.alloc(size, i % 256);
          data.writeUInt32LE(i, 0);
          const content =
            size <= 65_536
              ? { kind: "inline", dataBase64: data.toString("base64") }
              : { kind: "chunks", chunks: [await putChunk(c, leader, data)], sizeBytes: size };
          const res = await c.http.post(`${leader}/v1/fs/commit`, {
            path: `/small/${size}/f${i}`,
            content,
            createParents: true,
            session: { id: sid, seq: ++seq, ackedSeq: 0, secret },
          });
          expectStatus(`commit /small/${size}/f${i}`, res, 200);
        } catch (err) {
          firstError ??= err;
          throw err;
        }
      });
      if (r.errors > 0)
        throw new Error(`${size}-byte files: ${r.errors} of ${r.ops + r.errors} failed`, {
          cause: firstError,
        });
      console.log(
        `| ${size} | ${r.ops} | ${r.opsPerSecond.toFixed(0)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.errors} |`,
      );
    }
  } finally {
    if (PROF_DIR) await stopForProfiles(c);
    await c.stop();
    await agent.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
