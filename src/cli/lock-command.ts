/**
 * `raftfs lock <path> -- <command...>`: holds the lock while the command runs, hands it the fencing
 * token in RAFTFS_LOCK_TOKEN (writes under the lock pass it with `--lock-token`) and the lock's secret
 * in RAFTFS_LOCK_SECRET (a token is honoured only from the session that acquired it, or with that
 * secret: the child's `raftfs put` is another process, hence another session), releases it after,
 * and exits with the command's code. Ctrl-C goes to the command (it shares our terminal); we wait
 * for it to end and release the lock before exiting.
 */
import { spawn } from "node:child_process";
import { constants } from "node:os";
import type { LockMode } from "../common/protocol/index.js";
import { type GlobalOptions, withClient } from "./context.js";
import { ExitCode } from "./errors.js";
import { type CliIo, note } from "./io.js";

export interface LockCommandOptions {
  ttl?: number;
  shared?: boolean;
  wait?: boolean;
  waitTimeout?: number;
}

/** A child's exit as a shell reports it: its code, or 128 + the number of the signal that ended it. */
export function childExitCode(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const n = signal ? constants.signals[signal] : undefined;
  return n !== undefined ? 128 + n : 1;
}

function runChild(
  command: string[],
  env: NodeJS.ProcessEnv,
  onSpawn: (kill: (s: NodeJS.Signals) => void) => void,
): Promise<number> {
  const [file, ...args] = command;
  return new Promise((resolve, reject) => {
    const child = spawn(file!, args, { stdio: "inherit", env });
    onSpawn((s) => child.kill(s));
    child.once("error", (err) => reject(Object.assign(err, { path: file })));
    child.once("exit", (code, signal) => resolve(childExitCode(code, signal)));
  });
}

export async function lockCommand(
  io: CliIo,
  g: GlobalOptions,
  path: string,
  command: string[],
  o: LockCommandOptions,
): Promise<never> {
  const mode: LockMode = o.shared ? "shared" : "exclusive";
  // Ctrl-C while waiting for the lock interrupts; once the child runs, it is the child's (it shares
  // our terminal): the lease must stay renewed, and be released, until the child has ended.
  const interrupt = new AbortController();
  let childRunning = false;
  io.signal.addEventListener("abort", () => {
    if (!childRunning) interrupt.abort(io.signal.reason);
  });
  const code = await withClient({ ...io, signal: interrupt.signal }, g, async (client) => {
    const handle = await client.lock(path, {
      mode,
      ...(o.ttl !== undefined ? { ttlMs: o.ttl } : {}),
      wait: o.wait !== false,
      ...(o.waitTimeout !== undefined ? { waitTimeoutMs: o.waitTimeout } : {}),
    });
    if (!g.quiet) note(io, `raftfs: locked ${handle.path} (${mode}, token ${handle.token})`);
    let kill: ((s: NodeJS.Signals) => void) | null = null;
    const forward = (s: NodeJS.Signals) => kill?.(s);
    process.on("SIGTERM", forward);
    handle.signal.addEventListener("abort", () => {
      if (handle.lost)
        note(io, `raftfs: lost the lock on ${handle.path} (token ${handle.token}): the lease expired`);
    });
    childRunning = true;
    try {
      return await runChild(
        command,
        {
          ...io.env,
          RAFTFS_LOCK_TOKEN: String(handle.token),
          RAFTFS_LOCK_SECRET: handle.secret,
          RAFTFS_LOCK_PATH: handle.path,
        },
        (k) => {
          kill = k;
        },
      );
    } finally {
      process.off("SIGTERM", forward);
      await handle.release();
    }
  });
  throw new ExitCode(code);
}
