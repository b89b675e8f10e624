/**
 * Download links carry a ticket in place of the token: it must grant exactly the version it names,
 * to anyone who holds it, until it expires, and nothing once any part of it is changed.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { signReadTicket } from "../../src/common/tickets.js";
import { signDownloadTicket, verifyDownloadTicket } from "../../src/meta/dashboard/download.js";

const SECRET = "ticket-test-secret-0123";
const claims = fc.record({
  path: fc.string({ minLength: 1, maxLength: 200, unit: "grapheme" }).map((s) => `/${s}`),
  version: fc.integer({ min: 1, max: 2 ** 40 }),
  expiresAtMs: fc.integer({ min: 1, max: 2 ** 45 }),
});

describe("download tickets", () => {
  test("a ticket grants the path and version it was signed for, until it expires", () => {
    fc.assert(
      fc.property(claims, fc.integer({ min: 0, max: 2 ** 45 }), (c, nowMs) => {
        const got = verifyDownloadTicket(SECRET, signDownloadTicket(SECRET, c), nowMs);
        if (nowMs > c.expiresAtMs)
          expect(got).toMatchObject({ ok: false, reason: expect.stringMatching(/expired/) });
        else expect(got).toEqual({ ok: true, path: c.path, version: c.version });
      }),
    );
  });

  test("any one character changed, another secret, or a chunk ticket is refused", () => {
    fc.assert(
      fc.property(claims, fc.nat(), fc.constantFrom(..."0123456789abcXYZ_-."), (c, at, ch) => {
        const t = signDownloadTicket(SECRET, c);
        const i = at % t.length;
        fc.pre(t[i] !== ch);
        const changed = t.slice(0, i) + ch + t.slice(i + 1);
        expect(verifyDownloadTicket(SECRET, changed, 0).ok).toBe(false);
        expect(verifyDownloadTicket("another-secret-0123", t, 0).ok).toBe(false);
      }),
    );
    const chunkTicket = signReadTicket(SECRET, { chunkId: "a".repeat(64), expiresAtMs: 2 ** 44 });
    expect(verifyDownloadTicket(SECRET, chunkTicket, 0).ok).toBe(false);
  });
});
