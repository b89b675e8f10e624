/** The data node as a real process: start, serve, stop on SIGTERM, refuse a busy port, survive kill -9. */
import { type ChildProcess, spawn } from "node:child_process";
import { readdir, writeFile } from "node:fs/promises";
import { connect, createServer, type Server } from "node:net";
import { join, resolve } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { TICKET_HEADER } from "../../src/common/protocol/index.js";
import { freePort } from "../support/wait.js";
import { getChunk, putChunk, randomChunk, SECRET, send, tempDir, ticketFor, waitFor } from "./helpers.js";

const SCRIPT = resolve(import.meta.dirname, "run-data-node.ts");

let tmp: Awaited<ReturnType<typeof tempDir>>;
let procs: ChildProcess[];

async function writeConfig(dataPort: number): Promise<string> {
  const path = join(tmp.dir, "cluster.config.json");
  const config = {
    dataDir: join(tmp.dir, "state"),
    secret: SECRET,
    replication: 1,
    freeSpaceReserveBytes: 0,
    dataNodeHeartbeatMs: 100,
    // Nothing listens there: the node must run regardless and keep trying quietly.
    meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
    data: [{ id: 1, host: "127.0.0.1", port: dataPort, zone: "a" }],
  };
  await writeFile(path, JSON.stringify(config));
  return path;
}

interface Proc {
  child: ChildProcess;
  stderr(): string;
  exit: Promise<number | null>;
}

function start(configPath: string, id = 1): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, configPath, String(id)], {
    env: { ...process.env, RAFTFS_LOG_LEVEL: "warn" },
    stdio: ["ignore", "ignore", "pipe"],
  });
  procs.push(child);
  let err = "";
  child.stderr?.on("data", (d) => {
    err += d.toString();
  });
  const exit = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return { child, stderr: () => err, exit };
}

async function serving(url: string): Promise<void> {
  await waitFor(
    "the node to serve",
    async () => (await send("GET", `${url}/status`).catch(() => null))?.status === 200,
    20_000,
  );
}

beforeEach(async () => {
  tmp = await tempDir();
  procs = [];
});
afterEach(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill("SIGKILL");
  await tmp.remove();
});

describe("data node process", () => {
  it("serves, stops cleanly on SIGTERM, and finds its chunks again after a restart", async () => {
    const port = await freePort();
    const config = await writeConfig(port);
    const url = `http://127.0.0.1:${port}`;
    const p = start(config);
    await serving(url);
    const { id, data } = randomChunk(100_000);
    expect((await putChunk(url, id, data, { [TICKET_HEADER]: ticketFor(id, data.length, [1]) })).status).toBe(
      201,
    );
    p.child.kill("SIGTERM");
    expect(await p.exit).toBe(0);
    expect(p.stderr()).toBe("");

    const again = start(config);
    await serving(url);
    expect((await getChunk(url, id)).body.equals(data)).toBe(true);
    expect((await send("GET", `${url}/status`)).json()).toMatchObject({ id: 1, zone: "a", chunks: 1 });
    again.child.kill("SIGTERM");
    expect(await again.exit).toBe(0);
  });

  it("prints one clear line and exits 1 when its port is taken", async () => {
    const busy: Server = createServer();
    await new Promise<void>((r) => busy.listen(0, "127.0.0.1", r));
    try {
      const port = (busy.address() as { port: number }).port;
      const p = start(await writeConfig(port));
      expect(await p.exit).toBe(1);
      const lines = p.stderr().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^data node 1: .*EADDRINUSE.*\(port already in use\)$/);
    } finally {
      await new Promise((r) => busy.close(r));
    }
  });

  it("exits 2 for an id the config does not name", async () => {
    const p = start(await writeConfig(await freePort()), 7);
    expect(await p.exit).toBe(2);
    expect(p.stderr()).toMatch(/no data node with id 7/);
  });

  it("keeps all of a chunk or none of it when killed in the middle of a write", async () => {
    const port = await freePort();
    const config = await writeConfig(port);
    const url = `http://127.0.0.1:${port}`;
    const p = start(config);
    await serving(url);
    const { id, data } = randomChunk(1024 * 1024);
    const socket = connect(port, "127.0.0.1");
    await new Promise<void>((r) => socket.on("connect", r));
    socket.on("error", () => undefined);
    const head = [`PUT /v1/chunks/${id} HTTP/1.1`, "host: x", `content-length: ${data.length}`];
    head.push(`${TICKET_HEADER}: ${ticketFor(id, data.length, [1])}`);
    socket.write(`${head.join("\r\n")}\r\n\r\n`);
    socket.write(data.subarray(0, 500_000));
    const folder = join(tmp.dir, "state", "data-1", "chunks", id.slice(0, 2));
    await waitFor("the temp file", async () => (await readdir(folder)).some((n) => n.includes(".tmp-")));
    p.child.kill("SIGKILL");
    await p.exit;
    socket.destroy();

    const again = start(config);
    await serving(url);
    expect(await readdir(folder)).toEqual([]);
    expect((await getChunk(url, id)).status).toBe(404);
    again.child.kill("SIGTERM");
    expect(await again.exit).toBe(0);
  });
});
