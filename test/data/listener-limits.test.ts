/**
 * A data node's listener bounds its connections like a replica's: headers or a body that never end
 * are cut, connections beyond the cap are refused while the open ones keep being served. The real
 * node (startDataNode) on 127.0.0.1; its metadata replica does not exist (its leader link retries).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { type RunningDataNode, startDataNode } from "../../src/data/main.js";
import { freePort, waitFor } from "../support/cluster-harness.js";
import { closedByServer, openRaw, type RawConnection } from "../support/raw-sockets.js";

const dir = mkdtempSync(join(tmpdir(), "raftfs-data-listener-"));
const opened: RawConnection[] = [];
let node: RunningDataNode;
let port: number;

async function raw(): Promise<RawConnection> {
  const c = await openRaw(port);
  opened.push(c);
  return c;
}

beforeAll(async () => {
  process.env.RAFTFS_LOG_LEVEL = "silent";
  port = await freePort();
  const configPath = join(dir, "cluster.config.json");
  writeFileSync(
    configPath,
    JSON.stringify({
      dataDir: join(dir, "data"),
      secret: "data-listener-secret-0123",
      replication: 1,
      freeSpaceReserveBytes: 0,
      meta: [{ id: 1, host: "127.0.0.1", port: await freePort() }],
      data: [{ id: 1, host: "127.0.0.1", port }],
      listener: {
        headersTimeoutMs: 300,
        requestTimeoutMs: 1000,
        timeoutCheckIntervalMs: 50,
        maxConnections: 4,
      },
    }),
  );
  node = await startDataNode({ configPath, id: 1 });
});
afterAll(async () => {
  for (const c of opened) c.destroy();
  await node?.close();
  rmSync(dir, { recursive: true, force: true });
});

test("a client that never finishes its headers is cut after headersTimeoutMs", async () => {
  const c = await raw();
  c.socket.write("GET /status HTTP/1.1\r\nhost: 127.0.0.1\r\nx-slow: ");
  await closedByServer(c, "the slowloris connection to be cut");
});

test("a chunk upload that never finishes its body is cut after requestTimeoutMs", async () => {
  const c = await raw();
  const id = "0".repeat(64);
  c.socket.write(
    `PUT /v1/chunks/${id} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/octet-stream\r\ncontent-length: 4194304\r\n\r\nxx`,
  );
  await closedByServer(c, "the slow upload to be cut");
});

test("connections beyond maxConnections are refused while the open ones keep being served", async () => {
  // The two connections of the tests above may not be counted out yet: wait until 4 are held.
  const held: RawConnection[] = [];
  while (held.length < 4) {
    const c = await waitFor("a free connection slot", async () => {
      const r = await raw();
      return (await r.get("/status")) === 200 ? r : null;
    });
    held.push(c);
  }
  const extra = await raw();
  await closedByServer(extra, "the connection over the cap to be closed");
  expect(extra.received()).toBe("");
  for (const c of held) expect(await c.get("/status")).toBe(200);
});
