/**
 * `raftfs cluster up` as a child process, as a user starts it, for tests of the launcher: its output
 * gathered, and one wait for its endpoints table that ends as soon as the launcher does.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { READY_DEADLINE_MS } from "../../src/cli/launcher.js";
import { CLI } from "./cluster-harness.js";
import { waitFor } from "./wait.js";

/** A test that waits for the endpoints, with room for its own steps after them. */
export const CLUSTER_UP_TEST_TIMEOUT_MS = READY_DEADLINE_MS + 60_000;

export interface Launcher {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** The launcher's exit code once its pipes are closed. */
  exit: Promise<number | null>;
}

export function launchClusterUp(configPath: string, env: NodeJS.ProcessEnv = {}): Launcher {
  const child = spawn(process.execPath, [CLI, "cluster", "up", "--config", configPath], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, RAFTFS_LOG_LEVEL: "info", ...env },
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (b: Buffer) => {
    out += b.toString();
  });
  child.stderr.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const exit = new Promise<number | null>((resolve) => child.once("close", (code) => resolve(code)));
  return { child, out: () => out, err: () => err, exit };
}

/**
 * Waits for the endpoints table. The launcher has its own start-up deadline and says why it gave up,
 * so the wait outlasts that deadline (no test of ours is faster than the product allows) and stops at
 * once when the launcher exits; either failure carries the launcher's last lines.
 */
export async function waitForEndpoints(up: Launcher): Promise<string> {
  let exited: { code: number | null } | null = null;
  void up.exit.then((code) => {
    exited = { code };
  });
  const tail = () => up.err().split("\n").slice(-15).join("\n");
  let outcome: "table" | { code: number | null };
  try {
    outcome = await waitFor(
      "the endpoints table",
      () => (up.out().includes("dashboard:") ? "table" : exited),
      { timeoutMs: READY_DEADLINE_MS + 30_000, intervalMs: 100 },
    );
  } catch (err) {
    throw new Error(
      `raftfs cluster up did not print its endpoints: ${String(err)}; its last lines:\n${tail()}`,
    );
  }
  if (outcome !== "table")
    throw new Error(
      `raftfs cluster up exited (code ${outcome.code}) before its endpoints; its last lines:\n${tail()}`,
    );
  return up.out();
}
