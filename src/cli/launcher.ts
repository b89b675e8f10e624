/**
 * `raftfs cluster up`: every process of the config on this host, their logs prefixed, a wait for a
 * leader and for every data node to register, a table of endpoints, and a clean stop on Ctrl-C or
 * SIGTERM (SIGTERM to each, SIGKILL to any still running 5 s later). A process that exits during
 * start-up stops the whole launch with one line naming it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Agent, type Dispatcher } from "undici";
import { sleep } from "../common/backoff.js";
import { loadConfig, metaUrl } from "../common/config.js";
import { DfsError } from "../common/errors.js";
import type { ClusterStatus } from "../common/protocol/index.js";
import { clusterCa } from "../common/tls.js";
import { type GlobalOptions, resolveConfigPath } from "./context.js";
import { ExitCode, StartupError } from "./errors.js";
import { table } from "./format.js";
import { type CliIo, line, note } from "./io.js";
import { childExitCode } from "./lock-command.js";

// Generous: on a loaded machine replicas can take tens of seconds to elect and data nodes to
// register (30 s was passed at load 30+ with nothing wrong). The wait says what it waits for every
// READY_NOTE_EVERY_MS, and a process that exits ends it at once, so a real fault is not hidden.
export const READY_DEADLINE_MS = 120_000;
const READY_NOTE_EVERY_MS = 10_000;
const KILL_AFTER_MS = 5000;

interface Proc {
  name: string;
  kind: "meta" | "data" | "s3";
  id: number;
  url: string;
  child: ChildProcess;
  lastLine: string;
  exited: Promise<number>;
  done: boolean;
}

/**
 * Libuv threads for a data node: every chunk a node stores costs about a dozen file-system calls
 * (open, writev, three fsyncs, renames, close) on libuv's thread pool, whose default of 4 threads made
 * 64 concurrent small chunks queue behind each other's fsyncs; with more threads the fsyncs overlap
 * and the file system commits them together (bench/RESULTS.md, issue 14, small files). It must be set
 * in the environment: the pool starts with the process's first asynchronous file read, before any
 * of our code runs.
 */
export const DATA_NODE_UV_THREADS = 32;

/** The environment of a launched server process; an explicit setting in `env` wins. */
export function childEnv(kind: "meta" | "data" | "s3", env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return {
    // Two malloc arenas instead of glibc's 8 per core: LevelDB's writes run on libuv's threads, and
    // each thread's arena keeps freed pages (with a 32 MiB record cache, a replica at 150k files used
    // ~25 % less RSS at the same write rate: bench/RESULTS.md).
    MALLOC_ARENA_MAX: "2",
    ...(kind === "data" ? { UV_THREADPOOL_SIZE: String(DATA_NODE_UV_THREADS) } : {}),
    ...env,
  };
}

function launch(io: CliIo, kind: "meta" | "data" | "s3", id: number, url: string, configPath: string): Proc {
  const cli = fileURLToPath(new URL("./main.js", import.meta.url));
  const args = kind === "s3" ? [kind] : [kind, "--id", String(id)];
  const child = spawn(process.execPath, [cli, ...args, "--config", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env: childEnv(kind, io.env),
  });
  const proc: Proc = {
    name: `${kind}-${id}`,
    kind,
    id,
    url,
    child,
    lastLine: "",
    exited: Promise.resolve(0),
    done: false,
  };
  for (const stream of [child.stdout, child.stderr]) {
    if (!stream) continue;
    createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY }).on("line", (l) => {
      if (l.trim() !== "") proc.lastLine = l;
      io.stderr.write(`[${proc.name}] ${l}\n`);
    });
  }
  proc.exited = new Promise((resolve) => {
    child.once("exit", (code, signal) => {
      proc.done = true;
      resolve(childExitCode(code, signal));
    });
    child.once("error", (err) => {
      proc.lastLine = err.message;
      proc.done = true;
      resolve(1);
    });
  });
  return proc;
}

async function clusterStatus(dispatcher: Dispatcher, url: string): Promise<ClusterStatus | null> {
  try {
    const res = await dispatcher.request({
      origin: url,
      path: "/v1/cluster/status",
      method: "GET",
      headersTimeout: 1000,
      bodyTimeout: 1000,
    });
    const text = await res.body.text();
    return res.statusCode === 200 ? (JSON.parse(text) as ClusterStatus) : null;
  } catch (err) {
    if (err instanceof SyntaxError || typeof (err as { code?: unknown })?.code === "string") return null;
    throw err;
  }
}

/** The leader's status once a leader sees every data node alive; else what is still missing. */
export function readiness(statuses: (ClusterStatus | null)[]): { ready: ClusterStatus } | { why: string } {
  const s = statuses.find((x) => x !== null && x.leader !== null);
  if (s === undefined || s === null) return { why: "no leader elected" };
  const missing = s.data.filter((d) => !d.alive && d.state !== "removed").map((d) => d.id);
  if (missing.length > 0) return { why: `data node(s) ${missing.join(", ")} not registered with the leader` };
  return { ready: s };
}

async function stopAll(procs: Proc[]): Promise<void> {
  for (const p of procs) if (!p.done) p.child.kill("SIGTERM");
  const killer = setTimeout(() => {
    for (const p of procs) if (!p.done) p.child.kill("SIGKILL");
  }, KILL_AFTER_MS);
  await Promise.all(procs.map((p) => p.exited));
  clearTimeout(killer);
}

export async function clusterUp(io: CliIo, g: GlobalOptions): Promise<never> {
  const configPath = resolveConfigPath(g.config, io.env);
  const config = loadConfig(configPath);
  const tls = config.tls !== undefined;
  const ca = clusterCa(config, configPath);
  // Health checks trust the cluster cert under TLS.
  const agent = new Agent({ connectTimeout: 1000, ...(ca ? { connect: { ca } } : {}) });
  const procs: Proc[] = [
    ...config.meta.map((m) => launch(io, "meta", m.id, metaUrl(m, tls), configPath)),
    ...config.data.map((d) => launch(io, "data", d.id, metaUrl(d, tls), configPath)),
    // The S3 gateway, when the config has an `s3` section (a client of the cluster: started with it).
    ...(config.s3 ? [launch(io, "s3", 1, metaUrl(config.s3, false), configPath)] : []),
  ];
  // If this process dies unexpectedly, its children must not outlive it.
  const killAll = () => {
    for (const p of procs) if (!p.done) p.child.kill("SIGKILL");
  };
  process.once("exit", killAll);

  // Set from a signal handler: an object, so the checks below are not narrowed away.
  const state: { stopping: NodeJS.Signals | null } = { stopping: null };
  const stopped = new Promise<NodeJS.Signals>((resolve) => {
    const onSignal = (s: NodeJS.Signals) => {
      if (state.stopping !== null) return;
      state.stopping = s;
      note(io, `raftfs: ${s}: stopping ${procs.length} processes`);
      resolve(s);
    };
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  });
  const firstExit = Promise.race(procs.map((p) => p.exited.then((code) => ({ p, code }))));

  const deadline = Date.now() + READY_DEADLINE_MS;
  let nextNote = Date.now() + READY_NOTE_EVERY_MS;
  let why = "no leader elected";
  let ready: ClusterStatus | null = null;
  while (ready === null) {
    // A Ctrl-C reaches the children too, and they exit: check for it before blaming them.
    if (state.stopping !== null) {
      await stopAll(procs);
      throw new ExitCode(state.stopping === "SIGINT" ? 130 : 0);
    }
    const exited = procs.find((p) => p.done);
    if (exited) {
      await stopAll(procs);
      const code = await exited.exited;
      throw new StartupError(
        `${exited.name} exited during start-up (code ${code})${exited.lastLine ? `: ${exited.lastLine.slice(0, 300)}` : ""}`,
      );
    }
    if (Date.now() > deadline) {
      await stopAll(procs);
      throw new DfsError("TIMEOUT", `the cluster was not ready after ${READY_DEADLINE_MS / 1000} s: ${why}`);
    }
    const statuses = await Promise.all(config.meta.map((m) => clusterStatus(agent, metaUrl(m, tls))));
    const r = readiness(statuses);
    if ("ready" in r) ready = r.ready;
    else {
      why = r.why;
      if (Date.now() >= nextNote) {
        note(io, `raftfs: still starting (${why})`);
        nextNote += READY_NOTE_EVERY_MS;
      }
      await Promise.race([sleep(200), firstExit, stopped]);
    }
  }

  await agent.close();
  const pids = new Map(procs.map((p) => [p.name, p.child.pid]));
  await line(
    io,
    `raftfs cluster "${config.clusterName}" is up: leader meta ${ready.leader}, term ${ready.term}`,
  );
  const rows = procs.map((p) => [p.kind, String(p.id), p.url, String(pids.get(p.name) ?? "-")]);
  for (const l of table(["KIND", "ID", "URL", "PID"], rows)) await line(io, l);
  await line(io, `dashboard: ${procs[0]!.url}/`);
  note(io, "raftfs: Ctrl-C stops the cluster");

  // Running: report processes that die, until a signal asks us to stop.
  for (const p of procs) {
    void p.exited.then((code) => {
      if (state.stopping === null)
        note(io, `raftfs: ${p.name} exited (code ${code}); the others keep running`);
    });
  }
  const signal = await stopped;
  await stopAll(procs);
  process.off("exit", killAll);
  throw new ExitCode(signal === "SIGINT" ? 130 : 0);
}
