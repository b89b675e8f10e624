import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { esc, many, parseXml } from "../../src/s3/xml.js";

const deleteDoc = (keys: string[], indent: string) =>
  Buffer.from(
    `<?xml version="1.0" encoding="UTF-8"?>${indent}<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${keys
      .map((k) => `${indent}<Object>${indent}<Key>${esc(k)}</Key>${indent}</Object>`)
      .join("")}${indent}<Quiet>true</Quiet>${indent}</Delete>`,
  );

describe("request XML", () => {
  it("keeps keys as sent: spaces are part of a key (ceph s3-tests' special key names)", () => {
    const doc = parseXml(deleteDoc([" ", "_ ", "  a b  "], "\n  "), "Delete");
    expect(many(doc.Object).map((o) => (o as { Key: string }).Key)).toEqual([" ", "_ ", "  a b  "]);
    expect(doc).toEqual({ Object: [{ Key: " " }, { Key: "_ " }, { Key: "  a b  " }], Quiet: "true" });
  });

  it("an indented empty root is an empty document", () => {
    expect(parseXml(Buffer.from("<Delete>\n  </Delete>"), "Delete")).toEqual({});
  });

  it("any key survives escaping and parsing, indented or not (property)", () => {
    // XML 1.0 characters without CR (which XML itself normalizes) and without other controls.
    const keyChar = fc
      .integer({ min: 0x20, max: 0xd7ff })
      .map((c) => String.fromCharCode(c))
      .filter((c) => c !== "\u007f");
    const key = fc.array(keyChar, { minLength: 1, maxLength: 20 }).map((cs) => cs.join(""));
    fc.assert(
      fc.property(
        fc.array(key, { minLength: 1, maxLength: 5 }),
        fc.constantFrom("", "\n", "\n\t  "),
        (keys, indent) => {
          const doc = parseXml(deleteDoc(keys, indent), "Delete");
          expect(many(doc.Object).map((o) => (o as { Key: string }).Key)).toEqual(keys);
        },
      ),
      { numRuns: 300 },
    );
  });
});
