/**
 * bodyBoundedBySilence on its own, over a stand-in for node's request (a byte stream with a socket):
 * the body's bytes pass through without being kept, a timeout while waiting for bytes is
 * RequestTimeout, and a timeout while the consumer is busy re-arms the socket's timer instead.
 */
import type { IncomingMessage } from "node:http";
import { Readable } from "node:stream";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { describe, expect, it } from "vitest";
import { bodyBoundedBySilence } from "../../src/s3/request-timeout.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const PIECE_BYTES = 64 * 1024;

function fakeRequest(read: (this: Readable) => void): { req: IncomingMessage; rearmed: number[] } {
  const rearmed: number[] = [];
  const stream = new Readable({ read });
  const socket = { timeout: 5000, setTimeout: (ms: number) => rearmed.push(ms) };
  return { req: Object.assign(stream, { socket }) as unknown as IncomingMessage, rearmed };
}

describe("a request body bounded by silence", () => {
  it("passes a long body through without keeping what it handed out", async () => {
    // 256 MiB in 64 KiB pieces. An earlier version raced every read against one long-lived timeout
    // promise, and each race left it a reaction holding that read's piece: the whole body stayed in
    // memory (a 1 GiB PUT peaked at 1.1 GiB of RSS in the gateway).
    const pieces = 4096;
    let made = 0;
    const { req } = fakeRequest(function () {
      this.push(made++ < pieces ? Buffer.alloc(PIECE_BYTES, made & 0xff) : null);
    });
    gc();
    const before = process.memoryUsage().arrayBuffers;
    let seen = 0;
    let heldMib = Number.NaN;
    for await (const piece of bodyBoundedBySilence(req)) {
      seen += piece.length;
      if (seen === (pieces - 8) * PIECE_BYTES) {
        gc(); // still iterating: what is kept now is what the wrapper holds on to
        heldMib = (process.memoryUsage().arrayBuffers - before) / (1024 * 1024);
      }
    }
    expect(seen).toBe(pieces * PIECE_BYTES);
    expect(heldMib).toBeLessThan(32);
  });

  it("a timeout while waiting for bytes is RequestTimeout; one while the consumer is busy re-arms the timer", async () => {
    const { req, rearmed } = fakeRequest(() => {});
    const source = req as unknown as Readable;
    const body = bodyBoundedBySilence(req)[Symbol.asyncIterator]();
    source.push(Buffer.from("first"));
    const first = await body.next();
    expect(first.value?.toString()).toBe("first");
    // The consumer holds "first" and has not asked for more: not the client's silence.
    req.emit("timeout");
    expect(rearmed).toEqual([5000]);
    source.push(Buffer.from("second"));
    expect((await body.next()).value?.toString()).toBe("second");
    // Now the gateway waits for bytes that do not come.
    const waiting = body.next();
    await new Promise((resolve) => setImmediate(resolve));
    req.emit("timeout");
    await expect(waiting).rejects.toMatchObject({ code: "RequestTimeout", status: 400 });
    expect(req.listenerCount("timeout")).toBe(0);
    expect(source.destroyed).toBe(false); // the socket stays for the error answer
  });
});
