import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness, inline, recountChunks } from "./helpers.js";

describe("dropVersion", () => {
  it("drops a middle version: the others stay readable, its chunks become garbage", () => {
    const h = new Harness({ versionsRetained: 5 });
    for (let i = 1; i <= 3; i++) h.ok({ type: "commit", path: "/f", content: chunked([i, 10]) });
    expect(h.ok({ type: "dropVersion", path: "/f", version: 2 })).toEqual({
      version: 2,
      removed: false,
      latest: 3,
    });
    expect(h.fs.versions("/f").map((v) => v.version)).toEqual([1, 3]);
    expect(h.fs.readVersion("/f", 1).content).toEqual(chunked([1, 10]));
    expect(() => h.fs.readVersion("/f", 2)).toThrow(/no retained version 2/);
    expect(h.fs.garbageChunks().map((g) => g.chunkId)).toEqual([chunkId(2)]);
    expect(h.fs.stat("/f").version).toBe(3);
    h.fs.checkInvariants();
  });

  it("drops the latest: the one below is the latest, and its number is never given again", () => {
    const h = new Harness({ versionsRetained: 5 });
    h.ok({ type: "commit", path: "/f", content: inline("a") });
    h.ok({ type: "commit", path: "/f", content: inline("bb") });
    h.ok({ type: "dropVersion", path: "/f", version: 2 });
    expect(h.fs.stat("/f")).toMatchObject({ version: 1, sizeBytes: 1 });
    // Compare-and-set sees the latest retained version; the next commit is numbered 3.
    expect(h.err({ type: "commit", path: "/f", content: inline("c"), expectedVersion: 2 }).code).toBe(
      "VERSION_MISMATCH",
    );
    expect(h.ok({ type: "commit", path: "/f", content: inline("c"), expectedVersion: 1 })).toEqual({
      version: 3,
    });
    expect(h.fs.versions("/f").map((v) => v.version)).toEqual([1, 3]);
    h.fs.checkInvariants();
  });

  it("drops the last retained version with the file, and refuses what is not there", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/d/f", content: chunked([7, 5]), createParents: true });
    expect(h.err({ type: "dropVersion", path: "/d/f", version: 2 })).toMatchObject({
      code: "NOT_FOUND",
      latest: 1,
    });
    expect(h.err({ type: "dropVersion", path: "/d", version: 1 }).code).toBe("IS_A_DIRECTORY");
    expect(h.err({ type: "dropVersion", path: "/nope", version: 1 }).code).toBe("NOT_FOUND");
    const r = h.send({ type: "dropVersion", path: "/d/f", version: 1 });
    expect(r).toMatchObject({ ok: true, value: { version: 1, removed: true } });
    expect(r.changes).toEqual([{ index: h.index, path: "/d/f", kind: "delete" }]);
    expect(() => h.fs.stat("/d/f")).toThrow(/does not exist/);
    expect(h.fs.garbageChunks().map((g) => g.chunkId)).toEqual([chunkId(7)]);
    h.fs.checkInvariants();
  });

  it("is fenced by a lock on the file like a delete", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("a") });
    h.ok({ type: "commit", path: "/f", content: inline("b") });
    const other = h.openSession();
    h.ok({ type: "lockAcquire", path: "/f", mode: "exclusive", ttlMs: 5000, owner: "o" }, other);
    expect(h.err({ type: "dropVersion", path: "/f", version: 1 }).code).toBe("LOCKED");
  });

  it("retention counts retained versions, not the span of their numbers", () => {
    const h = new Harness({ versionsRetained: 3 });
    for (let i = 1; i <= 3; i++) h.ok({ type: "commit", path: "/f", content: inline(String(i)) });
    h.ok({ type: "dropVersion", path: "/f", version: 2 });
    h.ok({ type: "commit", path: "/f", content: inline("4") });
    expect(h.fs.versions("/f").map((v) => v.version)).toEqual([1, 3, 4]);
    h.ok({ type: "commit", path: "/f", content: inline("5") });
    expect(h.fs.versions("/f").map((v) => v.version)).toEqual([3, 4, 5]);
    h.fs.checkInvariants();
  });

  it("matches a model under any mix of commits and drops, and survives snapshot/restore (property)", () => {
    const step = fc.oneof(
      fc.record({ kind: fc.constant("commit" as const), chunk: fc.integer({ min: 1, max: 6 }) }),
      fc.record({ kind: fc.constant("drop" as const), pick: fc.nat(20) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(step, { maxLength: 40 }), (retained, steps) => {
        const h = new Harness({ versionsRetained: retained });
        let model: { version: number; chunk: number }[] = [];
        let top = 0;
        for (const s of steps) {
          if (s.kind === "commit") {
            h.ok({ type: "commit", path: "/f", content: chunked([s.chunk, s.chunk]) });
            top++;
            model.push({ version: top, chunk: s.chunk });
            model = model.slice(-retained);
          } else if (model.length > 0) {
            const target = model[s.pick % model.length]!.version;
            h.ok({ type: "dropVersion", path: "/f", version: target });
            model = model.filter((m) => m.version !== target);
            // The file goes with its last version; a new one starts again at 1.
            if (model.length === 0) top = 0;
          } else {
            expect(h.err({ type: "dropVersion", path: "/f", version: s.pick + 1 }).code).toBe("NOT_FOUND");
          }
          h.fs.checkInvariants();
          if (model.length === 0) expect(() => h.fs.stat("/f")).toThrow(/does not exist/);
          else {
            expect(h.fs.versions("/f").map((v) => v.version)).toEqual(model.map((m) => m.version));
            expect(h.fs.stat("/f").version).toBe(model.at(-1)!.version);
            for (const m of model)
              expect(h.fs.readVersion("/f", m.version).content).toEqual(chunked([m.chunk, m.chunk]));
          }
          expect(new Map(h.fs.referencedChunks())).toEqual(recountChunks(h.fs));
        }
        const restored = FsState.restore(h.fs.snapshot(), { ...DEFAULT_OPTS, versionsRetained: retained });
        expect(restored.stateHash()).toBe(h.fs.stateHash());
        restored.checkInvariants();
        if (model.length > 0) {
          // The restored state numbers the next version as the original does.
          const next = { index: h.index + 1, timestampMs: h.nowMs };
          const cmd = (s: number) => ({
            type: "commit",
            path: "/f",
            content: chunked([9, 9]),
            session: h.ref(h.session, s, s - 1),
          });
          const seq = h.nextSeq(h.session);
          const a = h.fs.apply({ ...next, command: cmd(seq) as never });
          const b = restored.apply({ ...next, command: cmd(seq) as never });
          expect(b).toEqual(a);
        }
      }),
      { numRuns: 300 },
    );
  });
});

// Written from the survivors of `npx stryker run --mutate src/meta/state/drop-version.ts` (bench/RESULTS.md).
describe("dropVersion answers", () => {
  it("errors name the path and, for a missing version, the retained range", () => {
    const h = new Harness({ versionsRetained: 5 });
    for (let i = 1; i <= 4; i++)
      h.ok({ type: "commit", path: "/d/f", content: inline(String(i)), createParents: true });
    h.ok({ type: "dropVersion", path: "/d/f", version: 1 });
    h.ok({ type: "dropVersion", path: "/d/f", version: 3 });
    expect(h.err({ type: "dropVersion", path: "/nope", version: 1 })).toEqual({
      code: "NOT_FOUND",
      message: "/nope does not exist",
      path: "/nope",
    });
    expect(h.err({ type: "dropVersion", path: "/d", version: 1 })).toEqual({
      code: "IS_A_DIRECTORY",
      message: "/d is a directory",
      path: "/d",
    });
    // Below the range, above it, and the gap a drop left: each refused, nothing changed.
    for (const version of [1, 5, 3]) {
      expect(h.err({ type: "dropVersion", path: "/d/f", version })).toEqual({
        code: "NOT_FOUND",
        message: `/d/f has no retained version ${version}`,
        path: "/d/f",
        version,
        oldestRetained: 2,
        latest: 4,
      });
    }
    expect(h.fs.versions("/d/f").map((v) => v.version)).toEqual([2, 4]);
  });

  it("reports a change only when the latest version changed", () => {
    const h = new Harness({ versionsRetained: 5 });
    for (let i = 1; i <= 3; i++) h.ok({ type: "commit", path: "/f", content: inline(String(i)) });
    expect(h.send({ type: "dropVersion", path: "/f", version: 2 }).changes).toEqual([]);
    expect(h.send({ type: "dropVersion", path: "/f", version: 1 }).changes).toEqual([]);
    h.ok({ type: "commit", path: "/f", content: inline("4") });
    const r = h.send({ type: "dropVersion", path: "/f", version: 4 });
    expect(r.changes).toEqual([{ index: h.index, path: "/f", kind: "commit", version: 3 }]);
  });

  it("gives the dropped version's bytes back to the quota", () => {
    const h = new Harness({ versionsRetained: 5 });
    h.ok({ type: "mkdir", path: "/p" });
    h.ok({ type: "setQuota", path: "/p", bytes: 100 });
    h.ok({ type: "commit", path: "/p/f", content: inline("aaaa") });
    h.ok({ type: "commit", path: "/p/f", content: inline("bb") });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 6, files: 1 });
    h.ok({ type: "dropVersion", path: "/p/f", version: 1 });
    expect(h.fs.quota("/p").usage).toEqual({ bytes: 2, files: 1 });
  });
});
