/**
 * What every file command shares: the global options, the client made from them, and Ctrl-C
 * handling (close the client, so that whatever is in flight stops, and exit 130).
 *
 * The client library is imported when a command first needs it, never at start: `raftfs --help`
 * and usage errors must not pay for undici and the protocol schemas (test/cli/startup.test.ts).
 */
import { resolve } from "node:path";
import { InvalidArgumentError } from "commander";
import type { RaftfsClient } from "../client/index.js";
import { InterruptedError } from "./errors.js";
import { type CliIo, note } from "./io.js";

export interface GlobalOptions {
  config?: string;
  token?: string;
  ca?: string;
  quiet?: boolean;
  verbose?: boolean;
  deadline?: number;
}

/** `--config`, else RAFTFS_CONFIG, else ./cluster.config.json (as common/config.ts's configPath). */
export function resolveConfigPath(explicit: string | undefined, env: NodeJS.ProcessEnv): string {
  return resolve(explicit ?? env.RAFTFS_CONFIG ?? "cluster.config.json");
}

export async function withClient<T>(
  io: CliIo,
  globals: GlobalOptions,
  fn: (client: RaftfsClient) => Promise<T>,
): Promise<T> {
  const token = globals.token ?? io.env.RAFTFS_TOKEN;
  const caPath = globals.ca ?? io.env.RAFTFS_CA;
  const { connect } = await import("../client/index.js");
  const client = await connect({
    config: resolveConfigPath(globals.config, io.env),
    // One command, then exit: nothing is read twice, and a cache would cost a gathered copy of
    // every chunk read (chunk-reader.ts) and keep 64 MiB of them alive.
    cacheBytes: 0,
    ...(token ? { token } : {}),
    ...(caPath ? { caPath: resolve(caPath) } : {}),
    ...(globals.deadline !== undefined ? { deadlineMs: globals.deadline } : {}),
    ...(globals.verbose
      ? {
          onRetry: (r) =>
            note(
              io,
              `raftfs: retrying after ${r.error.code} from ${r.url} (attempt ${r.attempt + 1}, ${r.waitMs} ms)`,
            ),
        }
      : {}),
  });
  // Ctrl-C: close the client (whatever is in flight fails fast) and stop waiting at once, even
  // for a command that is blocked on something else (stdin, a slow disk).
  let onAbort: () => void = () => undefined;
  const interrupted = new Promise<never>((_, reject) => {
    onAbort = () => {
      void client.close();
      reject(new InterruptedError());
    };
  });
  interrupted.catch(() => undefined); // only observed through the race below
  io.signal.addEventListener("abort", onAbort, { once: true });
  if (io.signal.aborted) onAbort();
  const work = fn(client);
  work.catch(() => undefined); // if interrupted, its late failure is moot
  try {
    return await Promise.race([work, interrupted]);
  } catch (err) {
    if (io.signal.aborted) throw new InterruptedError();
    throw err;
  } finally {
    io.signal.removeEventListener("abort", onAbort);
    await client.close();
  }
}

/** Option parsers: a bad number is a usage error (exit 2), reported by commander. */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) {
    throw new InvalidArgumentError("expected a non-negative integer.");
  }
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new InvalidArgumentError("expected a positive integer.");
  }
  return n;
}
