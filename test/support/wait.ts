/**
 * The one way tests and benchmarks wait: poll a condition until it holds, with a deadline generous
 * enough for a loaded machine (never a bare sleep to synchronise), and pick a free loopback port.
 */
import { createServer } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

/** A port that was free a moment ago: bind port 0 on loopback, read it, release it. */
export async function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.once("error", fail);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => ok(typeof addr === "object" && addr ? addr.port : 0));
    });
  });
}

export interface WaitOptions {
  timeoutMs?: number;
  /** Pause between polls. */
  intervalMs?: number;
}

/**
 * Polls `fn` until it returns a value other than null, undefined or false, and returns it. A poll that
 * throws counts as "not yet" (a server still starting refuses connections); the last error is in the
 * timeout's message.
 */
export async function waitFor<T>(
  what: string,
  fn: () => T | Promise<T>,
  opts: number | WaitOptions = {},
): Promise<NonNullable<Exclude<T, false>>> {
  const { timeoutMs = 30_000, intervalMs = 20 } = typeof opts === "number" ? { timeoutMs: opts } : opts;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const v = await fn();
      if (v !== null && v !== undefined && v !== false) return v as NonNullable<Exclude<T, false>>;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const last = lastError === null ? "" : ` (last error: ${String(lastError)})`;
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last}`);
    }
    await sleep(intervalMs);
  }
}
