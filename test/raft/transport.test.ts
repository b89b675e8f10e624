import { connect, type Socket } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import { encodeMessages } from "../../src/raft/codec.js";
import type { Message } from "../../src/raft/core/index.js";
import { frame } from "../../src/raft/frames.js";
import {
  HttpTransport,
  type HttpTransportOptions,
  RAFT_STREAM_PATH,
  RAFT_STREAM_PROTOCOL,
  SECRET_HEADER,
} from "../../src/raft/transport.js";
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

interface Node {
  app: FastifyInstance;
  t: HttpTransport;
  url: string;
  port: number;
  got: Message[][];
}

async function listening(opts: Partial<HttpTransportOptions> = {}, port = 0): Promise<Node> {
  const app = Fastify();
  const t = new HttpTransport({ secret: SECRET, ...opts }, { app });
  const got: Message[][] = [];
  t.onMessages((msgs) => {
    got.push(msgs);
  });
  const url = await app.listen({ host: "127.0.0.1", port });
  cleanups.push(
    () => app.close(),
    () => t.close(),
  );
  return { app, t, url, port: Number(new URL(url).port), got };
}

/** Opens a raw upgrade on `port` with the given headers; resolves with the socket and what came back first. */
async function rawUpgrade(
  port: number,
  headers: Record<string, string>,
): Promise<{ socket: Socket; head: string }> {
  const socket = connect(port, "127.0.0.1");
  cleanups.push(async () => socket.destroy());
  await new Promise((r) => socket.once("connect", r));
  const lines = [`GET ${RAFT_STREAM_PATH} HTTP/1.1`, "host: 127.0.0.1", "connection: upgrade"];
  for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
  socket.write(`${lines.join("\r\n")}\r\n\r\n`);
  const head = await new Promise<string>((r) => socket.once("data", (b: Buffer) => r(b.toString())));
  return { socket, head };
}

const count = (n: Node) => n.got.flat().length;

describe("HttpTransport", () => {
  it("refuses a stream without the cluster secret, before reading any frame", async () => {
    const b = await listening();
    const body = Buffer.concat(frame(encodeMessages([heartbeat(1, 2, 0)])));
    for (const headers of [{}, { [SECRET_HEADER]: "wrong-secret" }] as Record<string, string>[]) {
      const { socket, head } = await rawUpgrade(b.port, { upgrade: RAFT_STREAM_PROTOCOL, ...headers });
      expect(head).toMatch(/^HTTP\/1.1 401/);
      expect(head).toContain('"code":"UNAUTHORIZED"');
      socket.write(body);
    }
    const good = await rawUpgrade(b.port, { upgrade: RAFT_STREAM_PROTOCOL, [SECRET_HEADER]: SECRET });
    expect(good.head).toMatch(/^HTTP\/1.1 101/);
    good.socket.write(body);
    await waitFor(() => count(b) === 1, "the authenticated heartbeat");
    // A plain GET is told what is missing; without the secret it learns nothing else.
    const plain = await b.app.inject({
      method: "GET",
      url: RAFT_STREAM_PATH,
      headers: { [SECRET_HEADER]: SECRET },
    });
    expect(plain.statusCode).toBe(426);
    expect((await b.app.inject({ method: "GET", url: RAFT_STREAM_PATH })).statusCode).toBe(401);
  });

  it("cuts a stream that sends a malformed or oversized frame and delivers nothing of it", async () => {
    const b = await listening({ maxFrameBytes: 1024 });
    const auth = { upgrade: RAFT_STREAM_PROTOCOL, [SECRET_HEADER]: SECRET };
    const bad = await rawUpgrade(b.port, auth);
    const closed = new Promise((r) => bad.socket.once("close", r));
    bad.socket.write(Buffer.concat(frame(encodeMessages([heartbeat(1, 2, -1)]))));
    await closed;
    const big = await rawUpgrade(b.port, auth);
    const bigClosed = new Promise((r) => big.socket.once("close", r));
    big.socket.write(Buffer.concat(frame(new Uint8Array(4096))));
    await bigClosed;
    expect(count(b)).toBe(0);
    // The listener is unharmed: a well-behaved peer still gets through.
    const a = await listening();
    a.t.setPeer(2, b.url);
    a.t.send([heartbeat(1, 2, 5)]);
    await waitFor(() => count(b) === 1, "a heartbeat after the bad streams");
  });

  it("sends messages queued in one turn as one batch, in order", async () => {
    const a = await listening();
    const b = await listening();
    a.t.setPeer(2, b.url);
    a.t.send(Array.from({ length: 100 }, (_, i) => heartbeat(1, 2, i)));
    await waitFor(() => count(b) === 100, "100 messages");
    expect(b.got).toHaveLength(1);
    expect(b.got[0]!.map((m) => (m.type === "heartbeat" ? m.commit : -1))).toEqual([...Array(100).keys()]);
    // Later turns reuse the stream, still in order.
    for (let i = 100; i < 150; i++) {
      a.t.send([heartbeat(1, 2, i)]);
      await new Promise((r) => setImmediate(r));
    }
    await waitFor(() => count(b) === 150, "150 messages");
    expect(b.got.flat().map((m) => (m.type === "heartbeat" ? m.commit : -1))).toEqual([...Array(150).keys()]);
  });

  it("carries a batch larger than one frame's budget as several frames", async () => {
    const a = await listening({ maxBatchBytes: 2048 });
    const b = await listening();
    a.t.setPeer(2, b.url);
    a.t.send(Array.from({ length: 500 }, (_, i) => heartbeat(1, 2, i)));
    await waitFor(() => count(b) === 500, "500 messages");
    expect(b.got.length).toBeGreaterThan(1);
  });

  it("drops what the test filter rejects, and survives an unreachable peer", async () => {
    const a = await listening();
    const b = await listening();
    a.t.setPeer(2, b.url);
    a.t.setPeer(3, "http://127.0.0.1:9"); // discard port: nothing listens
    a.t.setFilter((m) => m.type !== "heartbeat" || m.commit % 2 === 0);
    a.t.send([heartbeat(1, 2, 1), heartbeat(1, 2, 2), heartbeat(1, 7, 2)]);
    await waitFor(() => count(b) === 1, "the even heartbeat");
    expect(a.t.droppedMessages).toBe(2); // one filtered, one to an unknown peer
    a.t.send([heartbeat(1, 3, 2)]);
    await waitFor(() => a.t.droppedMessages === 3, "the message to the unreachable peer dropped");
    a.t.setFilter(null);
    a.t.send([heartbeat(1, 2, 3)]);
    await waitFor(() => count(b) === 2, "a heartbeat after the filter was lifted");
  });

  it("reconnects after the peer restarts on the same port", async () => {
    const a = await listening({ reconnectDelayMs: 20 });
    const b = await listening();
    a.t.setPeer(2, b.url);
    a.t.send([heartbeat(1, 2, 1)]);
    await waitFor(() => count(b) === 1, "first heartbeat");
    await b.app.close();
    await b.t.close();
    const b2 = await listening({}, b.port);
    // Messages sent while the stream was down are lost (Raft resends); a later one arrives.
    await waitFor(
      () => {
        a.t.send([heartbeat(1, 2, 2)]);
        return count(b2) > 0;
      },
      "a heartbeat on the new stream",
      5_000,
    );
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

  it("keeps snapshot chunks when the queue overflows: appends and heartbeats go first", async () => {
    const app = Fastify();
    const t = new HttpTransport({ secret: SECRET, maxQueuedMessagesPerPeer: 4 }, { app });
    cleanups.push(
      () => app.close(),
      () => t.close(),
    );
    t.setPeer(2, "http://127.0.0.1:9");
    const meta = { index: 10, term: 1, conf: { voters: [1, 2], learners: [], joining: [] } };
    const chunk = (seq: number): Message => ({
      type: "snapshot-chunk",
      from: 1,
      to: 2,
      term: 1,
      meta,
      stream: 1,
      seq,
      chunk: new Uint8Array(8),
      done: false,
      crc: 0,
    });
    t.send([chunk(0), heartbeat(1, 2, 1), chunk(1), heartbeat(1, 2, 2), chunk(2), heartbeat(1, 2, 3)]);
    expect(t.droppedMessages).toBe(2);
    expect(t.queuedTypes(2)).toEqual(["snapshot-chunk", "snapshot-chunk", "snapshot-chunk", "heartbeat"]);
  });
});
