/**
 * `raftfs cluster up` as a user runs it: every process started, logs prefixed, a table of endpoints
 * once a leader is elected and every data node registered, everything stopped on Ctrl-C or SIGTERM,
 * and one clear line (exit non-zero) when a process cannot start.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { freePort, runCli, waitFor } from "../support/cluster-harness.js";
import {
  CLUSTER_UP_TEST_TIMEOUT_MS,
  type Launcher,
  launchClusterUp,
  waitForEndpoints,
} from "../support/cluster-up.js";

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function writeConfig(): Promise<{ path: string; ports: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), "raftfs-up-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const ports: number[] = [];
  while (ports.length < 6) {
    const p = await freePort();
    if (!ports.includes(p)) ports.push(p);
  }
  const config = {
    dataDir: join(dir, "data"),
    secret: "cluster-up-secret-0123",
    freeSpaceReserveBytes: 0,
    dataNodeHeartbeatMs: 200,
    raft: { tickIntervalMs: 20 },
    meta: ports.slice(0, 3).map((port, i) => ({ id: i + 1, host: "127.0.0.1", port })),
    data: ports.slice(3).map((port, i) => ({ id: i + 1, host: "127.0.0.1", port, zone: `z${i}` })),
  };
  const path = join(dir, "cluster.config.json");
  writeFileSync(path, JSON.stringify(config));
  return { path, ports };
}

function launch(configPath: string): Launcher {
  const up = launchClusterUp(configPath);
  cleanups.push(() => {
    if (up.child.exitCode === null) up.child.kill("SIGKILL");
  });
  return up;
}

function pidsIn(table: string): number[] {
  return [...table.matchAll(/^(?:meta|data)\s+\d+\s+http:\S+\s+(\d+)$/gm)].map((m) => Number(m[1]));
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
    throw err;
  }
}

describe("raftfs cluster up", () => {
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    test(
      `starts everything, prints the endpoints, serves, and stops everything on ${signal}`,
      async () => {
        const { path, ports } = await writeConfig();
        const up = launch(path);
        const out = await waitForEndpoints(up);
        expect(out).toMatch(/^raftfs cluster "raftfs" is up: leader meta \d, term \d+\n/);
        expect(out).toMatch(/^KIND\s+ID\s+URL\s+PID$/m);
        for (const port of ports) expect(out).toContain(`http://127.0.0.1:${port}`);
        const pids = pidsIn(out);
        expect(pids).toHaveLength(6);
        // Logs arrive on stderr, prefixed by the process they come from.
        expect(up.err()).toMatch(/^\[meta-1\] /m);
        expect(up.err()).toMatch(/^\[data-3\] /m);

        const env = { RAFTFS_CONFIG: path };
        expect((await runCli(["put", "-", "/up.txt"], { env, input: "served" })).code).toBe(0);
        expect((await runCli(["cat", "/up.txt"], { env })).stdout).toBe("served");
        expect(
          JSON.parse((await runCli(["status", "--json"], { env })).stdout).data.every(
            (d: { alive: boolean }) => d.alive,
          ),
        ).toBe(true);

        up.child.kill(signal);
        expect(await up.exit).toBe(signal === "SIGINT" ? 130 : 0);
        for (const pid of pids) expect(isRunning(pid), `pid ${pid}`).toBe(false);
        const after = await runCli(["status", "--json", "--deadline", "1000"], { env });
        expect(after.code).toBe(5);
      },
      CLUSTER_UP_TEST_TIMEOUT_MS,
    );
  }

  test("a process that cannot start stops the launch: one clear line, exit non-zero, nothing left", async () => {
    const { path, ports } = await writeConfig();
    // Someone else holds data node 2's port.
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(ports[4], "127.0.0.1", resolve));
    cleanups.push(() => new Promise<void>((resolve) => squatter.close(() => resolve())));
    const up = launch(path);
    const code = await up.exit;
    expect(code).not.toBe(0);
    const lines = up
      .err()
      .split("\n")
      .filter((l) => l.startsWith("raftfs: "));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /^raftfs: data-2 exited during start-up \(code \d+\): .*(EADDRINUSE|in use).* \(STARTUP\)$/,
    );
    expect(up.out()).toBe("");
    // Nothing else keeps running: every other port is free again.
    for (const port of ports.filter((p) => p !== ports[4])) {
      await waitFor(
        `port ${port} to be free`,
        async () => {
          const probe = createServer();
          const free = await new Promise<boolean>((resolve) => {
            probe.once("error", () => resolve(false));
            probe.listen(port, "127.0.0.1", () => resolve(true));
          });
          if (free) await new Promise<void>((resolve) => probe.close(() => resolve()));
          return free ? true : null;
        },
        10_000,
      );
    }
  }, 120_000);

  test("an invalid config: exit 2 with every problem on one line, before anything starts", async () => {
    const dir = mkdtempSync(join(tmpdir(), "raftfs-up-bad-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const path = join(dir, "bad.json");
    writeFileSync(path, JSON.stringify({ meta: [{ id: 1, port: 99999 }], replication: 0, bogus: true }));
    const r = await runCli(["cluster", "up", "--config", path]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^raftfs: invalid config .*bad\.json: .*; .* \(CONFIG\)\n$/);
  });
});
