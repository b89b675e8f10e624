/**
 * Issue 18: a replica killed and restarted stayed out of the cluster for 60 s or more (netns bench):
 * it heard no leader while its own messages reached the others. What this shows: the transport opens
 * one stream per peer at a time, and undici waits 300 s by default for an upgrade's answer, so one
 * upgrade left unanswered silences the peer for that long. How the netns runs most likely got one
 * (deduced, not observed: this machine cannot drop single packets): a connect made while the replica
 * was down reached the lab's relay (test/support/delay-relay.ts), which accepted it, failed to reach
 * the dead process and reset it; with 0.5 % loss the reset can be lost, and the sender, its request
 * acknowledged and nothing left to send, waits. Here that is a listener that accepts the first
 * connection, reads it and never answers.
 */
import { connect, createServer, type Server, type Socket } from "node:net";
import Fastify from "fastify";
import { afterEach, describe, expect, it } from "vitest";
import type { Message } from "../../src/raft/core/index.js";
import { HttpTransport } from "../../src/raft/transport.js";
import { waitFor } from "./helpers.js";

const SECRET = "test-cluster-secret";
const heartbeat = (n: number): Message => ({
  type: "heartbeat",
  from: 1,
  to: 2,
  term: 1,
  commit: n,
  readCtx: null,
});

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Swallows the first `silent` connections (reads, never answers, never closes); pipes later ones to `port`. */
async function blackHoleThenForward(
  silent: number,
  port: number,
): Promise<{ port: number; accepted: () => number; destroyAll: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((a) => {
    sockets.add(a);
    a.on("close", () => sockets.delete(a));
    a.on("error", () => {});
    if (++accepted <= silent) {
      a.resume();
      return;
    }
    const b = connect(port, "127.0.0.1");
    sockets.add(b);
    b.on("error", () => a.destroy());
    a.on("error", () => b.destroy());
    a.pipe(b).pipe(a);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  cleanups.push(() => new Promise((r) => server.close(r)));
  const addr = server.address();
  return {
    port: typeof addr === "object" && addr ? addr.port : 0,
    accepted: () => accepted,
    // Ends the swallowed connections too (an unanswered upgrade would hold the client's close).
    destroyAll: async () => {
      for (const s of sockets) s.destroy();
    },
  };
}

describe("HttpTransport opening a stream", () => {
  it("gives up on an upgrade that is never answered and reaches the peer on a new connection", async () => {
    const appB = Fastify();
    const b = new HttpTransport({ secret: SECRET }, { app: appB });
    const got: Message[] = [];
    b.onMessages((msgs) => got.push(...msgs));
    const urlB = await appB.listen({ host: "127.0.0.1", port: 0 });
    cleanups.push(
      () => appB.close(),
      () => b.close(),
    );
    const hole = await blackHoleThenForward(1, Number(new URL(urlB).port));
    const appA = Fastify();
    const a = new HttpTransport(
      { secret: SECRET, connectTimeoutMs: 500, peers: [{ id: 2, url: `http://127.0.0.1:${hole.port}` }] },
      { app: appA },
    );
    cleanups.push(
      () => appA.close(),
      () => a.close(),
      hole.destroyAll,
    );
    // As a leader does: a heartbeat every tick (bounded: at most 400 ticks of 50 ms).
    let n = 0;
    const ticker = setInterval(() => {
      if (n < 400) a.send([heartbeat(n++)]);
    }, 50);
    cleanups.push(async () => clearInterval(ticker));
    await waitFor(() => got.length > 0, "a heartbeat to reach the peer past the unanswered upgrade", 15_000);
    expect(hole.accepted()).toBeGreaterThanOrEqual(2);
    expect(got[0]).toMatchObject({ type: "heartbeat", from: 1, to: 2 });
  });
});
