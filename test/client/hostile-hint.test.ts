/**
 * A replica (or anyone who can forge its answers) that names a leader the client was not configured
 * with must not get the client's token: the real client, over real HTTP on 127.0.0.1, against fake
 * replicas. One answers NOT_LEADER with a hostile `leaderUrl`; the hostile server records what reaches
 * it; the configured leader answers.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, expect, test } from "vitest";
import { connect } from "../../src/client/client.js";

const TOKEN = "client-token-0123456789";
const servers: Server[] = [];

async function fake(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((ok) => s.close(ok));
  }
});

test("a NOT_LEADER naming an unconfigured server is ignored: the token never reaches it", async () => {
  const hostileSaw: (string | undefined)[] = [];
  const hostile = await fake((req, res) => {
    hostileSaw.push(req.headers.authorization);
    json(res, 200, { path: "/f", kind: "file", version: 666 });
  });
  const follower = await fake((_req, res) =>
    json(res, 421, { code: "NOT_LEADER", message: "not the leader", leaderId: 9, leaderUrl: hostile }),
  );
  const leaderSaw: (string | undefined)[] = [];
  const leader = await fake((req, res) => {
    leaderSaw.push(req.headers.authorization);
    json(res, 200, { path: "/f", kind: "file", version: 1 });
  });
  const fs = await connect({
    endpoints: [follower, leader],
    token: TOKEN,
    deadlineMs: 5000,
    backoff: { baseMs: 1, maxMs: 5 },
  });
  try {
    const st = (await fs.stat("/f")) as unknown as { version: number };
    expect(st.version).toBe(1);
    expect(hostileSaw).toEqual([]);
    expect(leaderSaw).toEqual([`Bearer ${TOKEN}`]);
    expect(fs.leaderUrl).toBe(leader);
  } finally {
    await fs.close();
  }
});
