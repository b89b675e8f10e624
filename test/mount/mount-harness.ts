/**
 * Mounts for tests: `raftfs mount --foreground` of the built CLI in a child process (never in the
 * test process: a process must not make calls into a mount it serves), ready once the kernel lists
 * the folder as mounted; `stop()` sends SIGTERM and waits for the exit, and falls back to a lazy
 * unmount, so afterAll always leaves no mount behind.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CLI, waitFor } from "../support/cluster-harness.js";

export function isMounted(dir: string): boolean {
  return readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[4] === dir && l.includes(" - fuse raftfs "));
}

export class TestMount {
  log = "";
  private constructor(
    readonly dir: string,
    readonly child: ChildProcess,
  ) {}

  /** `cli`: the built CLI to run (a benchmark may run an earlier build's beside this one). */
  static start(configPath: string, extraArgs: string[] = [], dir?: string, cli = CLI): Promise<TestMount> {
    return TestMount.launch(configPath, extraArgs, dir, cli, []);
  }

  /** A mount whose process writes a CPU profile into `profileDir` when it ends (benchmarks). */
  static startProfiled(configPath: string, profileDir: string, cli = CLI): Promise<TestMount> {
    return TestMount.launch(configPath, [], undefined, cli, ["--cpu-prof", "--cpu-prof-dir", profileDir]);
  }

  private static async launch(
    configPath: string,
    extraArgs: string[],
    dir: string | undefined,
    cli: string,
    nodeArgs: string[],
  ): Promise<TestMount> {
    const d = dir ?? mkdtempSync(join(tmpdir(), "raftfs-mnt-"));
    const child = spawn(
      process.execPath,
      [...nodeArgs, cli, "mount", "--foreground", "--config", configPath, ...extraArgs, d],
      {
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    const m = new TestMount(d, child);
    const keep = (b: Buffer) => {
      m.log = (m.log + b.toString()).slice(-8000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    process.once("exit", () => {
      if (child.exitCode === null) child.kill("SIGKILL");
      spawnSync("umount", ["-l", d]);
    });
    await waitFor(
      `mount at ${d}`,
      async () => {
        if (child.exitCode !== null) throw new Error(`mount exited ${child.exitCode}: ${m.log}`);
        return m.log.includes("mounted at") && isMounted(d) ? true : null;
      },
      30_000,
    );
    return m;
  }

  /** SIGTERM (clean unmount); after 10 s SIGKILL and a lazy unmount. Resolves with the exit code. */
  async stop(removeDir = true): Promise<number | null> {
    let code: number | null = this.child.exitCode;
    if (code === null && this.child.signalCode === null) {
      const exited = new Promise<number | null>((r) => this.child.once("exit", (c) => r(c)));
      this.child.kill("SIGTERM");
      const timer = setTimeout(() => this.child.kill("SIGKILL"), 10_000);
      code = await exited;
      clearTimeout(timer);
    }
    if (isMounted(this.dir)) spawnSync("umount", ["-l", this.dir]);
    if (removeDir) rmSync(this.dir, { recursive: true, force: true });
    return code;
  }
}
