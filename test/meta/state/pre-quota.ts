/**
 * Stores as written before quotas existed (no usage counters, no `uq` mark), for the recount tests
 * over the in-memory store (usage-recount.test.ts) and LevelDB (test/meta/store/level-store.test.ts).
 */
import fc from "fast-check";
import { decode, encode, META_KEY, type MetaRec } from "../../../src/meta/state/records.js";
import { prefixRange, type StateStore } from "../../../src/meta/state/store.js";

/** One write: a file below one of three top-level names (or directly in `/`), of `size` bytes. */
export const writeArb = fc.record({
  top: fc.constantFrom("a", "b", "c", ""),
  sub: fc.array(fc.constantFrom("x", "y"), { maxLength: 2 }),
  name: fc.constantFrom("f", "g", "h"),
  size: fc.integer({ min: 0, max: 40 }),
});
export type Write = typeof writeArb extends fc.Arbitrary<infer T> ? T : never;

export function writePath(w: Write): string {
  return `${w.top === "" ? "" : `/${w.top}`}${w.sub.map((s) => `/${s}`).join("")}/${w.name}`;
}

/** Makes `store` look written before quotas: its usage counters and mark removed, at its applied index. */
export async function stripUsage(store: StateStore): Promise<void> {
  const writes = new Map<string, Uint8Array | null>();
  for await (const [k] of store.scan(prefixRange("u"))) writes.set(k, null);
  const meta = decode<MetaRec>(store.get(META_KEY)!);
  const { uq: _mark, ...old } = meta;
  writes.set(META_KEY, encode(old));
  store.commit(writes, meta.a);
}
