/**
 * Non-ASCII user metadata as S3 treats it: RFC 2047 words decoded when sent, values beyond printable
 * ASCII answered as words that decode to the stored text, each word at most 75 characters.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { metaFromHeaders, metaHeaders } from "../../src/s3/object-meta.js";
import { decodeEncodedWords, headerText, mailSafe } from "../../src/s3/rfc2047.js";
import type { S3Request } from "../../src/s3/types.js";

/** Text with no lone surrogates (metadata must have a UTF-8 form). */
const text = fc.string({ unit: "grapheme", maxLength: 120 });

describe("RFC 2047 metadata", () => {
  it("mailSafe is printable ASCII, words of at most 75 characters, and decodes to the value", () => {
    fc.assert(
      fc.property(text, (v) => {
        const safe = mailSafe(v);
        expect(safe).toMatch(/^[\x20-\x7e]*$/);
        if (/^[\x20-\x7e]*$/.test(v)) expect(safe).toBe(v);
        else {
          for (const w of safe.split(" ")) expect(w.length).toBeLessThanOrEqual(75);
          expect(decodeEncodedWords(safe)).toBe(v);
        }
      }),
    );
  });

  it("decodes B and Q words in UTF-8 and latin1; anything else stays as sent", () => {
    expect(decodeEncodedWords("=?UTF-8?B?SGVsbG8gV29ybGTDqQ==?=")).toBe("Hello World\u00e9");
    expect(decodeEncodedWords("=?utf-8?q?Hello_World=C3=A9?=")).toBe("Hello World\u00e9");
    expect(decodeEncodedWords("=?ISO-8859-1?Q?caf=E9?= =?UTF-8?B?4oKs?=")).toBe("caf\u00e9\u20ac");
    for (const plain of [
      "plain text",
      "=?UTF-8?B?not base64!?=",
      "=?KOI8-R?B?AAAA?=",
      "a =?UTF-8?B?4oKs?=",
      "",
    ]) {
      expect(decodeEncodedWords(plain)).toBe(plain);
    }
    // Invalid UTF-8 inside a UTF-8 word: not decodable, kept as sent.
    expect(decodeEncodedWords("=?UTF-8?B?/w==?=")).toBe("=?UTF-8?B?/w==?=");
  });

  it("header bytes read as UTF-8 when they are UTF-8, else as latin1", () => {
    fc.assert(
      fc.property(text, (v) => {
        expect(headerText(Buffer.from(v, "utf8").toString("latin1"))).toBe(v);
      }),
    );
    expect(headerText("caf\u00e9")).toBe("caf\u00e9"); // the single byte 0xE9: not UTF-8
  });

  it("PUT with UTF-8 bytes or encoded words stores the text; GET answers it as encoded words", () => {
    const req = { query: new Map() } as unknown as S3Request;
    const v = "Hello World\u00e9 \u20ac";
    for (const sent of [Buffer.from(v, "utf8").toString("latin1"), mailSafe(v)]) {
      const meta = metaFromHeaders({ "x-amz-meta-meta1": sent });
      expect(meta?.["x-amz-meta-meta1"]).toBe(v);
      const answered = metaHeaders(req, meta)["x-amz-meta-meta1"]!;
      expect(answered).toMatch(/^=\?UTF-8\?B\?/);
      expect(decodeEncodedWords(answered)).toBe(v);
    }
    expect(metaHeaders(req, { "x-amz-meta-a": "ascii stays" })["x-amz-meta-a"]).toBe("ascii stays");
  });
});
