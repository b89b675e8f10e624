/**
 * The state digest replicas compare at the same applied index (issue 13, mutation testing of hash.ts
 * and chunk-mirror.ts). What it must do: give equal digests for equal states whatever the order keys
 * were written in, different ones for values a divergence could produce (a string split in two, a
 * number against its text, bytes against an array), refuse values that never belong in state, and stay
 * the same from one build to the next, so replicas running different builds during a rolling upgrade
 * still agree (the pinned digests below). And the leader's live chunk tables: built by an async scan
 * (a LevelDB replica) as by a sync one, and caught by checkInvariants when they drift from the store.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { snapshotPartHashes } from "../../../src/meta/state/hash.js";
import { FsState, hashValue } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { encode, garbageKey } from "../../../src/meta/state/records.js";
import { chunked, chunkId, DEFAULT_OPTS, Harness, inline } from "./helpers.js";

describe("hashValue", () => {
  it("is the same from one build to the next (pinned digests)", () => {
    const pinned: [unknown, string][] = [
      [undefined, "0578ab1be6c5f4a7"],
      [null, "05644487331fc1fe"],
      [true, "3543edc9de129958"],
      [false, "dbec035d96cb6833"],
      [0, "cc1d45d6ebecc8e5"],
      [3.5, "3788c4bf5908bafe"],
      ["", "88cdf7e6c72a4202"],
      ["héllo", "d6b71b8c9dfc363e"],
      [new Uint8Array([0, 1, 255]), "f1f919eb9db429a1"],
      [[1, "a", null], "3d31a8537ef30297"],
      [{ b: [true], a: { c: "x" } }, "4d7b2ad9a9cc9c46"],
      // Every byte of a length and of a UTF-16 code unit counts: lengths past 2^8, 2^16 and 2^24.
      ["€".repeat(70_000), "8903b158f24d9b3c"],
      [new Uint8Array(16_777_217), "31141fc5004f42f3"],
      [Array(300).fill(7), "bb57be3df856d9f2"],
    ];
    for (const [v, digest] of pinned) expect(hashValue(v), String(v)).toBe(digest);
  });

  it("tells apart values a divergence could produce", () => {
    const distinct: unknown[] = [
      undefined,
      null,
      true,
      false,
      0,
      1,
      "0",
      "1",
      "",
      "ab",
      ["a", "b"],
      ["ab"],
      [],
      [[]],
      {},
      { a: 1 },
      { a: "1" },
      { b: 1 },
      [["a", 1]],
      new Uint8Array([1]),
      [1],
      new Uint8Array([]),
      "\u0100",
      "\u0001",
      "\u0000\u0001",
      256,
      2 ** 24,
      2 ** 32,
    ];
    const digests = distinct.map((v) => hashValue(v));
    expect(new Set(digests).size).toBe(distinct.length);
  });

  it("ignores key order and keys holding undefined; -0 is 0; a JSON round trip keeps the digest (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(hashValue(JSON.parse(JSON.stringify(v)))).toBe(hashValue(v));
      }),
      { numRuns: 300 },
    );
    expect(hashValue({ a: 1, b: 2 })).toBe(hashValue({ b: 2, a: 1 }));
    expect(hashValue({ a: 1, u: undefined })).toBe(hashValue({ a: 1 }));
    expect(hashValue(-0)).toBe(hashValue(0));
  });

  it("distinct small values get distinct digests (property)", () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 2 }), fc.jsonValue({ maxDepth: 2 }), (a, b) => {
        fc.pre(JSON.stringify(a) !== JSON.stringify(b) && !(a === 0 && b === 0));
        expect(hashValue(a)).not.toBe(hashValue(b));
      }),
      { numRuns: 300 },
    );
  });

  it("refuses a function, a symbol or a bigint: none belongs in state", () => {
    for (const v of [() => 1, Symbol("s"), 1n]) {
      expect(() => hashValue(v)).toThrow(`hashValue: unsupported ${typeof v}`);
      expect(() => hashValue({ a: [v] })).toThrow(TypeError);
    }
  });

  it("each part of a snapshot has its own digest, and a change shows in its part only", () => {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: inline("x") });
    const before = snapshotPartHashes(h.fs.snapshot());
    h.apply({ type: "drainDataNode", nodeId: 1 });
    const after = snapshotPartHashes(h.fs.snapshot());
    expect(
      Object.keys(after).filter((k) => after[k as keyof typeof after] !== before[k as keyof typeof before]),
    ).toEqual(["meta", "dataNodes"]);
  });
});

describe("the leader's live chunk tables", () => {
  function populated(): Harness {
    const h = new Harness();
    h.ok({ type: "commit", path: "/f", content: chunked([1, 10], [2, 10]) });
    h.ok({ type: "commit", path: "/g", content: chunked([1, 10]) });
    h.ok({ type: "abandonChunks", chunkIds: [chunkId(3), chunkId(4)] });
    h.advance(10);
    h.ok({ type: "collectGarbage", chunkIds: [chunkId(4)], beforeMs: h.nowMs });
    return h;
  }

  it("built by an async scan (a LevelDB replica's way) equal those built by a sync one", async () => {
    const h = populated();
    const store = new MemoryStore();
    store.commit(
      new Map([...(h.fs.store as MemoryStore).scanSync({ gte: "", lt: "\uffff" })].map(([k, v]) => [k, v])),
      h.index,
    );
    const asyncState = new FsState(DEFAULT_OPTS, store);
    await asyncState.loadChunkTables();
    expect(new Map(asyncState.referencedChunks())).toEqual(
      new Map([
        [chunkId(1), 2],
        [chunkId(2), 1],
      ]),
    );
    expect(asyncState.garbageChunks()).toEqual(h.fs.garbageChunks());
    expect(asyncState.tombstones()).toEqual(h.fs.tombstones());
    expect(asyncState.tombstones().map((t) => t.chunkId)).toEqual([chunkId(4)]);
    expect(asyncState.garbageChunks().map((t) => t.chunkId)).toEqual([chunkId(3)]);
    asyncState.checkInvariants();
  });

  it("checkInvariants catches tables that drifted from the store", () => {
    const h = populated();
    expect(h.fs.garbageChunks().map((g) => g.chunkId)).toEqual([chunkId(3)]);
    // A write that bypasses apply (as a bug would) leaves the live tables behind the store.
    h.fs.store.commit(new Map([[garbageKey(chunkId(9)), encode(0)]]), h.index);
    expect(() => h.fs.checkInvariants()).toThrow("the chunk mirror's garbage match a recount");
  });
});
