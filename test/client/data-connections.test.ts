/**
 * The library's chunk PUTs are as concurrent as the caller: a PUT holds its connection until the
 * whole pipeline stored the chunk, and most pipelines share a head node, so the data agent's
 * connections per node bound the small files in flight (64 writers queued behind 8 PUTs with the old
 * fixed 8). Real HTTP on 127.0.0.1 against a fake data node that holds every request until 64 wait.
 */
import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { expect, test } from "vitest";
import { createClientAgents } from "../../src/client/client-io.js";
import { resolveOptions } from "../../src/client/options.js";

const PUTS = 64;

test("64 chunk PUTs to one data node are on the wire together", async () => {
  const held: ServerResponse[] = [];
  let most = 0;
  const answerAll = () => {
    for (const res of held.splice(0)) res.writeHead(201, { "content-type": "application/json" }).end("{}");
  };
  const server = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      held.push(res);
      most = Math.max(most, held.length);
      if (held.length === PUTS) answerAll();
    });
  });
  // Never a hang: fewer than 64 together are answered after a while, and the count then fails.
  const fallback = setInterval(answerAll, 2000);
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { meta, data } = createClientAgents(resolveOptions({ endpoints: [origin] }));
  try {
    const puts = Array.from({ length: PUTS }, async (_, i) => {
      const res = await data.request({
        origin,
        path: `/v1/chunks/${i}`,
        method: "PUT",
        body: Buffer.alloc(1024),
      });
      await res.body.text();
      return res.statusCode;
    });
    expect(await Promise.all(puts)).toEqual(Array.from({ length: PUTS }, () => 201));
    expect(most).toBe(PUTS);
  } finally {
    clearInterval(fallback);
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    await Promise.all([meta.close(), data.close()]);
  }
}, 60_000);
