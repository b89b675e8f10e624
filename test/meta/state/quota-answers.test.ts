/**
 * Quotas as a client and an operator see them (issue 13, mutation testing of quotas.ts, which scored
 * 81 % with 48 survivors, about 12 of them messages and details and 14 in `checkUsage`): the exact
 * QUOTA_EXCEEDED answer (which limit, by how much, the usage before and after), the exact refusals of
 * setQuota/clearQuota/quota, the answers' shapes (a limit not set is absent, not undefined), and the
 * usage check of `checkInvariants` firing on a wrong counter or a quota left on a file.
 */
import { describe, expect, it } from "vitest";
import { encode } from "../../../src/meta/state/records.js";
import { Harness, inline } from "./helpers.js";

const bytes = (n: number) => ({ kind: "inline", data: new Uint8Array(n) });

describe("quota answers", () => {
  it("QUOTA_EXCEEDED names the tree, the path, each limit passed, the usage and what it would have been", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/p" });
    h.ok({ type: "setQuota", path: "/p", files: 1, bytes: 10 });
    h.ok({ type: "commit", path: "/p/a", content: bytes(4) });
    expect(h.err({ type: "commit", path: "/p/b", content: bytes(7) })).toEqual({
      code: "QUOTA_EXCEEDED",
      message: "quota of /p exceeded by /p/b: 2 names > 1, 11 bytes > 10",
      path: "/p/b",
      dir: "/p",
      limits: { bytes: 10, files: 1 },
      usage: { bytes: 4, files: 1 },
      wouldBe: { bytes: 11, files: 2 },
    });
    expect(h.err({ type: "commit", path: "/p/a", content: bytes(11) })).toMatchObject({
      message: "quota of /p exceeded by /p/a: 15 bytes > 10",
      limits: { bytes: 10, files: 1 },
    });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 4, files: 1 });
  });

  it("setQuota, clearQuota and quota answer with the directory, its limits (only those set) and usage", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/p/f", content: bytes(3), createParents: true });
    expect(h.ok({ type: "setQuota", path: "/p/", bytes: 100 })).toStrictEqual({
      dir: "/p",
      limits: { bytes: 100 },
      usage: { bytes: 3, files: 1 },
    });
    expect(h.fs.quota("/p")).toStrictEqual({
      dir: "/p",
      limits: { bytes: 100 },
      usage: { bytes: 3, files: 1 },
    });
    expect(h.ok({ type: "setQuota", path: "/p", files: 5 })).toStrictEqual({
      dir: "/p",
      limits: { files: 5 },
      usage: { bytes: 3, files: 1 },
    });
    expect(h.fs.snapshot().quotas).toStrictEqual([{ dir: "/p", files: 5 }]);
    expect(h.ok({ type: "clearQuota", path: "/p" })).toStrictEqual({
      dir: "/p",
      limits: null,
      usage: { bytes: 3, files: 1 },
    });
    expect(h.ok({ type: "clearQuota", path: "/p" })).toMatchObject({ limits: null });
  });

  it("refusals name the path: not a top-level directory, missing, a file, no limit", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "mkdir", path: "/p/d", parents: true });
    const notTop = (path: string) => ({
      code: "BAD_REQUEST",
      message: `quotas are kept on top-level directories (/name), not on ${path}`,
      path,
    });
    expect(h.err({ type: "setQuota", path: "/p/d", files: 1 })).toEqual(notTop("/p/d"));
    expect(h.err({ type: "setQuota", path: "/", files: 1 })).toEqual(notTop("/"));
    expect(h.err({ type: "clearQuota", path: "/p/d" })).toEqual(notTop("/p/d"));
    expect(h.err({ type: "setQuota", path: "/nope", files: 1 })).toEqual({
      code: "NOT_FOUND",
      message: "/nope does not exist",
      path: "/nope",
    });
    expect(h.err({ type: "setQuota", path: "/f", files: 1 })).toEqual({
      code: "NOT_A_DIRECTORY",
      message: "/f is a file",
      path: "/f",
    });
    expect(h.err({ type: "setQuota", path: "/p" })).toEqual({
      code: "BAD_REQUEST",
      message: "a quota needs a limit on bytes, files or both",
      path: "/p",
    });
  });
});

describe("checkInvariants' usage check", () => {
  function tree(): Harness {
    const h = new Harness();
    h.ok({ type: "commit", path: "/p/f", content: bytes(3), createParents: true });
    h.ok({ type: "commit", path: "/q/g", content: bytes(2), createParents: true });
    h.ok({ type: "setQuota", path: "/p", files: 5 });
    h.fs.checkInvariants();
    return h;
  }
  const damage = (h: Harness, key: string, value: unknown) =>
    h.fs.store.commit(new Map([[key, value === null ? null : encode(value)]]), h.index);

  it("fires on a counter that is not a recount's, a counter missing, a counter for a tree using nothing", () => {
    for (const rec of [
      { b: 4, f: 1 },
      { b: 3, f: 2 },
    ]) {
      const h = tree();
      damage(h, "up", rec);
      expect(() => h.fs.checkInvariants()).toThrow("assertion failed: usage of /p matches a recount");
    }
    const counters = "assertion failed: usage: a counter for every top-level tree that uses something";
    const missing = tree();
    damage(missing, "uq", null);
    expect(() => missing.fs.checkInvariants()).toThrow(counters);
    const extra = tree();
    extra.ok({ type: "mkdir", path: "/e" });
    damage(extra, "ue", { b: 0, f: 1 });
    expect(() => extra.fs.checkInvariants()).toThrow(counters);
  });

  it("fires on a quota left on a file or on a name that is gone", () => {
    const h = tree();
    h.ok({ type: "commit", path: "/top", content: inline("x") });
    damage(h, "qtop", { f: 1 });
    expect(() => h.fs.checkInvariants()).toThrow("assertion failed: quota qtop is on a directory");
    const gone = tree();
    damage(gone, "qnone", { b: 1 });
    expect(() => gone.fs.checkInvariants()).toThrow("assertion failed: quota qnone is on a directory");
  });
});
