/**
 * What the in-memory store's scans cost (issue 13, mutation testing of memory-store.ts), as its header
 * promises: a scan after writes that added no key rebuilds nothing, deleted keys stay in the sorted list
 * until they are more than half of it and are dropped at the next scan past that, and a rebuild keeps
 * only live keys. The simulator and every unit test scan through this store, so a scan that rebuilt the
 * list each time, or a list that never shed its deleted keys, would make them quadratic. The results of
 * scans are the property in store.test.ts; here the cost is counted through the store's private map
 * (a white-box test: `has` is called once per key a rebuild visits, `get` once per key a scan visits).
 *
 * And the two guards of store.ts: which stores count as scanning synchronously, and an overlay that
 * refuses to merge into itself (it would clear the writes it holds).
 */
import { describe, expect, it } from "vitest";
import { MemoryStore } from "../../../src/meta/state/memory-store.js";
import { hasSyncScan, Overlay, type StateStore, type WriteSet } from "../../../src/meta/state/store.js";

const ALL = { gte: "", lt: "\uffff" };
const key = (i: number): string => `k${String(i).padStart(3, "0")}`;
const bytes = new Uint8Array([1]);

/** A store with the counts of its map's lookups. */
function counted(): { store: MemoryStore; gets: () => number; hases: () => number; reset: () => void } {
  const store = new MemoryStore();
  const map = (store as unknown as { map: Map<string, Uint8Array> }).map;
  let gets = 0;
  let hases = 0;
  const get = map.get.bind(map);
  const has = map.has.bind(map);
  map.get = (k) => {
    gets++;
    return get(k);
  };
  map.has = (k) => {
    hases++;
    return has(k);
  };
  return {
    store,
    gets: () => gets,
    hases: () => hases,
    reset: () => {
      gets = 0;
      hases = 0;
    },
  };
}

function put(store: MemoryStore, keys: string[], index: number): void {
  store.commit(new Map(keys.map((k) => [k, bytes])), index);
}

function del(store: MemoryStore, keys: string[], index: number): void {
  store.commit(new Map(keys.map((k): [string, null] => [k, null])), index);
}

const scanned = (store: MemoryStore): string[] => [...store.scanSync(ALL)].map(([k]) => k);

describe("the in-memory store's scan cost", () => {
  it("a scan after no new key rebuilds nothing: not after a scan, not after overwrites", () => {
    const c = counted();
    const keys = Array.from({ length: 10 }, (_, i) => key(i));
    put(c.store, keys, 1);
    expect(scanned(c.store)).toEqual(keys);
    c.reset();
    expect(scanned(c.store)).toEqual(keys);
    expect(c.hases()).toBe(0);
    put(c.store, keys.slice(0, 5), 2); // overwrites only: the list already holds them
    c.reset();
    expect(scanned(c.store)).toEqual(keys);
    expect(c.hases()).toBe(0);
    expect(c.gets()).toBe(10);
  });

  it("keeps deleted keys while they are at most half of the list, then drops them at the next scan", () => {
    const c = counted();
    const keys = Array.from({ length: 100 }, (_, i) => key(i));
    put(c.store, keys, 1);
    scanned(c.store);
    del(c.store, keys.slice(0, 50), 2); // exactly half: kept, skipped by the scan
    c.reset();
    expect(scanned(c.store)).toEqual(keys.slice(50));
    expect(c.hases()).toBe(0);
    expect(c.gets()).toBe(100);
    del(c.store, [keys[50] as string], 3); // past half: the next scan rebuilds the list of the 49 live keys
    c.reset();
    expect(scanned(c.store)).toEqual(keys.slice(51));
    expect(c.gets()).toBe(49);
    c.reset();
    expect(scanned(c.store)).toEqual(keys.slice(51));
    expect(c.hases()).toBe(0);
    expect(c.gets()).toBe(49);
  });

  it("a rebuild for new keys drops the deleted ones too", () => {
    const c = counted();
    const keys = Array.from({ length: 10 }, (_, i) => key(i));
    put(c.store, keys, 1);
    scanned(c.store);
    del(c.store, keys.slice(0, 3), 2);
    put(c.store, [key(10)], 3);
    expect(scanned(c.store)).toEqual([...keys.slice(3), key(10)]);
    c.reset();
    expect(scanned(c.store)).toEqual([...keys.slice(3), key(10)]);
    expect(c.gets()).toBe(8);
    expect(c.hases()).toBe(0);
  });
});

describe("store.ts", () => {
  it("hasSyncScan: the in-memory store scans synchronously, a store with only an async scan does not", () => {
    const asyncOnly: StateStore = {
      get: () => undefined,
      commit: () => {},
      scan: async function* () {},
    };
    expect(hasSyncScan(new MemoryStore())).toBe(true);
    expect(hasSyncScan(asyncOnly)).toBe(false);
    expect(hasSyncScan({ ...asyncOnly, scanSync: "not a function" } as unknown as StateStore)).toBe(false);
  });

  it("an overlay counts its writes, deletions included, and refuses to merge into itself", () => {
    const base = new MemoryStore();
    const o = new Overlay(base);
    expect(o.size).toBe(0);
    o.put("a", bytes);
    o.del("b");
    o.put("a", bytes);
    expect(o.size).toBe(2);
    expect(() => o.mergeInto(o)).toThrow("an overlay merges into another");
    const taken: WriteSet = o.take();
    expect([...taken.keys()]).toEqual(["a", "b"]);
    expect(o.size).toBe(0);
  });
});
