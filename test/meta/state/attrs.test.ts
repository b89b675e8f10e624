/**
 * POSIX attributes kept by the state machine: defaults, what create and mkdir set, setAttrs (chmod,
 * chown, utimens), records written before attributes existed, and snapshots carrying them.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MAX_ID, parseNodeAttrs, parseSetAttrsFields } from "../../../src/meta/state/attrs.js";
import { FsState } from "../../../src/meta/state/index.js";
import { decode, encode, type InodeRec } from "../../../src/meta/state/records.js";
import { DEFAULT_OPTS, Harness, inline } from "./helpers.js";

const RUNS = { numRuns: 300 };

describe("attributes", () => {
  it("a new file and directory read with the defaults, ctime at the entry's time", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    h.ok({ type: "commit", path: "/d/f", content: inline("x") });
    expect(h.fs.stat("/d")).toMatchObject({ mode: 0o755, uid: 0, gid: 0, changedAtMs: h.nowMs });
    expect(h.fs.stat("/d/f")).toMatchObject({ mode: 0o644, uid: 0, gid: 0, changedAtMs: h.nowMs });
  });

  it("mkdir and a creating commit take the caller's attributes; a later commit keeps them", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/a/b", parents: true, attrs: { mode: 0o700, uid: 1000, gid: 100 } });
    expect(h.fs.stat("/a/b")).toMatchObject({ mode: 0o700, uid: 1000, gid: 100 });
    // Missing ancestors made on the way get the defaults, as `mkdir -p` with a umask would not care.
    expect(h.fs.stat("/a")).toMatchObject({ mode: 0o755, uid: 0, gid: 0 });
    h.ok({ type: "commit", path: "/a/f", content: inline("1"), attrs: { mode: 0o600, uid: 7, gid: 8 } });
    h.advance(10);
    h.ok({ type: "commit", path: "/a/f", content: inline("2"), attrs: { mode: 0o777, uid: 1, gid: 1 } });
    expect(h.fs.stat("/a/f")).toMatchObject({
      mode: 0o600,
      uid: 7,
      gid: 8,
      version: 2,
      changedAtMs: h.nowMs,
    });
  });

  it("setAttrs sets the fields given, moves ctime, and keeps the version and the rest", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const before = h.fs.stat("/f");
    h.advance(5_000);
    const r = h.send({ type: "setAttrs", path: "/f", mode: 0o4750 });
    expect(r.ok && r.changes).toEqual([{ index: h.index, path: "/f", kind: "attrs" }]);
    expect(h.fs.stat("/f")).toEqual({ ...before, mode: 0o4750, changedAtMs: h.nowMs });
    h.ok({ type: "setAttrs", path: "/f", uid: 1000, gid: 50, mtimeMs: 86_400_000 });
    expect(h.fs.stat("/f")).toEqual({
      ...before,
      mode: 0o4750,
      uid: 1000,
      gid: 50,
      modifiedAtMs: 86_400_000,
      changedAtMs: h.nowMs,
    });
  });

  it("setAttrs on a missing path is NOT_FOUND; bad values are BAD_REQUEST; neither changes anything", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    const hash = h.fs.partHashes().namespace;
    expect(h.err({ type: "setAttrs", path: "/nope", mode: 0o600 }).code).toBe("NOT_FOUND");
    for (const bad of [{ mode: 0o10000 }, { mode: -1 }, { uid: 1.5 }, { gid: "0" }, { mtimeMs: -1 }]) {
      expect(h.err({ type: "setAttrs", path: "/d", ...bad }).code).toBe("BAD_REQUEST");
    }
    expect(h.err({ type: "mkdir", path: "/e", attrs: { mode: 0o700 } }).code).toBe("BAD_REQUEST");
    expect(h.fs.partHashes().namespace).toBe(hash);
  });

  it("a record written before attributes existed reads with the defaults", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/old", content: inline("x") });
    h.advance(100);
    h.ok({ type: "commit", path: "/old", content: inline("y") });
    // Strip the attribute fields, as a record of the previous release has none.
    const key = [
      ...(h.fs.store as unknown as { scanSync: (r: object) => Iterable<[string, Uint8Array]> }).scanSync({
        gte: "i",
        lt: "j",
      }),
    ].find(([, v]) => decode<InodeRec>(v).t === "f")?.[0];
    expect(key).toBeDefined();
    const { md: _m, u: _u, g: _g, ct: _c, ...rest } = decode<InodeRec>(h.fs.store.get(key!)!);
    h.fs.store.commit(new Map([[key!, encode(rest)]]), h.index);
    expect(h.fs.stat("/old")).toMatchObject({ mode: 0o644, uid: 0, gid: 0, changedAtMs: h.nowMs });
    h.ok({ type: "setAttrs", path: "/old", mode: 0o600 });
    expect(h.fs.stat("/old")).toMatchObject({ mode: 0o600, uid: 0, gid: 0 });
  });

  it("property: the last value of each field wins, ctime is the last change, snapshots keep them", () => {
    const change = fc.record(
      {
        mode: fc.integer({ min: 0, max: 0o7777 }),
        uid: fc.integer({ min: 0, max: 0xfffffffe }),
        gid: fc.integer({ min: 0, max: 0xfffffffe }),
        mtimeMs: fc.integer({ min: 0, max: 2 ** 42 }),
      },
      { requiredKeys: [] },
    );
    const step = fc.record({ target: fc.constantFrom("/f", "/d"), change, gapMs: fc.nat(10_000) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 20 }), (steps) => {
        const h = new Harness();
        h.ok({ type: "mkdir", path: "/d" });
        h.ok({ type: "commit", path: "/f", content: inline("x") });
        const model = new Map(["/f", "/d"].map((p) => [p, { ...h.fs.stat(p) } as Record<string, unknown>]));
        for (const s of steps) {
          h.advance(s.gapMs);
          h.ok({ type: "setAttrs", path: s.target, ...s.change });
          const m = model.get(s.target)!;
          const { mtimeMs, ...rest } = s.change;
          Object.assign(m, rest, { changedAtMs: h.nowMs });
          if (mtimeMs !== undefined) m.modifiedAtMs = mtimeMs;
        }
        for (const [p, m] of model) expect(h.fs.stat(p)).toEqual(m);
        const restored = FsState.restore(h.fs.snapshot(), DEFAULT_OPTS);
        expect(restored.stateHash()).toBe(h.fs.stateHash());
        for (const [p, m] of model) expect(restored.stat(p)).toEqual(m);
      }),
      RUNS,
    );
  });
});

describe("attributes folded into a commit (setAttrs on the commit: tar's chmod/chown/utimens before close)", () => {
  const opt = (max: number) => fc.option(fc.integer({ min: 0, max }), { nil: undefined });
  const change = fc
    .record({ mode: opt(0o7777), uid: opt(MAX_ID), gid: opt(MAX_ID), mtimeMs: opt(2 ** 45) })
    .map((c) => Object.fromEntries(Object.entries(c).filter(([, v]) => v !== undefined)));

  it("property: one commit carrying the change ends as the commit then setAttrs would, new file or not", () => {
    fc.assert(
      fc.property(fc.boolean(), change, fc.string({ maxLength: 20 }), (exists, c, bytes) => {
        const attrs = { mode: 0o640, uid: 5, gid: 6 };
        const folded = new Harness();
        const separate = new Harness();
        for (const h of [folded, separate]) {
          if (exists) h.ok({ type: "commit", path: "/f", content: inline("old"), attrs });
          h.advance(1_000);
        }
        const r = folded.send({ type: "commit", path: "/f", content: inline(bytes), attrs, setAttrs: c });
        separate.ok({ type: "commit", path: "/f", content: inline(bytes), attrs });
        if (Object.keys(c).length > 0) separate.ok({ type: "setAttrs", path: "/f", ...c });
        expect(folded.fs.stat("/f")).toEqual(separate.fs.stat("/f"));
        // One entry, and the change feed names it as the commit (watchers see a new version).
        expect(r.ok && r.changes).toEqual([
          { index: folded.index, path: "/f", kind: exists ? "commit" : "create", version: exists ? 2 : 1 },
        ]);
      }),
      RUNS,
    );
  });

  it("a bad field in a commit's setAttrs is BAD_REQUEST and commits nothing", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const hash = h.fs.partHashes().namespace;
    for (const bad of [{ mode: 0o10000 }, { uid: -1 }, { mtimeMs: 1.5 }, 7, [1]]) {
      expect(h.err({ type: "commit", path: "/f", content: inline("y"), setAttrs: bad }).code).toBe(
        "BAD_REQUEST",
      );
    }
    expect(h.fs.partHashes().namespace).toBe(hash);
  });
});

// Written from the survivors of `npx stryker run --mutate src/meta/state/attrs.ts` (bench/RESULTS.md).
describe("attribute parsing and setAttrs answers", () => {
  it("the node attrs of a mkdir or commit: an object with all three fields, each named when bad", () => {
    const full = { mode: 0o644, uid: 1000, gid: 100 };
    expect(parseNodeAttrs({})).toStrictEqual({});
    expect(parseNodeAttrs({ attrs: full })).toStrictEqual({ attrs: full });
    for (const attrs of ["rw", 7, null, [0o644, 1, 1]]) {
      expect(() => parseNodeAttrs({ attrs })).toThrow(
        expect.objectContaining({ code: "BAD_REQUEST", message: "attrs must be an object" }),
      );
    }
    for (const key of ["mode", "uid", "gid"] as const) {
      const { [key]: _gone, ...partial } = full;
      expect(() => parseNodeAttrs({ attrs: partial })).toThrow("attrs needs mode, uid and gid");
    }
    expect(() => parseNodeAttrs({ attrs: { ...full, uid: "1" } })).toThrow(
      `uid must be an integer in [0, ${MAX_ID}]`,
    );
  });

  it("setAttrs' fields: exactly those given (property)", () => {
    const opt = (max: number) => fc.option(fc.integer({ min: 0, max }), { nil: undefined });
    fc.assert(
      fc.property(
        fc.record({ mode: opt(0o7777), uid: opt(MAX_ID), gid: opt(MAX_ID), mtimeMs: opt(2 ** 45) }),
        (o) => {
          const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
          expect(parseSetAttrsFields(o)).toStrictEqual(given);
        },
      ),
    );
  });

  it("setAttrs answers with its path, names a missing one, and is fenced by another's lock", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/d" });
    expect(h.ok({ type: "setAttrs", path: "/d", mode: 0o700 })).toStrictEqual({ path: "/d" });
    expect(h.err({ type: "setAttrs", path: "/nope", mode: 0o600 })).toEqual({
      code: "NOT_FOUND",
      message: "/nope does not exist",
      path: "/nope",
    });
    const other = h.openSession();
    h.ok({ type: "lockAcquire", path: "/d", mode: "exclusive", ttlMs: 5000, owner: "o" }, other);
    expect(h.err({ type: "setAttrs", path: "/d", mode: 0o755 }).code).toBe("LOCKED");
  });

  it("a listing's entries carry what stat says of each: type, size, version, times, mode, owner, ino (property)", () => {
    const opt = (max: number) => fc.option(fc.integer({ min: 0, max }), { nil: undefined });
    const node = fc.record({
      dir: fc.boolean(),
      attrs: fc.record({ mode: fc.integer({ min: 0, max: 0o7777 }), uid: opt(MAX_ID), gid: opt(MAX_ID) }),
      later: fc.option(fc.record({ mode: opt(0o7777), uid: opt(MAX_ID), mtimeMs: opt(2 ** 45) }), {
        nil: undefined,
      }),
      bytes: fc.string({ maxLength: 20 }),
    });
    fc.assert(
      fc.property(fc.array(node, { maxLength: 8 }), (nodes) => {
        const h = new Harness();
        h.ok({ type: "mkdir", path: "/d" });
        for (const [i, n] of nodes.entries()) {
          const path = `/d/n${i}`;
          const attrs = { mode: n.attrs.mode, uid: n.attrs.uid ?? 0, gid: n.attrs.gid ?? 0 };
          if (n.dir) h.ok({ type: "mkdir", path, attrs });
          else h.ok({ type: "commit", path, content: inline(n.bytes), attrs });
          h.advance(7);
          const later = Object.fromEntries(Object.entries(n.later ?? {}).filter(([, v]) => v !== undefined));
          if (Object.keys(later).length > 0) h.ok({ type: "setAttrs", path, ...later });
        }
        const listed = h.fs.list("/d");
        expect(listed.map((e) => e.name)).toEqual(nodes.map((_, i) => `n${i}`).sort());
        for (const e of listed) {
          const { createdAtMs: _c, lock: _l, ...st } = h.fs.stat(e.path);
          expect(e).toStrictEqual({ ...st, name: e.name });
        }
      }),
      RUNS,
    );
  });
});
