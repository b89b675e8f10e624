/**
 * Where the time of one write goes: a 3-replica cluster (real processes, LevelDB with fsync) with a
 * preloaded hook (bench/support/write-trace-hook.mjs) that stamps each step in every replica on the
 * one monotonic clock, and a client that sends N 100-byte writes one at a time: raw HTTP, or with
 * `--library` the build's own client library (`connect()`, `writeFile`: what users run). Prints the
 * median and p90 of each step of a write, per build, and the Raft ideal beside the total; with
 * `--baseline DIR` the two builds run in alternating rounds, so they meet the same neighbours.
 *
 *   npm run build && npx tsx bench/write-trace.ts [--writes 2000] [--rounds 2] [--baseline DIR] [--library]
 */
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { Agent, request } from "undici";
import { freePort, start, stop, waitFor } from "./support/procs.js";

const { values } = parseArgs({
  options: {
    writes: { type: "string", default: "2000" },
    rounds: { type: "string", default: "2" },
    baseline: { type: "string" },
    /** Write through the build's client library instead of raw HTTP. */
    library: { type: "boolean", default: false },
  },
});
const WRITES = Number(values.writes);
const SKIP = Math.min(200, Math.floor(WRITES / 5)); // warm-up writes left out of the figures
const HOOK = resolve("bench/support/write-trace-hook.mjs");

type Stamp = [t: bigint, label: string, extra: string];

async function traceOnce(root: string): Promise<Map<string, number[]>> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-trace-"));
  const ports = [await freePort(), await freePort(), await freePort()];
  const configPath = join(dir, "cluster.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "bench-secret-0123",
      meta: ports.map((port, i) => ({ id: i + 1, host: "127.0.0.1", port })),
      data: [],
    }),
  );
  const main = resolve(root, "dist/src/meta/main.js");
  const procs: ChildProcess[] = [];
  for (let id = 1; id <= 3; id++) {
    const code = `import(${JSON.stringify(main)}).then(m => m.runMetaReplica({ configPath: ${JSON.stringify(configPath)}, id: ${id} }))`;
    procs.push(
      start(process.execPath, ["--import", HOOK, "--input-type=module", "-e", code], {
        RAFTFS_LOG_LEVEL: "error",
        RAFTFS_WRITE_TRACE_ROOT: resolve(root),
        RAFTFS_WRITE_TRACE: join(dir, `stamps-${id}.json`),
      }),
    );
  }
  const agent = new Agent({ connections: 2, headersTimeout: 10_000, bodyTimeout: 10_000 });
  const urls = ports.map((p) => `http://127.0.0.1:${p}`);
  try {
    const leader = await waitFor("a leader", async () => {
      for (const [i, u] of urls.entries()) {
        const res = await request(`${u}/status`, { dispatcher: agent }).catch(() => null);
        if (res && ((await res.body.json()) as { role: string }).role === "leader") return i + 1;
      }
      return null;
    });
    const url = urls[leader - 1]!;
    const post = async (route: string, body: unknown) => {
      const res = await request(url + route, {
        method: "POST",
        body: JSON.stringify(body),
        headers: { "content-type": "application/json" },
        dispatcher: agent,
      });
      const json = await res.body.json();
      if (res.statusCode !== 200) throw new Error(`HTTP ${res.statusCode}: ${JSON.stringify(json)}`);
      return json as { sessionId: number; secret: string };
    };
    const spans: [bigint, bigint][] = [];
    if (values.library) {
      const lib = (await import(resolve(root, "dist/src/index.js"))) as typeof import("../src/index.js");
      const client = await lib.connect({ endpoints: urls });
      try {
        await client.mkdir("/t", { recursive: true });
        for (let seq = 1; seq <= WRITES; seq++) {
          const t0 = process.hrtime.bigint();
          await client.writeFile(`/t/f${seq % 1000}`, Buffer.alloc(100, seq % 256));
          spans.push([t0, process.hrtime.bigint()]);
        }
      } finally {
        await client.close();
      }
    } else {
      const session = await post("/v1/sessions", {});
      for (let seq = 1; seq <= WRITES; seq++) {
        const t0 = process.hrtime.bigint();
        await post("/v1/fs/commit", {
          path: `/t/f${seq % 1000}`,
          content: { kind: "inline", dataBase64: Buffer.alloc(100, seq % 256).toString("base64") },
          createParents: true,
          session: { id: session.sessionId, seq, ackedSeq: seq - 1, secret: session.secret },
        });
        spans.push([t0, process.hrtime.bigint()]);
      }
    }
    for (const p of procs) p.kill("SIGUSR2");
    await sleep(1000);
    const stamps = new Map<number, Stamp[]>();
    for (let id = 1; id <= 3; id++) {
      const raw = JSON.parse(readFileSync(join(dir, `stamps-${id}.json`), "utf8")) as [
        string,
        string,
        string,
      ][];
      stamps.set(
        id,
        raw.map(([t, l, x]) => [BigInt(t), l, x]),
      );
    }
    return steps(spans.slice(SKIP), leader, stamps);
  } finally {
    await agent.close();
    for (const p of procs) await stop(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each write's steps, in ms, from the stamps that fall inside its client-side span. */
function steps(
  spans: [bigint, bigint][],
  leader: number,
  stamps: Map<number, Stamp[]>,
): Map<string, number[]> {
  const out = new Map<string, number[]>();
  const add = (k: string, a: bigint | undefined, b: bigint | undefined) => {
    if (a === undefined || b === undefined) return;
    out.set(k, [...(out.get(k) ?? []), Number(b - a) / 1e6]);
  };
  const cursor = new Map<number, number>();
  const within = (id: number, a: bigint, b: bigint): Stamp[] => {
    const s = stamps.get(id)!;
    let i = cursor.get(id) ?? 0;
    while (i < s.length && s[i]![0] < a) i++;
    cursor.set(id, i);
    const r: Stamp[] = [];
    for (let j = i; j < s.length && s[j]![0] <= b; j++) r.push(s[j]!);
    return r;
  };
  const first = (list: Stamp[], label: string, after: bigint, extra?: (x: string) => boolean) =>
    list.find((s) => s[1] === label && s[0] >= after && (!extra || extra(s[2])))?.[0];
  for (const [t0, t1] of spans) {
    const L = within(leader, t0, t1);
    const httpIn = first(L, "http-in", t0, (x) => x.includes("commit"));
    const proposed = first(L, "propose", t0);
    if (proposed === undefined) continue;
    const cycle = first(L, "cycle", proposed, (x) => !x.startsWith("e0"));
    if (cycle === undefined) continue;
    add("01 client → leader's HTTP request", t0, httpIn);
    add("02 leader's HTTP request → propose", httpIn, proposed);
    add("03 propose → leader's cycle", proposed, cycle);
    add("04 cycle → first append written", cycle, first(L, "written", cycle));
    const ownDone = first(L, "persisted", cycle);
    add("05 cycle → leader's own log write done", cycle, ownDone);
    let quorum: bigint | undefined;
    for (const id of [1, 2, 3].filter((x) => x !== leader)) {
      const F = within(id, t0, t1);
      const got = first(F, "recv", cycle, (x) => /append[1-9]/.test(x));
      const done = got === undefined ? undefined : first(F, "persisted", got);
      const answered = done === undefined ? undefined : first(F, "written", done);
      add("06 cycle → a follower has the append", cycle, got);
      add("07 follower: append → its log write done", got, done);
      add("08 follower: write done → answer written", done, answered);
      const back =
        answered === undefined ? undefined : first(L, "recv", answered, (x) => x.includes("append-resp"));
      if (back !== undefined && (quorum === undefined || back < quorum)) quorum = back;
    }
    add("09 cycle → first follower's answer at the leader", cycle, quorum);
    // Durable on a majority: the leader's own write and one follower's answer (3 replicas).
    const majority =
      quorum === undefined || ownDone === undefined ? undefined : quorum > ownDone ? quorum : ownDone;
    add("10 cycle → durable on a majority", cycle, majority);
    const committing =
      majority === undefined ? undefined : first(L, "cycle", majority, (x) => !x.endsWith(" c0"));
    add("11 majority → the cycle that applies", majority, committing);
    const applied = first(L, "applied", cycle);
    add("12 that cycle → applied on the leader", committing, applied);
    const httpOut = applied === undefined ? undefined : first(L, "http-out", applied);
    add("13 applied → answer handed to the socket", applied, httpOut);
    add("14 answer handed → client has it", httpOut, t1);
    add("15 total (client)", t0, t1);
    // Work per write on the leader: API requests and proposals inside the client's span.
    const count = (label: string) => L.filter((x) => x[1] === label).length;
    out.set("17 count: API requests per write", [
      ...(out.get("17 count: API requests per write") ?? []),
      count("http-in"),
    ]);
    out.set("18 count: proposals per write", [
      ...(out.get("18 count: proposals per write") ?? []),
      count("propose"),
    ]);
    // The Raft ideal for this write: the two durable writes in parallel, then the apply.
    if (majority !== undefined && committing !== undefined && applied !== undefined) {
      add("16 ideal: majority durable + apply (from the cycle)", cycle, majority + (applied - committing));
    }
  }
  return out;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(s.length * p))] ?? Number.NaN;
}

async function main(): Promise<void> {
  const builds: [string, string][] = [["this build", "."]];
  if (values.baseline) builds.push(["baseline", values.baseline]);
  const all = new Map<string, Map<string, number[]>>();
  for (let round = 0; round < Number(values.rounds); round++) {
    for (const [name, root] of round % 2 === 0 ? builds : [...builds].reverse()) {
      const got = await traceOnce(root);
      const acc = all.get(name) ?? new Map<string, number[]>();
      for (const [k, v] of got) acc.set(k, [...(acc.get(k) ?? []), ...v]);
      all.set(name, acc);
    }
  }
  console.log(
    `\n${WRITES} writes of 100 B one at a time per round (${values.library ? "client library" : "raw HTTP"}) (first ${SKIP} left out), ${values.rounds} rounds; ms\n`,
  );
  const names = builds.map(([n]) => n);
  console.log(`| step | ${names.map((n) => `${n} p50 | ${n} p90`).join(" | ")} |`);
  console.log(`|---|${names.map(() => "---:|---:").join("|")}|`);
  const keys = [...all.get(names[0]!)!.keys()].sort(
    (a, b) => parseInt(a, 10) - parseInt(b, 10) || a.localeCompare(b),
  );
  for (const k of keys) {
    const cells = names.map((n) => {
      const v = all.get(n)?.get(k) ?? [];
      return `${pct(v, 0.5).toFixed(3)} | ${pct(v, 0.9).toFixed(3)}`;
    });
    console.log(`| ${k} | ${cells.join(" | ")} |`);
  }
}

await main();
