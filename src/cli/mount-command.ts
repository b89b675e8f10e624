/**
 * `raftfs mount <dir>` and `raftfs umount <dir>`. Without `--foreground`, mount starts itself again in
 * the background (detached, its log in a file beside the spool) and returns once the folder is
 * mounted; with it, it serves until SIGINT/SIGTERM or `umount`, then exits. The FUSE code is imported
 * only here, when these commands run.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { type GlobalOptions, resolveConfigPath } from "./context.js";
import { ExitCode } from "./errors.js";
import { type CliIo, note } from "./io.js";

export interface MountCommandOptions {
  foreground?: boolean;
  readOnly?: boolean;
  attrTimeoutMs?: number;
}

export async function mountCommand(
  io: CliIo,
  g: GlobalOptions,
  dir: string,
  o: MountCommandOptions,
): Promise<never> {
  const m = await import("../mount/index.js");
  const abs = resolve(dir);
  if (!o.foreground) return background(io, m, abs);
  const token = g.token ?? io.env.RAFTFS_TOKEN;
  let running: Awaited<ReturnType<typeof m.runMount>>;
  try {
    running = await m.runMount({
      dir: abs,
      readOnly: o.readOnly ?? false,
      ...(o.attrTimeoutMs !== undefined && Number.isSafeInteger(o.attrTimeoutMs) && o.attrTimeoutMs >= 0
        ? { attrValidMs: o.attrTimeoutMs }
        : {}),
      connect: {
        config: resolveConfigPath(g.config, io.env),
        ...(token ? { token } : {}),
        ...(g.deadline !== undefined ? { deadlineMs: g.deadline } : {}),
      },
      log: (line) => note(io, line),
      onReady: () => note(io, `raftfs: mounted at ${abs}`),
    });
  } catch (err) {
    if (err instanceof m.MountError) {
      note(io, err.message);
      throw new ExitCode(err.exitCode);
    }
    throw err;
  }
  let signalled: NodeJS.Signals | null = null;
  const stop = (s: NodeJS.Signals) => {
    signalled = s;
    process.once(s, () => process.exit(s === "SIGINT" ? 130 : 0));
    void running.stop();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  // `kill -USR1 <pid>`: a status line in the mount's log, as dd answers USR1 with its progress.
  const report = () => note(io, running.status());
  process.on("SIGUSR1", report);
  void running.done.then(() => process.off("SIGUSR1", report));
  await running.done;
  throw new ExitCode(signalled === "SIGINT" ? 130 : 0);
}

/** Starts `mount --foreground` detached and waits until the folder shows up as mounted (or it exits). */
async function background(io: CliIo, m: typeof import("../mount/index.js"), dir: string): Promise<never> {
  const logPath = join(tmpdir(), `raftfs-mount-${dir.replaceAll("/", "_")}.log`);
  const logFd = openSync(logPath, "a");
  const args = process.argv.slice(1);
  const child = spawn(process.execPath, [...process.execArgv, ...args, "--foreground"], {
    detached: true,
    stdio: ["ignore", logFd, logFd],
    env: io.env,
  });
  closeSync(logFd);
  let exited: number | null = null;
  child.once("exit", (code) => {
    exited = code ?? 1;
  });
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline && exited === null) {
    if (m.raftfsMounts().includes(dir) && (await m.mountState(dir)) === "live") {
      child.unref();
      note(io, `raftfs: mounted at ${dir} (pid ${child.pid}, log ${logPath})`);
      throw new ExitCode(0);
    }
    await sleep(50);
  }
  note(
    io,
    `raftfs: mount ${dir} did not come up${exited !== null ? ` (exit ${exited})` : ""}; see ${logPath}`,
  );
  throw new ExitCode(exited !== null && exited !== 0 ? exited : 1);
}

export async function umountCommand(io: CliIo, dir: string): Promise<never> {
  const m = await import("../mount/index.js");
  const abs = resolve(dir);
  if (!m.raftfsMounts().includes(abs)) {
    note(io, `raftfs: ${abs} is not a raftfs mount`);
    throw new ExitCode(3);
  }
  const r = await m.unmount(abs);
  if (!r.ok) {
    note(io, `raftfs: umount ${abs}: ${r.message}`);
    throw new ExitCode(1);
  }
  throw new ExitCode(0);
}
