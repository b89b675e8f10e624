/**
 * Every metadata listener bounds what one connection may hold: headers that never end (slowloris)
 * and bodies that never end are cut, idle keep-alive sockets are closed, connections beyond the cap
 * are refused while the open ones keep being served, and the Raft stream (an upgraded socket) is
 * outside the request and idle timeouts. Real replicas (runMetaReplica) on 127.0.0.1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SECRET_HEADER } from "../../src/common/protocol/index.js";
import { type RunningMeta, runMetaReplica } from "../../src/meta/main.js";
import { RAFT_STREAM_PATH, RAFT_STREAM_PROTOCOL } from "../../src/raft/transport.js";
import { freePort, waitFor } from "../support/cluster-harness.js";
import { closedByServer, openRaw, type RawConnection } from "../support/raw-sockets.js";

const SECRET = "listener-test-secret-0123";
const dir = mkdtempSync(join(tmpdir(), "raftfs-listener-"));
const opened: RawConnection[] = [];
const running: RunningMeta[] = [];

async function start(name: string, listener: Record<string, number>): Promise<number> {
  const port = await freePort();
  const configPath = join(dir, `${name}.json`);
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, name),
      secret: SECRET,
      raft: { tickIntervalMs: 20 },
      meta: [{ id: 1, host: "127.0.0.1", port }],
      listener,
    }),
  );
  running.push(await runMetaReplica({ configPath, id: 1 }));
  return port;
}

async function raw(port: number): Promise<RawConnection> {
  const c = await openRaw(port);
  opened.push(c);
  return c;
}

let tight: number;
let capped: number;
beforeAll(async () => {
  process.env.RAFTFS_LOG_LEVEL = "silent";
  tight = await start("tight", {
    headersTimeoutMs: 300,
    requestTimeoutMs: 1000,
    idleTimeoutMs: 1500,
    keepAliveTimeoutMs: 1500,
    timeoutCheckIntervalMs: 50,
    maxHeaderBytes: 4096,
  });
  // Every timeout at its default: only the cap is small.
  capped = await start("capped", { maxConnections: 4 });
});
afterAll(async () => {
  for (const c of opened) c.destroy();
  for (const r of running) await r.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("timeouts", () => {
  test("a client that never finishes its headers is cut after headersTimeoutMs", async () => {
    const c = await raw(tight);
    c.socket.write("GET /status HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ");
    await closedByServer(c, "the slowloris connection to be cut");
  });

  test("a client that never finishes its body is cut after requestTimeoutMs", async () => {
    const c = await raw(tight);
    c.socket.write(
      "POST /v1/sessions HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{",
    );
    await closedByServer(c, "the slow-body connection to be cut");
  });

  test("headers over maxHeaderBytes are refused with 431", async () => {
    const c = await raw(tight);
    expect(await c.get("/status", { "x-big": "a".repeat(8192) })).toBe(431);
    const ok = await raw(tight);
    expect(await ok.get("/status", { "x-small": "a".repeat(1024) })).toBe(200);
  });

  test("the Raft stream outlives the request and idle timeouts that close an idle keep-alive socket", async () => {
    const stream = await raw(tight);
    stream.socket.write(
      `GET ${RAFT_STREAM_PATH} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: upgrade\r\nupgrade: ${RAFT_STREAM_PROTOCOL}\r\n${SECRET_HEADER}: ${SECRET}\r\n\r\n`,
    );
    const idle = await raw(tight);
    expect(await idle.get("/status")).toBe(200);
    // The idle socket goes after keepAliveTimeoutMs (1.5 s), past the 1 s request timeout too.
    await closedByServer(idle, "the idle keep-alive connection to be closed");
    expect(stream.received()).toMatch(/^HTTP\/1\.1 101 /);
    expect(stream.closed).toBe(false);
  });

  test("with the default settings a slowloris connection is cut too (headers within 10 s)", async () => {
    const c = await raw(capped);
    c.socket.write("GET /status HTTP/1.1\r\nhost: 127.0.0.1\r\n");
    // Default: 10 s for the headers, checked every second; the old listener waited 60 s or more.
    await closedByServer(c, "the slowloris connection to be cut", 20_000);
  });
});

describe("connection cap", () => {
  test("connections beyond maxConnections are refused while the open ones keep being served", async () => {
    const held: RawConnection[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await raw(capped);
      expect(await c.get("/status")).toBe(200);
      held.push(c);
    }
    const extra = await raw(capped);
    await closedByServer(extra, "the connection over the cap to be closed");
    expect(extra.received()).toBe("");
    for (const c of held) expect(await c.get("/status")).toBe(200);
    // A slot freed is a slot usable again (once the server has seen the close).
    held.pop()!.destroy();
    const again = await waitFor("a freed slot to serve a new connection", async () => {
      const c = await raw(capped);
      return (await c.get("/status")) === 200 ? c : null;
    });
    for (const c of [...held, again]) c.destroy();
  });
});
