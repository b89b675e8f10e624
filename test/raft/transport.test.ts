import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { encodeMessages } from "../../src/raft/codec.js";
import type { Message } from "../../src/raft/core/index.js";
import { HttpTransport, RAFT_MESSAGES_PATH, SECRET_HEADER } from "../../src/raft/transport.js";
import { waitFor } from "./helpers.js";

const SECRET = "test-cluster-secret";
const heartbeat = (from: number, to: number, commit: number): Message => ({
  ...{ type: "heartbeat", from, to, term: 1 },
  commit,
  readCtx: null,
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function listening(secret = SECRET): Promise<{ app: FastifyInstance; t: HttpTransport; url: string }> {
  const app = Fastify();
  const t = new HttpTransport({ secret }, { app });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  cleanups.push(
    () => app.close(),
    () => t.close(),
  );
  return { app, t, url };
}

describe("HttpTransport", () => {
  it("refuses a request without the cluster secret before reading its body", async () => {
    const { app, t } = await listening();
    let delivered = 0;
    t.onMessages(() => delivered++);
    const body = Buffer.from(encodeMessages([heartbeat(1, 2, 0)]));
    const post = (headers: Record<string, string>) =>
      app.inject({
        method: "POST",
        url: RAFT_MESSAGES_PATH,
        headers: { "content-type": "application/octet-stream", ...headers },
        body,
      });
    const missing = await post({});
    expect(missing.statusCode).toBe(401);
    expect(missing.json()).toMatchObject({ code: "UNAUTHORIZED" });
    expect((await post({ [SECRET_HEADER]: "wrong-secret" })).statusCode).toBe(401);
    expect(delivered).toBe(0);
    expect((await post({ [SECRET_HEADER]: SECRET })).statusCode).toBe(204);
    expect(delivered).toBe(1);
  });

  it("answers a malformed batch with 400 and delivers nothing", async () => {
    const { app, t } = await listening();
    let delivered = 0;
    t.onMessages(() => delivered++);
    const res = await app.inject({
      method: "POST",
      url: RAFT_MESSAGES_PATH,
      headers: { "content-type": "application/octet-stream", [SECRET_HEADER]: SECRET },
      body: Buffer.from(encodeMessages([heartbeat(1, 2, -1)])),
    });
    expect(res.statusCode).toBe(400);
    expect(res.json()).toMatchObject({ code: "BAD_REQUEST" });
    expect(delivered).toBe(0);
  });

  it("sends one request for messages queued in one turn, in order", async () => {
    const a = await listening();
    const b = await listening();
    a.t.setPeer(2, b.url);
    const batches: Message[][] = [];
    b.t.onMessages((msgs) => batches.push(msgs));
    a.t.send(Array.from({ length: 100 }, (_, i) => heartbeat(1, 2, i)));
    await waitFor(() => batches.flat().length === 100, "100 messages");
    expect(batches).toHaveLength(1);
    expect(batches[0]!.map((m) => (m.type === "heartbeat" ? m.commit : -1))).toEqual([...Array(100).keys()]);
  });

  it("keeps one request in flight per peer and batches what queues meanwhile", async () => {
    const a = await listening();
    const b = await listening();
    a.t.setPeer(2, b.url);
    const batches: number[] = [];
    b.t.onMessages((msgs) => batches.push(msgs.length));
    for (let i = 0; i < 50; i++) {
      a.t.send([heartbeat(1, 2, i)]);
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => batches.reduce((x, y) => x + y, 0) === 50, "50 messages");
    // Fifty turns, far fewer requests: what queued behind an in-flight request left together.
    expect(batches.length).toBeLessThan(50);
  });

  it("drops what the test filter rejects, and survives an unreachable peer", async () => {
    const a = await listening();
    const b = await listening();
    a.t.setPeer(2, b.url);
    a.t.setPeer(3, "http://127.0.0.1:9"); // discard port: nothing listens
    const got: Message[] = [];
    b.t.onMessages((msgs) => got.push(...msgs));
    a.t.setFilter((m) => m.type !== "heartbeat" || m.commit % 2 === 0);
    a.t.send([heartbeat(1, 2, 1), heartbeat(1, 2, 2), heartbeat(1, 3, 2), heartbeat(1, 7, 2)]);
    await waitFor(() => got.length === 1, "the even heartbeat");
    expect(a.t.droppedMessages).toBe(2); // one filtered, one to an unknown peer
    a.t.setFilter(null);
    a.t.send([heartbeat(1, 2, 3)]);
    await waitFor(() => got.length === 2, "a heartbeat after the filter was lifted");
  });

  it("bounds a peer's queue by dropping the oldest messages", async () => {
    const app = Fastify();
    const t = new HttpTransport({ secret: SECRET, maxQueuedMessagesPerPeer: 10 }, { app });
    cleanups.push(
      () => app.close(),
      () => t.close(),
    );
    t.setPeer(2, "http://127.0.0.1:9");
    t.send(Array.from({ length: 25 }, (_, i) => heartbeat(1, 2, i)));
    expect(t.droppedMessages).toBe(15);
  });
});
