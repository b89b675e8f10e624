/**
 * A PutObject whose body takes longer to arrive than the cluster's whole-request timeout
 * (`listener.requestTimeoutMs`) is still stored whole: the gateway bounds a body by silence (the idle
 * timeout), not by its total time, since one S3 request may carry up to 5 GiB. Before, the gateway
 * took the cluster listeners' request timeout and cut such a PUT off with a 408 (a 1 GiB PUT through
 * a loaded machine ran past the 120 s default).
 *
 * The config shortens the request timeout to 5 s (the cluster's own listeners get it too; their
 * requests here are small), and the SDK's body trickles in for longer than that, in pieces a few
 * hundred ms apart: slow overall, never silent for long.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import { setTimeout as sleep } from "node:timers/promises";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type S3Env, startS3 } from "./gateway.js";

const REQUEST_TIMEOUT_MS = 5000;
const PIECES = 14;
const PIECE_GAP_MS = 500; // 14 gaps of 500 ms: the body takes at least 7 s, past the 5 s timeout
const PIECE_BYTES = 16 * 1024;

let env: S3Env;

beforeAll(async () => {
  env = await startS3({
    overrides: { listener: { headersTimeoutMs: 2000, requestTimeoutMs: REQUEST_TIMEOUT_MS } },
  });
  await env.s3.send(new CreateBucketCommand({ Bucket: "slow" }));
}, 120_000);
afterAll(async () => env?.stop());

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("a slow request body", () => {
  it("a PutObject streamed for longer than the listener's request timeout is stored whole", async () => {
    const pieces = Array.from({ length: PIECES }, (_, i) => Buffer.alloc(PIECE_BYTES, i + 1));
    const whole = Buffer.concat(pieces);
    async function* trickle() {
      for (const piece of pieces) {
        await sleep(PIECE_GAP_MS);
        yield piece;
      }
    }
    const put = await env.s3.send(
      new PutObjectCommand({
        Bucket: "slow",
        Key: "trickled",
        Body: Readable.from(trickle()),
        ContentLength: whole.length,
      }),
    );
    expect(put.VersionId).toBeDefined();
    const got = await env.s3.send(new GetObjectCommand({ Bucket: "slow", Key: "trickled" }));
    expect(sha256(await got.Body!.transformToByteArray())).toBe(sha256(whole));
    expect(sha256(await env.fs.readFile("/slow/trickled"))).toBe(sha256(whole));
  }, 120_000);
});
