/**
 * Request bodies without a cluster: the aws-chunked decoder over every way the network may cut a body
 * (fast-check), the digests it verifies, and CRC-32C against its published test vector.
 */
import { createHash } from "node:crypto";
import { crc32 } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { objectBytes } from "../../src/s3/body.js";
import { crc32c } from "../../src/s3/crc32c.js";
import type { S3Error } from "../../src/s3/errors.js";

const TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER";

function crc32b64(b: Buffer): string {
  const out = Buffer.alloc(4);
  out.writeUInt32BE(crc32(b));
  return out.toString("base64");
}

/** The framing the SDK sends: chunks of `sizes`, then a trailing CRC-32. */
function frame(data: Buffer, chunkSizes: number[], checksum = crc32b64(data)): Buffer {
  const parts: Buffer[] = [];
  let at = 0;
  let i = 0;
  while (at < data.length) {
    const n = Math.min(chunkSizes[i++ % chunkSizes.length]!, data.length - at);
    parts.push(Buffer.from(`${n.toString(16)}\r\n`), data.subarray(at, at + n), Buffer.from("\r\n"));
    at += n;
  }
  parts.push(Buffer.from(`0\r\nx-amz-checksum-crc32:${checksum}\r\n\r\n`));
  return Buffer.concat(parts);
}

/** `body` cut at `cuts` (the network's choice). */
async function* pieces(body: Buffer, cuts: number[]): AsyncGenerator<Buffer> {
  let at = 0;
  for (const c of [...new Set(cuts.map((x) => x % (body.length + 1)))].sort((a, b) => a - b)) {
    if (c > at) yield body.subarray(at, c);
    at = Math.max(at, c);
  }
  if (at < body.length) yield body.subarray(at);
}

const headers = (data: Buffer) => ({
  "content-encoding": "aws-chunked",
  "x-amz-decoded-content-length": String(data.length),
  "x-amz-trailer": "x-amz-checksum-crc32",
});

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const b of it) out.push(b);
  return Buffer.concat(out);
}

describe("aws-chunked bodies", () => {
  it("decode to exactly the payload however the body is framed and cut", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { minLength: 1, maxLength: 5 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        async (bytes, sizes, cuts) => {
          const data = Buffer.from(bytes);
          const body = frame(data, sizes);
          const got = await collect(
            objectBytes(pieces(body, cuts), {
              headers: headers(data),
              payloadHash: TRAILER,
              maxBytes: 1 << 20,
            }),
          );
          expect(got.equals(data)).toBe(true);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("a wrong trailing checksum, a short body and a lying size line are refused at the end", async () => {
    const data = Buffer.from("hello, world");
    const o = { headers: headers(data), payloadHash: TRAILER, maxBytes: 1 << 20 };
    const refusal = async (body: Buffer) => {
      try {
        await collect(objectBytes(pieces(body, []), o));
      } catch (err) {
        return (err as S3Error).code;
      }
      return "accepted";
    };
    expect(await refusal(frame(data, [5]))).toBe("accepted");
    expect(await refusal(frame(data, [5], "AAAAAA=="))).toBe("BadDigest");
    expect(await refusal(frame(data, [5]).subarray(0, 20))).toBe("IncompleteBody");
    expect(await refusal(Buffer.from("5\r\nhello, world\r\n0\r\n\r\n"))).toBe("InvalidRequest");
  });

  it("a plain body is checked against Content-MD5 and the signed SHA-256", async () => {
    const data = Buffer.from("payload");
    const md5 = createHash("md5").update(data).digest("base64");
    const sha = createHash("sha256").update(data).digest("hex");
    const ok = await collect(
      objectBytes(pieces(data, [3]), { headers: { "content-md5": md5 }, payloadHash: sha, maxBytes: 100 }),
    );
    expect(ok.equals(data)).toBe(true);
    await expect(
      collect(objectBytes(pieces(data, []), { headers: {}, payloadHash: "0".repeat(64), maxBytes: 100 })),
    ).rejects.toMatchObject({ code: "XAmzContentSHA256Mismatch" });
    await expect(
      collect(objectBytes(pieces(data, []), { headers: {}, payloadHash: "UNSIGNED-PAYLOAD", maxBytes: 3 })),
    ).rejects.toMatchObject({ code: "EntityTooLarge" });
  });

  it("CRC-32C matches the RFC 3720 test vector and continues across calls", () => {
    expect(crc32c(Buffer.alloc(32))).toBe(0x8a9136aa);
    expect(crc32c(Buffer.from("123456789"))).toBe(0xe3069283);
    expect(crc32c(Buffer.from("6789"), crc32c(Buffer.from("12345")))).toBe(0xe3069283);
  });
});
