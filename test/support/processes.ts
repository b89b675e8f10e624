/**
 * The one place tests start, watch and kill server processes: every cluster harness (cluster-harness.ts
 * through the CLI, meta-procs.ts through the module entry or the fault hooks, tls-cluster.ts) keeps its
 * children here. A child's output is kept (its last 8,000 characters) for failure messages, a kill
 * waits for the exit when the signal ends the process, and every child of every group is killed when
 * the test process exits, so a failing or interrupted test leaves nothing running.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort } from "./wait.js";

/** Every child of every group in this process, killed on exit whatever happened. */
const everyChild = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of everyChild) {
    if (c.exitCode === null && c.signalCode === null) {
      c.kill("SIGCONT");
      c.kill("SIGKILL");
    }
  }
});

/** Tracks `child` until it exits, so that the test process's exit kills it if it still runs. */
export function trackChild(child: ChildProcess): void {
  everyChild.add(child);
  child.once("exit", () => everyChild.delete(child));
}

const KEEP_CHARS = 8000;

interface Proc {
  child: ChildProcess;
  log: string;
}

export interface LaunchOptions {
  /** Environment on top of the test's own. */
  env?: Record<string, string>;
  /** Which output streams to keep (both by default; the other goes nowhere). */
  keep?: "both" | "stderr";
}

/** Named server processes: started, signalled, restarted and stopped by name. */
export class ProcessGroup {
  private readonly procs = new Map<string, Proc>();

  /** Starts `node <args>` under `name` (replacing a dead process of that name). */
  launch(name: string, args: string[], opts: LaunchOptions = {}): ChildProcess {
    const keepOut = (opts.keep ?? "both") === "both";
    const child = spawn(process.execPath, args, {
      stdio: ["ignore", keepOut ? "pipe" : "ignore", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    return this.adopt(name, child);
  }

  /** Keeps a child started elsewhere (e.g. inside a network namespace) under `name`. */
  adopt(name: string, child: ChildProcess): ChildProcess {
    trackChild(child);
    const proc: Proc = { child, log: "" };
    const keep = (b: Buffer) => {
      proc.log = (proc.log + b.toString()).slice(-KEEP_CHARS);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.procs.set(name, proc);
    return child;
  }

  names(): string[] {
    return [...this.procs.keys()];
  }

  child(name: string): ChildProcess | undefined {
    return this.procs.get(name)?.child;
  }

  alive(name: string): boolean {
    const c = this.child(name);
    return c !== undefined && c.exitCode === null && c.signalCode === null;
  }

  pid(name: string): number | undefined {
    return this.child(name)?.pid;
  }

  /** What the process wrote last (empty for a name never launched). */
  log(name: string): string {
    return this.procs.get(name)?.log ?? "";
  }

  /** Sends `signal` (default SIGKILL); waits for the exit when the signal ends the process. */
  async kill(name: string, signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    const child = this.child(name);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.kill(signal);
    if (signal === "SIGKILL" || signal === "SIGTERM" || signal === "SIGINT") await exited;
  }

  /** Kills every process, paused ones too (SIGCONT first, so a stopped one can die). Safe to call twice. */
  async killAll(): Promise<void> {
    for (const name of this.procs.keys()) {
      await this.kill(name, "SIGCONT");
      await this.kill(name, "SIGKILL");
    }
  }
}

/** `count` distinct loopback ports that were free a moment ago. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  return ports;
}

/** Writes `config` as `<dir>/cluster.config.json` and returns its path. */
export function writeClusterConfig(dir: string, config: object): string {
  const path = join(dir, "cluster.config.json");
  writeFileSync(path, JSON.stringify(config, null, 2));
  return path;
}
