/**
 * The delaying relay on loopback: bytes arrive whole and in order whatever the jitter, the delay is
 * chosen by the peer's address, and `cut`/`reset` reach both ends as a FIN and an RST. (How much
 * delay it adds is measured in bench/netns-relay.ts, never asserted here.)
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import fc from "fast-check";
import { afterEach, describe, expect, test } from "vitest";
import { applyCommand, DelayRelay } from "../support/delay-relay.js";
import { waitFor } from "../support/wait.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** An echo server on loopback that also keeps the sockets it accepted. */
async function echoServer(): Promise<{ server: Server; port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer({ allowHalfOpen: true }, (s) => {
    accepted.push(s);
    s.on("error", () => undefined);
    s.pipe(s);
  });
  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", () => ok()));
  const a = server.address();
  cleanups.push(async () => {
    for (const s of accepted) s.destroy();
    await new Promise<void>((ok) => server.close(() => ok()));
  });
  return { server, port: typeof a === "object" && a ? a.port : 0, accepted };
}

async function relayTo(port: number, delayMs: number, jitterMs: number): Promise<DelayRelay> {
  const relay = await DelayRelay.start({
    listenHost: "127.0.0.1",
    listenPort: 0,
    targetHost: "127.0.0.1",
    targetPort: port,
    delays: [{ prefix: "127.", delayMs, jitterMs }],
  });
  cleanups.push(() => relay.close());
  return relay;
}

/** Sends `chunks` one write each through the relay and collects the echo until the server ends it. */
function roundTrip(port: number, chunks: Buffer[]): Promise<Buffer> {
  return new Promise((ok, fail) => {
    const s = connect(port, "127.0.0.1");
    const got: Buffer[] = [];
    s.on("data", (b: Buffer) => got.push(b));
    s.on("error", fail);
    s.on("end", () => ok(Buffer.concat(got)));
    for (const c of chunks) s.write(c);
    s.end();
  });
}

describe("delay relay", () => {
  test("every byte arrives once and in order, whatever the jitter (order kept across chunks)", async () => {
    const { port } = await echoServer();
    // Jitter far above the delay: without the max(previous release) rule, chunks would overtake.
    const relay = await relayTo(port, 1, 8);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.uint8Array({ minLength: 1, maxLength: 2000 }), { minLength: 1, maxLength: 40 }),
        async (arrays) => {
          const chunks = arrays.map((a) => Buffer.from(a));
          const echoed = await roundTrip(relay.port, chunks);
          expect(echoed.equals(Buffer.concat(chunks))).toBe(true);
        },
      ),
      { numRuns: 25 },
    );
  });

  test("the delay rule is chosen by the peer's address; IPv4-mapped addresses read as IPv4", async () => {
    const relay = await DelayRelay.start({
      listenHost: "127.0.0.1",
      listenPort: 0,
      targetHost: "127.0.0.1",
      targetPort: 1,
      delays: [
        { prefix: "10.77.0.1", delayMs: 5, jitterMs: 1 },
        { prefix: "10.77.0.", delayMs: 10, jitterMs: 2 },
      ],
    });
    cleanups.push(() => relay.close());
    expect(relay.ruleFor("10.77.0.17")?.delayMs).toBe(5);
    expect(relay.ruleFor("::ffff:10.77.0.33")?.delayMs).toBe(10);
    expect(relay.ruleFor("10.78.0.1")).toBeUndefined();
    expect(applyCommand(relay, 'delays [{"prefix":"10.78.","delayMs":7,"jitterMs":0}]')).toBe("ok delays");
    expect(relay.ruleFor("10.78.0.1")?.delayMs).toBe(7);
    expect(applyCommand(relay, "explode")).toMatch(/^error/);
  });

  test("reset: the client sees ECONNRESET, and the relay holds no connection afterwards", async () => {
    const { port } = await echoServer();
    const relay = await relayTo(port, 2, 1);
    const s = connect(relay.port, "127.0.0.1");
    const failed = new Promise<string>((ok) => s.on("error", (e: NodeJS.ErrnoException) => ok(e.code ?? "")));
    s.write("hello");
    await waitFor("the relay to hold the connection", () => relay.openConnections === 1);
    applyCommand(relay, "reset");
    expect(await failed).toBe("ECONNRESET");
    await waitFor("the relay to drop it", () => relay.openConnections === 0);
  });

  test("cut: both ends see an orderly end of stream", async () => {
    const { port, accepted } = await echoServer();
    const relay = await relayTo(port, 2, 1);
    const s = connect(relay.port, "127.0.0.1");
    s.on("error", () => undefined);
    s.resume(); // "end" comes only to a stream that is read
    const ended = new Promise<void>((ok) => s.on("end", () => ok()));
    s.write("x");
    await waitFor("the target to accept", () => accepted.length === 1);
    const serverEnded = new Promise<void>((ok) => accepted[0]?.on("end", () => ok()));
    applyCommand(relay, "cut");
    await ended;
    await serverEnded;
    s.destroy();
  });
});
