/**
 * The test side of the power-loss layer: mounts a directory whose un-fsynced writes, creates,
 * renames and unlinks live only in a child process's memory (serve.ts, page-cache.ts), and can cut
 * power on it — after which the backing directory holds exactly what was fsynced, and `mount()` again
 * serves those surviving bytes. Cut power on a process's disk only after the process is dead
 * (`kill -9`): a power cut takes the machine, not only its disk.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";

const SERVE = resolve("test/support/lazyfs/serve.ts");

/** Why FUSE cannot run here, or null when it can (the test prints the reason in one skip line). */
export function fuseUnavailable(): string | null {
  if (!existsSync("/dev/fuse")) return "no /dev/fuse on this machine";
  if (!existsSync("/bin/fusermount") && !existsSync("/usr/bin/fusermount"))
    return "no fusermount (Debian `fuse`)";
  if (
    !existsSync("/lib/x86_64-linux-gnu/libfuse.so.2") &&
    !existsSync("/usr/lib/x86_64-linux-gnu/libfuse.so.2")
  ) {
    return "no libfuse.so.2 (Debian `libfuse2`)";
  }
  return null;
}

function mounted(mountPoint: string): boolean {
  const abs = resolve(mountPoint);
  return readFileSync("/proc/mounts", "utf8")
    .split("\n")
    .some((l) => l.split(" ")[1] === abs);
}

/** Detaches a mount whatever its state (a dead server leaves "transport endpoint is not connected"). */
export function forceUnmount(mountPoint: string): void {
  if (!mounted(mountPoint)) return;
  execFileSync("fusermount", ["-uz", mountPoint], { stdio: "ignore" });
}

export class LazyFs {
  private child: ChildProcess | null = null;
  private log = "";
  /** Power cuts so far (a test reports them). */
  cuts = 0;

  constructor(
    readonly backing: string,
    readonly mountPoint: string,
  ) {
    mkdirSync(backing, { recursive: true });
    mkdirSync(mountPoint, { recursive: true });
  }

  static async mount(backing: string, mountPoint: string): Promise<LazyFs> {
    const fs = new LazyFs(backing, mountPoint);
    await fs.mount();
    return fs;
  }

  /** Starts a layer process over the backing directory; resolves once the mount answers. */
  async mount(): Promise<void> {
    if (this.child) throw new Error(`lazyfs ${this.mountPoint} is already mounted`);
    forceUnmount(this.mountPoint);
    const child = spawn(process.execPath, ["--import", "tsx", SERVE, this.backing, this.mountPoint], {
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.child = child;
    this.log = "";
    child.stderr?.on("data", (b: Buffer) => {
      this.log = (this.log + b.toString()).slice(-4000);
    });
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(() => fail(new Error(`lazyfs mount timed out: ${this.log}`)), 30_000);
      child.once("message", () => {
        clearTimeout(timer);
        ok();
      });
      child.once("exit", (code) => {
        clearTimeout(timer);
        fail(new Error(`lazyfs exited with ${code} before mounting: ${this.log}`));
      });
    });
  }

  /** Drops every pending (un-fsynced) change and unmounts: the backing directory is what survived. */
  async cut(): Promise<void> {
    this.cuts++;
    await this.stop("cut");
  }

  /**
   * sync(1): makes everything pending durable, as a machine that ran for a while has written its page
   * cache back. (A LevelDB just created needs it: see the power-loss test.)
   */
  async syncAll(): Promise<void> {
    const child = this.child;
    if (!child) throw new Error(`lazyfs ${this.mountPoint} is not mounted`);
    await new Promise<void>((ok, fail) => {
      const onExit = () => fail(new Error(`lazyfs exited during sync: ${this.log}`));
      child.once("exit", onExit);
      child.once("message", () => {
        child.off("exit", onExit);
        ok();
      });
      child.send({ cmd: "sync" });
    });
  }

  /** Unmounts (pending changes are dropped as in a cut: the layer never writes back on its own). */
  async unmount(): Promise<void> {
    await this.stop("unmount");
  }

  /** What the layer process wrote to stderr (its errors). */
  logs(): string {
    return this.log;
  }

  private async stop(cmd: "cut" | "unmount"): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once("exit", r));
      child.send({ cmd });
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    }
    forceUnmount(this.mountPoint);
  }
}
