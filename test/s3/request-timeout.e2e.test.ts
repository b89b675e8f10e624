/**
 * A client that stops sending gets S3's answer, `400 RequestTimeout` as error XML, whether it stalls in
 * its headers (the listener's header timeout) or in its body (the idle timeout, while the gateway waits
 * for bytes), and a stalled PUT stores nothing. Before, stalled headers were answered as an unparsable
 * request (`BadRequest`) and a stalled body's socket was dropped without an answer.
 *
 * The gateway alone gets short limits (a config of its own beside the cluster's), so the cluster's
 * listeners keep theirs. Requests go over raw sockets: only they can stop halfway on purpose.
 */
import { type Socket, connect as tcpConnect } from "node:net";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateBucketCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { s3Signer } from "../support/sigv4-hash.js";
import { ACCESS_KEY, type S3Env, SECRET_KEY, startS3 } from "./gateway.js";

const HEADERS_TIMEOUT_MS = 1000;
const IDLE_TIMEOUT_MS = 2000;
/** The most a stalled request waits for its answer: the limits above plus node's 1 s check, with room for a loaded machine. */
const ANSWER_WITHIN_MS = 30_000;

let env: S3Env;

beforeAll(async () => {
  env = await startS3({
    gatewayOverrides: { listener: { headersTimeoutMs: HEADERS_TIMEOUT_MS, idleTimeoutMs: IDLE_TIMEOUT_MS } },
  });
  await env.s3.send(new CreateBucketCommand({ Bucket: "stall" }));
}, 120_000);
afterAll(async () => env?.stop());

/** Opens a socket to the gateway, writes `head`, then sends nothing more: all it receives until it closes. */
async function stalledExchange(head: string | Buffer): Promise<string> {
  const url = new URL(env.endpoint);
  const socket: Socket = tcpConnect({ host: url.hostname, port: Number(url.port) });
  let received = "";
  socket.on("data", (b: Buffer) => (received += b.toString("latin1")));
  socket.write(head);
  try {
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no close within ${ANSWER_WITHIN_MS} ms; got: ${received}`)),
        ANSWER_WITHIN_MS,
      );
      socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      socket.on("error", () => {}); // a reset still closes; what arrived before it is what is checked
    });
  } finally {
    socket.destroy();
  }
  return received;
}

function expectRequestTimeout(answer: string): void {
  expect(answer.split("\r\n")[0]).toBe("HTTP/1.1 400 Bad Request");
  expect(answer).toMatch(/content-type: application\/xml/i);
  expect(answer).toContain("<Code>RequestTimeout</Code>");
}

describe("a request that stops arriving", () => {
  it("stalled headers are answered 400 RequestTimeout", async () => {
    const url = new URL(env.endpoint);
    expectRequestTimeout(await stalledExchange(`GET /stall/x HTTP/1.1\r\nHost: ${url.host}\r\n`));
  }, 60_000);

  it("a body that stops halfway is answered 400 RequestTimeout, and nothing is stored", async () => {
    const url = new URL(env.endpoint);
    const signer = s3Signer({ accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY });
    const declaredBytes = 1024 * 1024;
    const signed = await signer.sign({
      method: "PUT",
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: "/stall/half",
      query: {},
      headers: {
        host: url.host,
        "x-amz-content-sha256": "UNSIGNED-PAYLOAD",
        "content-length": String(declaredBytes),
      },
    });
    const head = `PUT /stall/half HTTP/1.1\r\n${Object.entries(signed.headers)
      .map(([k, v]) => `${k}: ${v}\r\n`)
      .join("")}\r\n`;
    const answer = await stalledExchange(Buffer.concat([Buffer.from(head), Buffer.alloc(64 * 1024, 7)]));
    expectRequestTimeout(answer);
    await expect(env.fs.stat("/stall/half")).rejects.toMatchObject({ code: "NOT_FOUND" });
  }, 60_000);

  it("a body slower than the idle timeout overall, but never silent that long, is stored", async () => {
    const pieces = Array.from({ length: 8 }, (_, i) => Buffer.alloc(16 * 1024, i + 1));
    async function* trickle() {
      for (const piece of pieces) {
        await sleep(IDLE_TIMEOUT_MS / 4);
        yield piece;
      }
    }
    const put = await env.s3.send(
      new PutObjectCommand({
        Bucket: "stall",
        Key: "trickled",
        Body: Readable.from(trickle()),
        ContentLength: pieces.length * 16 * 1024,
      }),
    );
    expect(put.VersionId).toBeDefined();
    expect(Buffer.compare(await env.fs.readFile("/stall/trickled"), Buffer.concat(pieces))).toBe(0);
  }, 60_000);
});
