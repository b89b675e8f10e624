/**
 * What a write's headers store as the object's metadata, and what GET answers with: aws-chunked never
 * stored, S3's 2 KiB bound on user metadata, the gateway's own keys never answered or copied.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { S3Error } from "../../src/s3/errors.js";
import { copiedMeta, metaFromHeaders, metaHeaders, UPLOAD_ID_META } from "../../src/s3/object-meta.js";
import type { S3Request } from "../../src/s3/types.js";

function refusal(fn: () => unknown): string {
  try {
    fn();
    return "accepted";
  } catch (err) {
    return (err as S3Error).code;
  }
}

describe("object metadata", () => {
  it("Content-Encoding keeps what the client gave, less the aws-chunked framing", () => {
    const cases: [string, string | undefined][] = [
      ["gzip", "gzip"],
      ["deflate, gzip", "deflate, gzip"],
      ["gzip, aws-chunked", "gzip"],
      ["aws-chunked, gzip", "gzip"],
      ["aws-chunked", undefined],
      ["aws-chunked, aws-chunked", undefined],
    ];
    for (const [sent, stored] of cases) {
      expect(metaFromHeaders({ "content-encoding": sent })?.["content-encoding"]).toBe(stored);
    }
  });

  it("user metadata: 2048 bytes of keys and values are kept, one more is MetadataTooLarge", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 2047 }), (n, keyBytes) => {
        const key = "k".repeat(Math.min(keyBytes, 200));
        const headers = (extra: number) => ({ [`x-amz-meta-${key}`]: "v".repeat(2048 - key.length + extra) });
        expect(metaFromHeaders(headers(0))).toEqual(headers(0));
        expect(refusal(() => metaFromHeaders(headers(n)))).toBe("MetadataTooLarge");
      }),
      { numRuns: 50 },
    );
    expect(metaFromHeaders({ "x-amz-date": "20261206T000000Z", host: "h" })).toBeUndefined();
  });

  it("GET answers the object's headers with response-* overrides, never the gateway's own keys", () => {
    const req = { query: new Map([["response-content-type", "text/html"]]) } as unknown as S3Request;
    const stored = { "content-type": "text/plain", "x-amz-meta-a": "1", [UPLOAD_ID_META]: "f".repeat(32) };
    expect(metaHeaders(req, stored)).toEqual({ "content-type": "text/html", "x-amz-meta-a": "1" });
    expect(metaHeaders({ query: new Map() } as unknown as S3Request, undefined)).toEqual({
      "content-type": "application/octet-stream",
    });
    expect(copiedMeta(stored)).toEqual({ "content-type": "text/plain", "x-amz-meta-a": "1" });
    expect(copiedMeta({ [UPLOAD_ID_META]: "x" })).toBeUndefined();
  });
});
