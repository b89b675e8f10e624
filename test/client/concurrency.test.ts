/**
 * The library's concurrency is the caller's: 64 calls in flight are 64 requests at the replica at
 * once, not 16 on the wire and 48 queued in the client (the metadata pool was capped at 16), or —
 * coalesced (meta-batcher.ts) — 64 calls at the replica at once in two requests. Real HTTP on
 * 127.0.0.1 against a fake replica that holds every stat until 64 are waiting.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "vitest";
import { connect } from "../../src/client/client.js";
import { META_ROUTES } from "../../src/common/protocol/index.js";

const CALLS = 64;
const STAT = { path: "/f", type: "file", version: 1, sizeBytes: 0, createdAtMs: 1, modifiedAtMs: 1 };

/** A fake replica holding every request until `CALLS` calls wait in them; counts both. */
async function holdingReplica() {
  const held: { res: ServerResponse; items: number }[] = [];
  let waiting = 0;
  const seen = { mostCalls: 0, mostRequests: 0, requests: 0 };
  const answerAll = () => {
    for (const { res, items } of held.splice(0)) {
      res.writeHead(200, { "content-type": "application/json" });
      const batch = { results: Array.from({ length: items }, () => ({ value: STAT })) };
      res.end(JSON.stringify(items === 0 ? STAT : batch));
    }
    waiting = 0;
  };
  const server = createServer((req: IncomingMessage, res) => {
    let text = "";
    req.on("data", (d: Buffer) => {
      text += d.toString();
    });
    req.on("end", () => {
      // 0 items: a lone stat on its own route.
      const items =
        req.url === META_ROUTES.batch ? (JSON.parse(text) as { items: unknown[] }).items.length : 0;
      held.push({ res, items });
      seen.requests++;
      waiting += Math.max(1, items);
      seen.mostCalls = Math.max(seen.mostCalls, waiting);
      seen.mostRequests = Math.max(seen.mostRequests, held.length);
      if (waiting === CALLS) answerAll();
    });
  });
  // Never a hang: if fewer than 64 ever arrive together, answer what came after a while (the
  // assertions then fail on the counts, not on a timeout).
  const fallback = setInterval(answerAll, 2000);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const close = async () => {
    clearInterval(fallback);
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
  };
  return { url, seen, close };
}

test("64 stats in flight reach the replica together (batching off: 64 requests)", async () => {
  const replica = await holdingReplica();
  const client = await connect({
    endpoints: [replica.url],
    requestTimeoutMs: 30_000,
    deadlineMs: 60_000,
    batchMetaCalls: false,
  });
  try {
    await Promise.all(Array.from({ length: CALLS }, () => client.stat("/f")));
    expect(replica.seen.mostRequests).toBe(CALLS);
  } finally {
    await client.close();
    await replica.close();
  }
});

test("64 stats in flight reach the replica together (coalesced: the first alone, the rest in one batch)", async () => {
  const replica = await holdingReplica();
  const client = await connect({ endpoints: [replica.url], requestTimeoutMs: 30_000, deadlineMs: 60_000 });
  try {
    const answers = await Promise.all(Array.from({ length: CALLS }, () => client.stat("/f")));
    expect(answers).toEqual(Array.from({ length: CALLS }, () => STAT));
    expect(replica.seen.mostCalls).toBe(CALLS);
    expect(replica.seen.requests).toBe(2);
    expect(client.batchStats).toEqual({ batches: 1, batchedCalls: CALLS - 1 });
  } finally {
    await client.close();
    await replica.close();
  }
});
