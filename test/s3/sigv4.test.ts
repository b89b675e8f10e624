import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { S3Error } from "../../src/s3/errors.js";
import { MAX_SIGNING_KEYS, SigningKeyCache, uriEncode, verifySigV4 } from "../../src/s3/sigv4.js";
import { s3Signer } from "../support/sigv4-hash.js";

const SECRET = "s3cr3t-key-for-tests";
const NOW = Date.UTC(2026, 11, 5, 9, 0, 0);
const signer = (secret = SECRET) => s3Signer({ accessKeyId: "AK", secretAccessKey: secret });

/** Signs as the SDK does and returns what the gateway sees. */
async function signed(
  key: string,
  query: Record<string, string>,
  o: { secret?: string; atMs?: number; headers?: Record<string, string> } = {},
) {
  const path = `/bucket/${key.split("/").map(uriEncode).join("/")}`;
  const req = await signer(o.secret).sign(
    {
      method: "PUT",
      protocol: "http:",
      hostname: "127.0.0.1",
      port: 9000,
      path,
      query,
      headers: { host: "127.0.0.1:9000", "x-amz-content-sha256": "UNSIGNED-PAYLOAD", ...o.headers },
    },
    { signingDate: new Date(o.atMs ?? NOW) },
  );
  const qs = Object.entries(query)
    .map(([k, v]) => (v === "" ? uriEncode(k) : `${uriEncode(k)}=${uriEncode(v)}`))
    .join("&");
  // Node hands header values over as latin1 text of the bytes received: UTF-8 sent, so UTF-8 bytes.
  const rawHeaders = Object.entries(req.headers).flatMap(([k, v]) => [
    k,
    Buffer.from(String(v), "utf8").toString("latin1"),
  ]);
  return { method: "PUT", rawUrl: qs === "" ? path : `${path}?${qs}`, rawHeaders };
}

const secretOf = (id: string) => (id === "AK" ? SECRET : undefined);
const signingKeys = new SigningKeyCache();
function code(fn: () => unknown): string {
  try {
    fn();
    return "accepted";
  } catch (err) {
    return (err as S3Error).code;
  }
}

describe("SigV4", () => {
  it("accepts what AWS's signer signs, for any key and query", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.string({ minLength: 1, maxLength: 8, unit: "grapheme" }), { minLength: 1, maxLength: 3 }),
        fc.dictionary(
          fc.constantFrom("uploadId", "partNumber", "prefix", "x-id", "delimiter"),
          fc.string({ maxLength: 6 }),
        ),
        async (segments, query) => {
          const req = await signed(segments.join("/"), query);
          expect(code(() => verifySigV4(req, { secretOf, nowMs: NOW, signingKeys }))).toBe("accepted");
        },
      ),
      { numRuns: 100 },
    );
  });

  it("accepts header values with non-ASCII text, signed over the UTF-8 bytes sent (botocore, the SDK)", async () => {
    // Printable text without whitespace other than single spaces, which SigV4 folds.
    const value = fc
      .string({ maxLength: 12, unit: "grapheme" })
      .filter((v) => !/[\s\p{Cc}]/u.test(v.replace(/ /g, "")) && !/ {2}|^ | $/.test(v));
    await fc.assert(
      fc.asyncProperty(value, async (v) => {
        const req = await signed("k", {}, { headers: { "x-amz-meta-m": `Hello World\u00e9 ${v}`.trim() } });
        expect(code(() => verifySigV4(req, { secretOf, nowMs: NOW, signingKeys }))).toBe("accepted");
      }),
      { numRuns: 100 },
    );
  });

  it("refuses a wrong secret, an unknown key, a changed path or query, and a clock off by more than 15 minutes", async () => {
    const base = await signed("a b+c/d%2Fe", { prefix: "x y" });
    expect(code(() => verifySigV4(base, { secretOf, nowMs: NOW, signingKeys }))).toBe("accepted");
    const wrong = await signed("a b+c/d%2Fe", { prefix: "x y" }, { secret: "another-secret" });
    expect(code(() => verifySigV4(wrong, { secretOf, nowMs: NOW, signingKeys }))).toBe(
      "SignatureDoesNotMatch",
    );
    expect(code(() => verifySigV4(base, { secretOf: () => undefined, nowMs: NOW, signingKeys }))).toBe(
      "InvalidAccessKeyId",
    );
    const otherPath = { ...base, rawUrl: base.rawUrl.replace("a%20b", "a+b") };
    expect(code(() => verifySigV4(otherPath, { secretOf, nowMs: NOW, signingKeys }))).toBe(
      "SignatureDoesNotMatch",
    );
    const otherQuery = { ...base, rawUrl: `${base.rawUrl}&delete` };
    expect(code(() => verifySigV4(otherQuery, { secretOf, nowMs: NOW, signingKeys }))).toBe(
      "SignatureDoesNotMatch",
    );
    const min = 60_000;
    expect(code(() => verifySigV4(base, { secretOf, nowMs: NOW + 15 * min, signingKeys }))).toBe("accepted");
    expect(code(() => verifySigV4(base, { secretOf, nowMs: NOW + 15 * min + 1000, signingKeys }))).toBe(
      "RequestTimeTooSkewed",
    );
    expect(code(() => verifySigV4(base, { secretOf, nowMs: NOW - 15 * min - 1000, signingKeys }))).toBe(
      "RequestTimeTooSkewed",
    );
    const anonymous = { method: "GET", rawUrl: "/bucket/k", rawHeaders: ["host", "x"] };
    expect(code(() => verifySigV4(anonymous, { secretOf, nowMs: NOW, signingKeys }))).toBe("AccessDenied");
  });

  it("a signing key kept from earlier requests never outlives its secret (a rotated key, other days)", async () => {
    const base = await signed("k", {});
    expect(code(() => verifySigV4(base, { secretOf, nowMs: NOW, signingKeys }))).toBe("accepted");
    const rotated = (id: string) => (id === "AK" ? "the-rotated-secret" : undefined);
    expect(code(() => verifySigV4(base, { secretOf: rotated, nowMs: NOW, signingKeys }))).toBe(
      "SignatureDoesNotMatch",
    );
    const fresh = await signed("k", {}, { secret: "the-rotated-secret" });
    expect(code(() => verifySigV4(fresh, { secretOf: rotated, nowMs: NOW, signingKeys }))).toBe("accepted");
    expect(code(() => verifySigV4(fresh, { secretOf, nowMs: NOW, signingKeys }))).toBe(
      "SignatureDoesNotMatch",
    );
    // More scopes than the cache keeps: every one still verifies, and the first again after them.
    const day = 86_400_000;
    for (let d = 0; d < 300; d += 1) {
      const r = await signed("k", {}, { atMs: NOW + d * day });
      expect(code(() => verifySigV4(r, { secretOf, nowMs: NOW + d * day, signingKeys }))).toBe("accepted");
    }
    expect(code(() => verifySigV4(base, { secretOf, nowMs: NOW, signingKeys }))).toBe("accepted");
  });

  it("each gateway keeps its own signing keys, never more than MAX_SIGNING_KEYS of them", async () => {
    const mine = new SigningKeyCache();
    const theirs = new SigningKeyCache();
    const base = await signed("k", {});
    expect(code(() => verifySigV4(base, { secretOf, nowMs: NOW, signingKeys: mine }))).toBe("accepted");
    expect([mine.size, theirs.size]).toEqual([1, 0]);
    const day = 86_400_000;
    for (let d = 1; d <= MAX_SIGNING_KEYS + 44; d += 1) {
      const r = await signed("k", {}, { atMs: NOW + d * day });
      expect(code(() => verifySigV4(r, { secretOf, nowMs: NOW + d * day, signingKeys: mine }))).toBe(
        "accepted",
      );
    }
    expect(mine.size).toBe(MAX_SIGNING_KEYS);
    expect(theirs.size).toBe(0);
  });
});
