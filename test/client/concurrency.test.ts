/**
 * The library's concurrency is the caller's: 64 calls in flight are 64 requests at the replica at
 * once, not 16 on the wire and 48 queued in the client (the metadata pool was capped at 16). Real
 * HTTP on 127.0.0.1 against a fake replica that holds every stat until 64 are waiting.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "vitest";
import { connect } from "../../src/client/client.js";

const CALLS = 64;

test("64 stats in flight reach the replica together", async () => {
  const held: ServerResponse[] = [];
  let most = 0;
  const answerAll = () => {
    for (const res of held.splice(0)) {
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify({ path: "/f", kind: "file", version: 1, sizeBytes: 0, index: 1 }));
    }
  };
  const server = createServer((_req, res) => {
    held.push(res);
    most = Math.max(most, held.length);
    if (held.length === CALLS) answerAll();
  });
  // Never a hang: if fewer than 64 ever arrive together, answer what came after a while (the
  // assertion below then fails on the count, not on a timeout).
  const fallback = setInterval(answerAll, 2000);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const client = await connect({ endpoints: [url], requestTimeoutMs: 30_000, deadlineMs: 60_000 });
  try {
    await Promise.all(Array.from({ length: CALLS }, () => client.stat("/f")));
    expect(most).toBe(CALLS);
  } finally {
    clearInterval(fallback);
    await client.close();
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  }
});
