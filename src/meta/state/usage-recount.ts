/**
 * Quota usage for stores written before quotas existed (issue 15). Such a store has no `u<name>`
 * counters, so a quota set on one of its trees would start from zero and the tree could grow past
 * its limit by everything it already held. Counting at `setQuota` time is not possible: apply is
 * synchronous and a LevelDB store scans only asynchronously (and a tree of a million names would stall
 * the replica inside one entry). So the count happens once, when a store is opened without the meta
 * record's `uq` mark: every top-level tree's names and retained bytes are recounted from the store and
 * written with the mark, at the store's own applied index, before any entry is applied.
 *
 * Every replica running this code does the same before it applies anything, and the recount is a pure
 * function of the state at that index, so replicas that open at different indexes still agree from
 * there on (apply keeps exact counts once they are exact). Stores created by this code, and states
 * restored from a snapshot dump (whose usage is recounted by loadQuotas), carry the mark from the start.
 *
 * Memory: one map entry per directory and file (inode → its top-level tree) for the length of the
 * recount, a one-time cost per pre-quota store (about 100 bytes per name).
 */
import { addUsage, type QuotaUsage, usageKey } from "./quotas.js";
import {
  decode,
  type EntryRec,
  encode,
  META_KEY,
  type MetaRec,
  ROOT_INODE,
  type VersionRec,
} from "./records.js";
import { hasSyncScan, prefixRange, type StateStore, type WriteSet } from "./store.js";

/**
 * The meta record of a store whose usage counters are not known to be exact (no `uq` mark), or
 * undefined when there is nothing to count (marked, or a fresh store without a meta record).
 */
function uncountedMeta(store: StateStore): Uint8Array | undefined {
  const bytes = store.get(META_KEY);
  return bytes === undefined || decode<MetaRec>(bytes).uq === 1 ? undefined : bytes;
}

/** Directory entries in → top-level tree of each inode; version rows in → usage per tree. */
class Recount {
  /** Inode → parent inode, for every entry below the root. */
  private readonly parentOf = new Map<number, number>();
  /** Inode → top-level name, for the root's own entries. */
  private readonly topOf = new Map<number, string>();
  /** Inode → top-level name found above it (the walk up, remembered). */
  private readonly memo = new Map<number, string>();
  readonly usage = new Map<string, QuotaUsage>();

  entry(key: string, value: Uint8Array): void {
    // `e<parent hex12>/<name>`
    const parent = Number.parseInt(key.slice(1, 13), 16);
    const child = decode<EntryRec>(value).i;
    if (parent === ROOT_INODE) this.topOf.set(child, key.slice(14));
    else this.parentOf.set(child, parent);
  }

  /** Counts every name below a top-level directory (after all entries were fed). */
  countNames(): void {
    for (const id of this.parentOf.keys()) {
      const top = this.top(id);
      if (top !== undefined) this.add(top, { bytes: 0, files: 1 });
    }
  }

  version(key: string, value: Uint8Array): void {
    // `v<inode hex12><version hex12>`
    const id = Number.parseInt(key.slice(1, 13), 16);
    // A top-level file's own versions count nothing (accountOf: an entry is not charged to itself).
    const top = this.topOf.has(id) ? undefined : this.top(id);
    if (top !== undefined) {
      this.add(top, { bytes: decode<VersionRec>(value).s, files: 0 });
    }
  }

  /** The top-level name above `id`; memoised along the way up (undefined: not reachable from the root). */
  private top(id: number): string | undefined {
    const path: number[] = [];
    let at = id;
    let found: string | undefined;
    for (;;) {
      found = this.topOf.get(at) ?? this.memo.get(at);
      if (found !== undefined) break;
      const p = this.parentOf.get(at);
      if (p === undefined) return undefined;
      path.push(at);
      at = p;
    }
    for (const n of path) this.memo.set(n, found);
    return found;
  }

  private add(top: string, d: QuotaUsage): void {
    this.usage.set(top, addUsage(this.usage.get(top) ?? { bytes: 0, files: 0 }, d));
  }
}

async function collect(rows: AsyncIterable<[string, Uint8Array]>, each: (k: string, v: Uint8Array) => void) {
  for await (const [k, v] of rows) each(k, v);
}

/** The writes that make the counters exact: stale `u` keys dropped, each tree's usage put, the meta marked. */
function finish(r: Recount, stale: readonly string[], meta: Uint8Array): WriteSet {
  const writes: WriteSet = new Map();
  for (const k of stale) writes.set(k, null);
  for (const [top, u] of r.usage) {
    if (u.bytes !== 0 || u.files !== 0) writes.set(usageKey(top), encode({ b: u.bytes, f: u.files }));
  }
  writes.set(META_KEY, encode({ ...decode<MetaRec>(meta), uq: 1 } satisfies MetaRec));
  return writes;
}

/** Recounts a store without the mark (LevelDB: async scans), before the state opens over it. */
export async function recountUsageIfMissing(store: StateStore): Promise<boolean> {
  const meta = uncountedMeta(store);
  if (meta === undefined) return false;
  const r = new Recount();
  await collect(store.scan(prefixRange("e")), (k, v) => r.entry(k, v));
  r.countNames();
  await collect(store.scan(prefixRange("v")), (k, v) => r.version(k, v));
  const stale: string[] = [];
  await collect(store.scan(prefixRange("u")), (k) => stale.push(k));
  store.commit(finish(r, stale, meta), decode<MetaRec>(meta).a);
  return true;
}

/**
 * The same over an in-memory store, synchronously (FsState's constructor). A store that scans only
 * asynchronously (LevelDB) is left alone here: its opener ran `recountUsageIfMissing` first.
 */
export function recountUsageIfMissingSync(store: StateStore): boolean {
  if (!hasSyncScan(store)) return false;
  const meta = uncountedMeta(store);
  if (meta === undefined) return false;
  const r = new Recount();
  for (const [k, v] of store.scanSync(prefixRange("e"))) r.entry(k, v);
  r.countNames();
  for (const [k, v] of store.scanSync(prefixRange("v"))) r.version(k, v);
  const stale = [...store.scanSync(prefixRange("u"))].map(([k]) => k);
  store.commit(finish(r, stale, meta), decode<MetaRec>(meta).a);
  return true;
}
