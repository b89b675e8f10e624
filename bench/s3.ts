/**
 * The S3 gateway beside the library it is built on, in one run on one cluster: the AWS SDK's
 * PutObject/GetObject through `raftfs s3` (a child process) against `writeFile`/`createReadStream` of
 * the library, for 4 KiB objects (ops/s at 16 in flight) and 64 MiB objects (MiB/s, one at a time).
 * The cluster uses the shipped sizes (4 MiB chunks, 64 KiB inline). Rounds alternate which side goes
 * first; each side keeps its best round. Any error is printed and fails the run.
 *
 *   npm run build && npx tsx bench/s3.ts [--small 2000] [--seconds 10] [--big 3] [--rounds 2] [--profile DIR]
 *
 * `--profile DIR` runs the gateway with `--cpu-prof` into DIR (written when it stops on SIGTERM);
 * `--gateway-cli PATH` runs it from another build's dist/src/cli/main.js (an earlier commit's gateway).
 */

import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { parseArgs } from "node:util";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { startS3 } from "../test/s3/gateway.js";

const { values } = parseArgs({
  options: {
    small: { type: "string", default: "2000" },
    seconds: { type: "string", default: "10" },
    big: { type: "string", default: "3" },
    rounds: { type: "string", default: "2" },
    profile: { type: "string" },
    "gateway-cli": { type: "string" },
  },
});
const SMALL = Number(values.small);
const SECONDS = Number(values.seconds);
const BIG = Number(values.big);
const ROUNDS = Number(values.rounds);
const CONCURRENCY = 16;

const errors: string[] = [];

/**
 * `count` calls at CONCURRENCY in flight, stopped after SECONDS: completed calls per second, and how
 * many were started (the GETs then read only the objects the PUTs got to).
 */
async function rate(count: number, fn: (i: number) => Promise<void>): Promise<{ perS: number; n: number }> {
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
  return { perS: done / ((performance.now() - start) / 1000), n: next };
}

async function mibPerS(bytes: number, fn: () => Promise<void>): Promise<number> {
  const start = performance.now();
  try {
    await fn();
  } catch (err) {
    errors.push(String(err));
    return 0;
  }
  return bytes / (1024 * 1024) / ((performance.now() - start) / 1000);
}

async function drain(stream: AsyncIterable<Uint8Array>): Promise<number> {
  let n = 0;
  for await (const b of stream) n += b.length;
  return n;
}

const env = await startS3({
  overrides: { chunkSizeBytes: 4 * 1024 * 1024, inlineThresholdBytes: 64 * 1024 },
  ...(values["gateway-cli"] !== undefined ? { cli: values["gateway-cli"] } : {}),
  ...(values.profile !== undefined ? { nodeArgs: ["--cpu-prof", `--cpu-prof-dir=${values.profile}`] } : {}),
});
try {
  const { s3, fs } = env;
  await s3.send(new CreateBucketCommand({ Bucket: "bench" }));
  const small = randomBytes(4096);
  const big = randomBytes(BIG > 0 ? 64 * 1024 * 1024 : 0);
  const best = new Map<string, number>();
  const keep = (name: string, v: number) => best.set(name, Math.max(best.get(name) ?? 0, v));
  for (let round = 0; round < ROUNDS; round++) {
    const sides = round % 2 === 0 ? (["lib", "s3"] as const) : (["s3", "lib"] as const);
    for (const side of sides) {
      const path = (i: number) => `/bench/${side}-r${round}-small-${i}`;
      const put = await rate(SMALL, (i) =>
        side === "lib"
          ? fs.writeFile(path(i), small).then(() => undefined)
          : s3
              .send(new PutObjectCommand({ Bucket: "bench", Key: path(i).slice(7), Body: small }))
              .then(() => undefined),
      );
      keep(`${side} put 4k`, put.perS);
      const get = await rate(put.n, async (i) => {
        const n =
          side === "lib"
            ? (await fs.readFile(path(i))).length
            : (
                await (
                  await s3.send(new GetObjectCommand({ Bucket: "bench", Key: path(i).slice(7) }))
                ).Body!.transformToByteArray()
              ).length;
        if (n !== 4096) throw new Error(`read ${n} bytes, not 4096`);
      });
      keep(`${side} get 4k`, get.perS);
      for (let b = 0; b < BIG; b++) {
        const key = `${side}-r${round}-big-${b}`;
        keep(
          `${side} put 64M`,
          await mibPerS(big.length, async () => {
            if (side === "lib") await fs.writeFile(`/bench/${key}`, big);
            else await s3.send(new PutObjectCommand({ Bucket: "bench", Key: key, Body: big }));
          }),
        );
        keep(
          `${side} get 64M`,
          await mibPerS(big.length, async () => {
            const n =
              side === "lib"
                ? await drain(fs.createReadStream(`/bench/${key}`))
                : await drain(
                    (await s3.send(new GetObjectCommand({ Bucket: "bench", Key: key })))
                      .Body as AsyncIterable<Uint8Array>,
                  );
            if (n !== big.length) throw new Error(`read ${n} bytes, not ${big.length}`);
          }),
        );
        await fs.rm(`/bench/${key}`);
      }
    }
  }
  console.log("| operation | library | S3 gateway (SDK) | gateway / library |");
  console.log("|---|---:|---:|---:|");
  for (const [op, unit] of [
    ["put 4k", "ops/s"],
    ["get 4k", "ops/s"],
    ["put 64M", "MiB/s"],
    ["get 64M", "MiB/s"],
  ] as const) {
    const lib = best.get(`lib ${op}`) ?? 0;
    const gw = best.get(`s3 ${op}`) ?? 0;
    if (lib === 0 && gw === 0) continue; // not run (--big 0)
    console.log(
      `| ${op} | ${lib.toFixed(1)} ${unit} | ${gw.toFixed(1)} ${unit} | ${(gw / lib).toFixed(2)} |`,
    );
  }
  if (errors.length > 0) {
    console.error(`${errors.length} errors:`);
    for (const e of errors.slice(0, 20)) console.error(`  ${e}`);
    process.exitCode = 1;
  }
} finally {
  if (values.profile !== undefined && env.gateway.exitCode === null) {
    // A graceful stop, so the profile is written (stop() alone kills the gateway).
    env.gateway.kill("SIGTERM");
    await once(env.gateway, "exit");
  }
  await env.stop();
}
