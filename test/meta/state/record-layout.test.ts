/**
 * The on-disk layout of the state (issue 13, mutation testing of records.ts): the keys and the bytes
 * of the records, as the header of records.ts documents them. A replica's LevelDB store outlives the
 * build that wrote it, and replicas of two builds run side by side during an upgrade, so a key or an
 * encoding that changed would make a new build misread an old store. Pinned here: every key shape,
 * the bounds of the fixed-width ids, the records as plain MessagePack (maps, no msgpackr record
 * extension, bytes as `bin`, the smallest map header), and the tables row a store holds under "T".
 */
import { describe, expect, it } from "vitest";
import { FsState } from "../../../src/meta/state/index.js";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import {
  chunkKey,
  decode,
  encode,
  entryKey,
  entryPrefix,
  garbageKey,
  hex12,
  inodeKey,
  META_KEY,
  TABLES_KEY,
  tombstoneKey,
  versionKey,
  versionPrefix,
} from "../../../src/meta/state/records.js";
import { DEFAULT_OPTS, Harness } from "./helpers.js";

const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const fromHex = (h: string): Uint8Array => new Uint8Array(Buffer.from(h, "hex"));

describe("the key layout", () => {
  it("names every row as the layout documents", () => {
    expect(META_KEY).toBe("m");
    expect(TABLES_KEY).toBe("T");
    expect(inodeKey(1)).toBe("i000000000001");
    expect(entryPrefix(26)).toBe("e00000000001a/");
    expect(entryKey(26, "a b")).toBe("e00000000001a/a b");
    expect(versionKey(26, 3)).toBe("v00000000001a000000000003");
    expect(versionPrefix(26)).toBe("v00000000001a");
    expect(versionKey(26, 3).startsWith(versionPrefix(26))).toBe(true);
    expect(versionKey(27, 3).startsWith(versionPrefix(26))).toBe(false);
    expect(chunkKey("ab")).toBe("cab");
    expect(garbageKey("ab")).toBe("gab");
    expect(tombstoneKey("ab")).toBe("tab");
  });

  it("ids are 12 hex digits: 0 up to 2^48 - 1, and nothing else", () => {
    expect(hex12(0)).toBe("000000000000");
    expect(hex12(2 ** 48 - 1)).toBe("ffffffffffff");
    for (const bad of [-1, 2 ** 48, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53]) {
      expect(() => hex12(bad), String(bad)).toThrow("ids fit 12 hex digits");
    }
  });
});

describe("the records' bytes", () => {
  // Plain MessagePack: fixmap 0x8N, fixstr 0xaN, positive fixint, uint16 0xcd, nil 0xc0, bin8 0xc4.
  const pinned: [string, unknown, string][] = [
    ["a chunk row", { r: 2, s: 10 }, "82a17202a1730a"],
    ["an inline version", { s: 3, c: 5, d: new Uint8Array([104, 105]) }, "83a17303a16305a164c4026869"],
    [
      "the meta row",
      { a: 7, ts: 1000, ni: 3, th: null, tt: null, uq: 1 },
      "86a16107a27473cd03e8a26e6903a27468c0a27474c0a2757101",
    ],
    ["a garbage row", 1500, "cd05dc"],
  ];

  it("are written as earlier builds wrote them", () => {
    for (const [what, value, bytes] of pinned) expect(hex(encode(value)), what).toBe(bytes);
  });

  it("read back what earlier builds wrote, inline bytes as bytes", () => {
    for (const [what, value, bytes] of pinned) expect(decode(fromHex(bytes)), what).toEqual(value);
    expect(decode<{ d: unknown }>(fromHex("83a17303a16305a164c4026869")).d).toBeInstanceOf(Uint8Array);
  });
});

describe("the tables row", () => {
  it("is written under T, and a store holding one (as an earlier build wrote it) opens with its tables", () => {
    const h = new Harness();
    h.ok({ type: "registerDataNode", id: "n1", url: "http://127.0.0.1:1", zone: "z", capacityBytes: 5 });
    expect([...h.fs.tablesWrite().keys()]).toEqual(["T"]);
    const store = new MemoryStore();
    const rows = new Map((h.fs.store as MemoryStore).scanSync({ gte: "", lt: "\uffff" }));
    rows.set(
      "T",
      encode({
        locks: [],
        dataNodes: [
          {
            id: "n1",
            url: "http://127.0.0.1:1",
            zone: "z",
            capacityBytes: 5,
            registeredAtMs: 1,
            updatedAtMs: 2,
          },
        ],
        retiredDataNodes: [],
        sessions: [],
      }),
    );
    store.commit(rows, h.index);
    const reopened = new FsState(DEFAULT_OPTS, store);
    expect(reopened.dataNodes().map((n) => [n.id, n.capacityBytes, n.updatedAtMs])).toEqual([["n1", 5, 2]]);
  });
});
