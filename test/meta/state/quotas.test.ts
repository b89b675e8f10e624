/**
 * Quotas on top-level directories (src/meta/state/quotas.ts).
 *
 * The property test runs random command streams against a model: the same state machine *without*
 * quotas (restored from the state under test, its quotas stripped), plus a recount of usage from the
 * public queries (every retained version of every file, every name below a top-level directory) and
 * a plain map of limits. For each command the model applies its ops one at a time and predicts
 * QUOTA_EXCEEDED when an op raises a limited dimension past its limit; any other outcome must be the
 * quota-free machine's. After every command the state's usage counters must equal the recount.
 */
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { type ApplyResult, FsState, type FsStateOptions } from "../../../src/meta/state/index.js";
import { Harness, hashOf, inline } from "./helpers.js";

const OPTS: FsStateOptions = { versionsRetained: 2, sessionTimeoutMs: 1_000_000 };

interface Usage {
  bytes: number;
  files: number;
}
interface Limits {
  bytes?: number;
  files?: number;
}

/** Usage per top-level name, recounted from what `list` and `versions` show. */
function recount(fs: FsState): Map<string, Usage> {
  const out = new Map<string, Usage>();
  const walk = (dir: string, top: string): void => {
    for (const e of fs.list(dir)) {
      const u = out.get(top) ?? { bytes: 0, files: 0 };
      u.files++;
      if (e.type === "file") for (const v of fs.versions(e.path)) u.bytes += v.sizeBytes;
      out.set(top, u);
      if (e.type === "dir") walk(e.path, top);
    }
  };
  for (const e of fs.list("/")) if (e.type === "dir") walk(e.path, e.path.slice(1));
  return out;
}

const usageOf = (m: Map<string, Usage>, top: string): Usage => m.get(top) ?? { bytes: 0, files: 0 };

const NAMES = ["a", "b", "c"] as const;
const pathOf = (names: readonly string[]) =>
  fc.array(fc.constantFrom(...names), { minLength: 1, maxLength: 3 }).map((s) => `/${s.join("/")}`);
const pathArb = pathOf(NAMES);
/** Renames and deletes also reach names that writes never create, so top-level names come free. */
const widePathArb = pathOf([...NAMES, "d", "e"]);
const topArb = fc.constantFrom(...NAMES, "d").map((n) => `/${n}`);
const dataArb = fc.integer({ min: 0, max: 30 }).map((n) => ({ kind: "inline", data: new Uint8Array(n) }));

const nsOpArb = fc.oneof(
  { weight: 2, arbitrary: fc.record({ type: fc.constant("mkdir"), path: pathArb, parents: fc.boolean() }) },
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constant("commit"),
      path: pathArb,
      content: dataArb,
      createParents: fc.boolean(),
    }),
  },
  { weight: 2, arbitrary: fc.record({ type: fc.constant("rename"), from: widePathArb, to: widePathArb }) },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant("delete"), path: widePathArb, recursive: fc.boolean() }),
  },
);

type Op = Record<string, unknown> & { type: string };
const commandArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: nsOpArb as fc.Arbitrary<Op> },
  {
    weight: 1,
    arbitrary: fc
      .array(nsOpArb, { minLength: 1, maxLength: 3 })
      .map((ops) => ({ type: "txn", conditions: [], ops })),
  },
  {
    weight: 2,
    arbitrary: fc
      .record(
        {
          path: topArb,
          bytes: fc.integer({ min: 0, max: 80 }),
          files: fc.integer({ min: 0, max: 5 }),
        },
        { requiredKeys: ["path"] },
      )
      .map((q) => ({ type: "setQuota", ...q })),
  },
  { weight: 1, arbitrary: topArb.map((path) => ({ type: "clearQuota", path })) },
);

/** Runs `op` alone on `fs` as the next entry, through a session of its own. */
function applyAlone(fs: FsState, op: Op): ApplyResult {
  let index = fs.lastAppliedIndex;
  const opened = fs.apply({
    index: ++index,
    timestampMs: 0,
    command: { type: "openSession", secretHash: hashOf(index) },
  });
  expect(opened.ok).toBe(true);
  const session = { id: index, seq: 1, ackedSeq: 0, secretHash: hashOf(index) };
  return fs.apply({ index: ++index, timestampMs: 0, command: { ...op, session } as never });
}

const top = (path: string): { name: string; self: boolean } => {
  const parts = path.slice(1).split("/");
  return { name: parts[0] as string, self: parts.length === 1 };
};

/**
 * The model's verdict on a namespace command, and the limits after it. Limits follow a top-level
 * directory renamed to another top-level name and vanish with it when it is deleted or moved down.
 */
function predict(
  state: FsState,
  limits: ReadonlyMap<string, Limits>,
  cmd: Op,
): { ok: boolean; code?: string; limits: Map<string, Limits> } {
  const free = FsState.restore({ ...state.snapshot(), quotas: [] }, OPTS);
  const next = new Map(limits);
  const ops = cmd.type === "txn" ? (cmd.ops as Op[]) : [cmd];
  for (const op of ops) {
    const before = recount(free);
    const r = applyAlone(free, op);
    if (!r.ok) return { ok: false, code: r.error.code, limits: new Map(limits) };
    const after = recount(free);
    if (op.type === "rename") {
      const [from, to] = [top(op.from as string), top(op.to as string)];
      const lim = next.get(from.name);
      if (from.self && lim !== undefined) {
        next.delete(from.name);
        if (to.self) next.set(to.name, lim);
        if (to.self) before.set(to.name, usageOf(before, from.name));
      }
    }
    if (op.type === "delete" && top(op.path as string).self) next.delete(top(op.path as string).name);
    for (const [name, lim] of next) {
      const [b, a] = [usageOf(before, name), usageOf(after, name)];
      if (
        (lim.files !== undefined && a.files > b.files && a.files > lim.files) ||
        (lim.bytes !== undefined && a.bytes > b.bytes && a.bytes > lim.bytes)
      ) {
        return { ok: false, code: "QUOTA_EXCEEDED", limits: new Map(limits) };
      }
    }
  }
  return { ok: true, limits: next };
}

function checkAgainstModel(fs: FsState, limits: ReadonlyMap<string, Limits>): void {
  fs.checkInvariants();
  const usage = recount(fs);
  for (const e of fs.list("/")) {
    if (e.type !== "dir") continue;
    const name = e.path.slice(1);
    const q = fs.quota(e.path);
    expect(q.usage, `usage of ${e.path}`).toEqual(usageOf(usage, name));
    expect(q.limits ?? undefined, `limits of ${e.path}`).toEqual(limits.get(name));
  }
  for (const name of limits.keys()) expect(fs.stat(`/${name}`).type).toBe("dir");
}

describe("quotas", () => {
  test("usage equals a recount and every verdict is the model's, after any command stream (property)", () => {
    fc.assert(
      fc.property(fc.array(commandArb, { minLength: 1, maxLength: 25 }), (cmds) => {
        const h = new Harness(OPTS);
        let limits = new Map<string, Limits>();
        for (const cmd of cmds) {
          if (cmd.type === "setQuota" || cmd.type === "clearQuota") {
            const path = cmd.path as string;
            const node = h.fs.list("/").find((e) => e.path === path);
            const r = h.send(cmd);
            const noLimit = cmd.type === "setQuota" && cmd.bytes === undefined && cmd.files === undefined;
            const expected =
              node === undefined
                ? "NOT_FOUND"
                : node.type === "file"
                  ? "NOT_A_DIRECTORY"
                  : noLimit
                    ? "BAD_REQUEST"
                    : undefined;
            expect(r.ok ? undefined : r.error.code, `${cmd.type} ${path}`).toBe(expected);
            if (r.ok) {
              limits = new Map(limits);
              if (cmd.type === "clearQuota") limits.delete(path.slice(1));
              else {
                const { bytes, files } = cmd as Limits;
                limits.set(path.slice(1), {
                  ...(bytes !== undefined && { bytes }),
                  ...(files !== undefined && { files }),
                });
              }
            }
          } else {
            const want = predict(h.fs, limits, cmd);
            const r = h.send(cmd);
            expect(r.ok ? "ok" : r.error.code, JSON.stringify(cmd)).toBe(want.ok ? "ok" : want.code);
            if (r.ok) limits = want.limits;
          }
          checkAgainstModel(h.fs, limits);
        }
        const restored = FsState.restore(h.fs.snapshot(), OPTS);
        checkAgainstModel(restored, limits);
      }),
      { numRuns: 2000 },
    );
  });
});

describe("quotas (examples)", () => {
  test("a commit past the byte limit is QUOTA_EXCEEDED and changes nothing; retained versions count", () => {
    const h = new Harness({ versionsRetained: 2 });
    h.ok({ type: "mkdir", path: "/p" });
    expect(h.ok({ type: "setQuota", path: "/p", bytes: 10 })).toEqual({
      dir: "/p",
      limits: { bytes: 10 },
      usage: { bytes: 0, files: 0 },
    });
    h.ok({ type: "commit", path: "/p/f", content: inline("12345") });
    // Version 1 (5 bytes) stays retained: 5 + 6 > 10.
    const e = h.err({ type: "commit", path: "/p/f", content: inline("123456") });
    expect(e).toMatchObject({ code: "QUOTA_EXCEEDED", dir: "/p", path: "/p/f" });
    expect(h.fs.versions("/p/f")).toHaveLength(1);
    h.ok({ type: "commit", path: "/p/f", content: inline("12345") });
    // Now version 1 drops out as version 3 comes in: 5 + 5 ≤ 10.
    h.ok({ type: "commit", path: "/p/f", content: inline("12345") });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 10, files: 1 });
  });

  test("a tree already over a limit (set below its usage) refuses only what raises that dimension", () => {
    const h = new Harness({ versionsRetained: 1 });
    h.ok({ type: "commit", path: "/p/a", content: inline("0123456789"), createParents: true });
    h.ok({ type: "commit", path: "/p/b", content: inline("0123456789") });
    // Over both limits at once: 20 bytes against 5, 2 names against 1.
    h.ok({ type: "setQuota", path: "/p", bytes: 5, files: 1 });
    // No more bytes: an empty directory is refused for its name, not for bytes it does not add...
    expect(h.err({ type: "mkdir", path: "/p/d" })).toMatchObject({ code: "QUOTA_EXCEEDED" });
    h.ok({ type: "setQuota", path: "/p", bytes: 5 });
    h.ok({ type: "mkdir", path: "/p/d" });
    // ...a shorter version of a file lowers the bytes and adds no name...
    h.ok({ type: "setQuota", path: "/p", bytes: 5, files: 1 });
    h.ok({ type: "commit", path: "/p/a", content: inline("01") });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 12, files: 3 });
    // ...and a delete, which lowers both, is always taken.
    h.ok({ type: "delete", path: "/p/b" });
    h.ok({ type: "delete", path: "/p/d" });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 2, files: 1 });
  });

  test("a name limit refuses mkdir and a rename into the tree, not one out of it; quotas go with their directory", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/p/d", parents: true });
    h.ok({ type: "commit", path: "/q/x", content: inline("abc"), createParents: true });
    h.ok({ type: "setQuota", path: "/p", files: 1 });
    expect(h.err({ type: "mkdir", path: "/p/e" }).code).toBe("QUOTA_EXCEEDED");
    expect(h.err({ type: "rename", from: "/q/x", to: "/p/x" }).code).toBe("QUOTA_EXCEEDED");
    h.ok({ type: "rename", from: "/p/d", to: "/q/d" });
    h.ok({ type: "rename", from: "/q/x", to: "/p/x" });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 3, files: 1 });
    h.ok({ type: "rename", from: "/p", to: "/r" });
    expect(h.fs.quota("/r")).toEqual({ dir: "/r", limits: { files: 1 }, usage: { bytes: 3, files: 1 } });
    h.ok({ type: "delete", path: "/r", recursive: true });
    h.ok({ type: "mkdir", path: "/r" });
    expect(h.fs.quota("/r").limits).toBeNull();
  });

  test("a txn that would exceed a quota applies nothing", () => {
    const h = new Harness();
    h.ok({ type: "mkdir", path: "/p" });
    h.ok({ type: "setQuota", path: "/p", files: 2 });
    const ops = [
      { type: "commit", path: "/p/a", content: inline("") },
      { type: "commit", path: "/p/b", content: inline("") },
      { type: "commit", path: "/p/c", content: inline("") },
    ];
    expect(h.err({ type: "txn", conditions: [], ops })).toMatchObject({ code: "QUOTA_EXCEEDED", opIndex: 2 });
    expect(h.fs.list("/p")).toEqual([]);
  });

  test("a store without usage counters (written before quotas) takes deletes without crashing", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/old/f", content: inline("abc"), createParents: true });
    // As a store from before quotas: the namespace without its counter.
    h.fs.store.commit(new Map([["uold", null]]), h.index);
    h.ok({ type: "delete", path: "/old/f" });
    expect(h.fs.quota("/old").usage).toEqual({ bytes: 0, files: 0 });
  });

  test("quotas live on existing top-level directories only", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    h.ok({ type: "mkdir", path: "/p/d", parents: true });
    expect(h.err({ type: "setQuota", path: "/p/d", files: 1 }).code).toBe("BAD_REQUEST");
    expect(h.err({ type: "setQuota", path: "/f", files: 1 }).code).toBe("NOT_A_DIRECTORY");
    expect(h.err({ type: "setQuota", path: "/nope", files: 1 }).code).toBe("NOT_FOUND");
    expect(h.err({ type: "setQuota", path: "/p" }).code).toBe("BAD_REQUEST");
    expect(() => h.fs.quota("/")).toThrow(/top-level/);
  });
});
