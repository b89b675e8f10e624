/**
 * Request bodies as the bytes the object holds: `aws-chunked` framing removed (the SDK's default
 * `STREAMING-UNSIGNED-PAYLOAD-TRAILER` bodies: `<hex size>[;ext]\r\n<data>\r\n ... 0\r\n<trailers>\r\n`),
 * and every digest the client sent — Content-MD5, x-amz-checksum-* (as a header or a trailer), the
 * signed x-amz-content-sha256 — checked once the last byte has passed. The check runs *inside* the
 * stream that the upload consumes: a mismatch throws before the upload commits, so nothing is written.
 * Bytes pass through; nothing is held beyond one framing line (bounded).
 */
import { createHash, type Hash } from "node:crypto";
import { crc32 } from "node:zlib";
import { crc32c } from "./crc32c.js";
import { S3Error } from "./errors.js";

/** A chunk-size line (hex size plus extensions such as chunk-signature) is short; a trailer line too. */
const MAX_LINE_BYTES = 4096;
const MAX_TRAILER_BYTES = 16 * 1024;

export type ChecksumAlgorithm = "crc32" | "crc32c" | "sha1" | "sha256";
const ALGORITHMS: readonly ChecksumAlgorithm[] = ["crc32", "crc32c", "sha1", "sha256"];

/** A running digest with S3's base64 rendering. */
class Digest {
  private crc = 0;
  private readonly hash: Hash | null;
  constructor(readonly algorithm: ChecksumAlgorithm | "md5") {
    this.hash =
      algorithm === "crc32" || algorithm === "crc32c"
        ? null
        : createHash(algorithm === "md5" ? "md5" : algorithm);
  }
  update(b: Buffer): void {
    if (this.algorithm === "crc32") this.crc = crc32(b, this.crc);
    else if (this.algorithm === "crc32c") this.crc = crc32c(b, this.crc);
    else this.hash!.update(b);
  }
  digest(): Buffer {
    if (this.hash !== null) return this.hash.digest();
    const out = Buffer.alloc(4);
    out.writeUInt32BE(this.crc >>> 0);
    return out;
  }
}

export interface BodyOptions {
  /** Request headers (lowercase names). */
  headers: Record<string, string | string[] | undefined>;
  /** From the signature: a SHA-256 hex, or an UNSIGNED/STREAMING marker. */
  payloadHash: string;
  maxBytes: number;
}

function header(h: BodyOptions["headers"], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v.join(",") : v;
}

/** Decodes the `aws-chunked` framing. Yields payload slices; returns the trailers. */
async function* unchunk(
  source: AsyncIterable<Buffer>,
  trailers: Map<string, string>,
): AsyncGenerator<Buffer> {
  let buf: Buffer = Buffer.alloc(0);
  let remaining = -1; // bytes of chunk data still due; -1: a size line is due
  let state = "size" as "size" | "data" | "crlf" | "trailers" | "done";
  let trailerBytes = 0;
  for await (const piece of source) {
    buf = buf.length === 0 ? piece : Buffer.concat([buf, piece]);
    for (;;) {
      if (state === "data") {
        if (buf.length === 0) break;
        const n = Math.min(remaining, buf.length);
        yield buf.subarray(0, n);
        buf = buf.subarray(n);
        remaining -= n;
        if (remaining === 0) state = "crlf";
        continue;
      }
      if (state === "done") {
        if (buf.length > 0) throw new S3Error("IncompleteBody", "bytes after the aws-chunked body's end");
        break;
      }
      const nl = buf.indexOf("\r\n");
      if (nl < 0) {
        if (buf.length > MAX_LINE_BYTES)
          throw new S3Error("InvalidRequest", "an aws-chunked line is too long");
        break;
      }
      const line = buf.subarray(0, nl).toString("latin1");
      buf = buf.subarray(nl + 2);
      if (state === "crlf") {
        if (line !== "") throw new S3Error("InvalidRequest", "aws-chunked data is longer than its size line");
        state = "size";
      } else if (state === "size") {
        const sizeText = line.split(";")[0]!.trim();
        if (!/^[0-9a-fA-F]{1,16}$/.test(sizeText)) {
          throw new S3Error("InvalidRequest", "malformed aws-chunked size line");
        }
        remaining = Number.parseInt(sizeText, 16);
        state = remaining === 0 ? "trailers" : "data";
      } else {
        // trailers: `name:value` lines up to an empty line (a body may also just end after "0\r\n").
        if (line === "") {
          state = "done";
          continue;
        }
        trailerBytes += line.length;
        if (trailerBytes > MAX_TRAILER_BYTES)
          throw new S3Error("InvalidRequest", "aws-chunked trailers too long");
        const colon = line.indexOf(":");
        if (colon < 0) throw new S3Error("InvalidRequest", "malformed aws-chunked trailer");
        trailers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
      }
    }
  }
  if (state === "trailers" && buf.length === 0) return; // "0\r\n" and no trailer section: accepted
  if (state !== "done") throw new S3Error("IncompleteBody", "the aws-chunked body ended early");
}

export function isAwsChunked(headers: BodyOptions["headers"], payloadHash: string): boolean {
  const enc = header(headers, "content-encoding") ?? "";
  return payloadHash.startsWith("STREAMING-") || enc.split(",").some((e) => e.trim() === "aws-chunked");
}

/** The object's length as the client declared it (decoded length for aws-chunked), if it did. */
export function declaredLength(headers: BodyOptions["headers"], payloadHash: string): number | undefined {
  const raw = isAwsChunked(headers, payloadHash)
    ? header(headers, "x-amz-decoded-content-length")
    : header(headers, "content-length");
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isSafeInteger(n) || n < 0) throw new S3Error("InvalidArgument", "invalid content length");
  return n;
}

/**
 * The object's bytes from a raw request body, verified at the end. Throws S3Error (BadDigest,
 * XAmzContentSHA256Mismatch, IncompleteBody, EntityTooLarge...) from inside the iteration.
 */
export async function* objectBytes(source: AsyncIterable<Buffer>, o: BodyOptions): AsyncGenerator<Buffer> {
  const chunked = isAwsChunked(o.headers, o.payloadHash);
  const trailers = new Map<string, string>();
  const expectedLength = declaredLength(o.headers, o.payloadHash);
  if (expectedLength !== undefined && expectedLength > o.maxBytes) {
    throw new S3Error("EntityTooLarge", `the object is larger than ${o.maxBytes} bytes`);
  }
  const md5Header = header(o.headers, "content-md5");
  if (md5Header !== undefined && Buffer.from(md5Header, "base64").length !== 16) {
    throw new S3Error("InvalidDigest", "the Content-MD5 you specified is not valid");
  }
  const digests: {
    digest: Digest;
    expected: () => string | undefined;
    code: "BadDigest" | "XAmzContentSHA256Mismatch";
    hex?: boolean;
  }[] = [];
  if (md5Header !== undefined)
    digests.push({ digest: new Digest("md5"), expected: () => md5Header, code: "BadDigest" });
  if (/^[0-9a-f]{64}$/.test(o.payloadHash) && !chunked) {
    digests.push({
      digest: new Digest("sha256"),
      expected: () => o.payloadHash,
      code: "XAmzContentSHA256Mismatch",
      hex: true,
    });
  }
  const trailerNames = (header(o.headers, "x-amz-trailer") ?? "").toLowerCase();
  for (const alg of ALGORITHMS) {
    const name = `x-amz-checksum-${alg}`;
    const inHeader = header(o.headers, name);
    if (inHeader !== undefined || trailerNames.includes(name)) {
      digests.push({
        digest: new Digest(alg),
        expected: () => inHeader ?? trailers.get(name),
        code: "BadDigest",
      });
    }
  }
  const body = chunked ? unchunk(source, trailers) : source;
  let total = 0;
  for await (const b of body) {
    total += b.length;
    if (total > o.maxBytes)
      throw new S3Error("EntityTooLarge", `the object is larger than ${o.maxBytes} bytes`);
    for (const d of digests) d.digest.update(b);
    yield b;
  }
  if (expectedLength !== undefined && total !== expectedLength) {
    throw new S3Error("IncompleteBody", `the body has ${total} bytes, not the declared ${expectedLength}`);
  }
  for (const d of digests) {
    const want = d.expected();
    if (want === undefined) {
      throw new S3Error("InvalidRequest", `the trailer ${d.digest.algorithm} was announced but not sent`);
    }
    const got = d.digest.digest().toString(d.hex ? "hex" : "base64");
    if (got !== want) {
      throw new S3Error(
        d.code,
        d.code === "BadDigest"
          ? `the ${d.digest.algorithm} you specified did not match what we received`
          : "the provided x-amz-content-sha256 header does not match what was computed",
      );
    }
  }
}

/** Reads a small body (request XML) whole, bounded. */
export async function readSmallBody(source: AsyncIterable<Buffer>, o: BodyOptions): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of objectBytes(source, o)) parts.push(b);
  return Buffer.concat(parts);
}
