/**
 * Quotas on top-level directories, as HDFS's name and space quotas but only on the first level: a
 * quota on `/proj` limits the names (files and directories, `/proj` itself excluded) and the bytes
 * below it. Bytes are logical bytes (before replication) of every *retained* version, as HDFS counts
 * its snapshots' space: an overwrite costs the new version's bytes until older versions drop out.
 *
 * Usage is a counter per top-level name kept in the store (`u<name>`), limits in `q<name>`: apply
 * updates them by point reads and writes, never by a scan, so they survive snapshots and restarts with
 * the rest of the state. Every top-level name has usage counted, quota or not, so setting a quota is
 * O(1) and sees the true usage at once. Zero usage and absent limits have no key.
 *
 * Enforcement is per namespace op: an op that raises a dimension beyond its limit fails with
 * QUOTA_EXCEEDED (and, inside a txn, takes the whole txn with it). An op that lowers usage always
 * passes, so a tree over its quota (the quota was set below the usage) can always be cleaned up.
 */
import { assert } from "../../common/assert.js";
import { ROOT_PATH } from "../../common/paths.js";
import type { QuotaResponse } from "../../common/protocol/meta-types.js";
import type { NamespaceReader } from "./namespace.js";
import { fail } from "./outcome.js";
import { decode, encode } from "./records.js";
import { type Overlay, prefixRange, type StoreReader, type SyncScanStore } from "./store.js";
import type { NodeSnapshot, QuotaSnapshot } from "./types.js";

/** A top-level directory's quota as the API shows it. */
export type QuotaInfo = QuotaResponse;

export const quotaKey = (top: string): string => `q${top}`;
export const usageKey = (top: string): string => `u${top}`;

export interface QuotaLimits {
  /** Max bytes of retained versions below the directory. */
  bytes?: number;
  /** Max names (files and directories) below the directory. */
  files?: number;
}

export interface QuotaUsage {
  bytes: number;
  files: number;
}

export const NO_USAGE: QuotaUsage = Object.freeze({ bytes: 0, files: 0 });

interface LimitsRec {
  b?: number;
  f?: number;
}

interface UsageRec {
  b: number;
  f: number;
}

/**
 * Where a path's usage is charged: `top` is its first component, `self` whether the path *is* the
 * top-level entry (which counts nothing: a directory is not charged to itself, and a file directly
 * in `/` is in no quota tree). Undefined for the root.
 */
export function accountOf(path: string): { top: string; self: boolean } | undefined {
  if (path === ROOT_PATH) return undefined;
  const slash = path.indexOf("/", 1);
  return slash < 0 ? { top: path.slice(1), self: true } : { top: path.slice(1, slash), self: false };
}

export function addUsage(a: QuotaUsage, b: QuotaUsage): QuotaUsage {
  return { bytes: a.bytes + b.bytes, files: a.files + b.files };
}

/**
 * Usage added by `d` (may be negative), floored at zero rather than asserted: a store written before
 * quotas existed has no counters, and a delete there must not crash every replica at the same index.
 * Such a tree is under-counted until rewritten; checkInvariants (every property test) still holds the
 * counters to an exact recount.
 */
function plus(u: QuotaUsage, d: QuotaUsage): QuotaUsage {
  return { bytes: Math.max(0, u.bytes + d.bytes), files: Math.max(0, u.files + d.files) };
}

/** Read-only view (queries over the store, and checks inside apply). */
export class QuotaReader {
  constructor(protected readonly kv: StoreReader) {}

  limits(top: string): QuotaLimits | undefined {
    const b = this.kv.get(quotaKey(top));
    if (b === undefined) return undefined;
    const r = decode<LimitsRec>(b);
    return { ...(r.b !== undefined && { bytes: r.b }), ...(r.f !== undefined && { files: r.f }) };
  }

  usage(top: string): QuotaUsage {
    const b = this.kv.get(usageKey(top));
    if (b === undefined) return { ...NO_USAGE };
    const r = decode<UsageRec>(b);
    return { bytes: r.b, files: r.f };
  }
}

/** The mutations, over the command's overlay (dropped by the caller if the command fails). */
export class QuotaTable extends QuotaReader {
  constructor(private readonly tx: Overlay) {
    super(tx);
  }

  /** Sets a tree's counter outright (zero usage has no key). */
  putUsage(top: string, u: QuotaUsage): void {
    if (u.bytes === 0 && u.files === 0) this.tx.del(usageKey(top));
    else this.tx.put(usageKey(top), encode({ b: u.bytes, f: u.files } satisfies UsageRec));
  }

  /**
   * Charges `delta` to the account of `path` (nothing for the root or a top-level entry itself).
   * Fails with QUOTA_EXCEEDED if a dimension grows past its limit.
   */
  charge(path: string, delta: QuotaUsage): void {
    const acc = accountOf(path);
    if (acc === undefined || acc.self || (delta.bytes === 0 && delta.files === 0)) return;
    this.chargeTop(acc.top, delta, path);
  }

  chargeTop(top: string, delta: QuotaUsage, path: string): void {
    const next = plus(this.usage(top), delta);
    const lim = this.limits(top);
    if (lim !== undefined) {
      const over: string[] = [];
      if (delta.files > 0 && lim.files !== undefined && next.files > lim.files)
        over.push(`${next.files} names > ${lim.files}`);
      if (delta.bytes > 0 && lim.bytes !== undefined && next.bytes > lim.bytes)
        over.push(`${next.bytes} bytes > ${lim.bytes}`);
      if (over.length > 0) {
        fail("QUOTA_EXCEEDED", `quota of /${top} exceeded by ${path}: ${over.join(", ")}`, {
          path,
          dir: `/${top}`,
          limits: lim,
          usage: this.usage(top),
          wouldBe: next,
        });
      }
    }
    this.putUsage(top, next);
  }

  setLimits(top: string, limits: QuotaLimits): void {
    const rec: LimitsRec = {
      ...(limits.bytes !== undefined && { b: limits.bytes }),
      ...(limits.files !== undefined && { f: limits.files }),
    };
    assert(rec.b !== undefined || rec.f !== undefined, "a quota limits something");
    this.tx.put(quotaKey(top), encode(rec));
  }

  clearLimits(top: string): void {
    this.tx.del(quotaKey(top));
  }

  /** A top-level entry was renamed to another top-level name: its usage and quota go with it. */
  moveTop(from: string, to: string): void {
    assert(this.kv.get(usageKey(to)) === undefined && this.kv.get(quotaKey(to)) === undefined, "free name");
    const u = this.usage(from);
    const lim = this.limits(from);
    this.putUsage(from, NO_USAGE);
    this.putUsage(to, u);
    if (lim !== undefined) {
      this.tx.del(quotaKey(from));
      this.setLimits(to, lim);
    }
  }

  /** A top-level entry is gone (deleted, or moved below another): its usage and quota go too. */
  dropTop(top: string): QuotaUsage {
    const u = this.usage(top);
    this.tx.del(usageKey(top));
    this.tx.del(quotaKey(top));
    return u;
  }
}

/** The top-level name of `path`, which must be an existing top-level directory. */
function requireTopDir(ns: NamespaceReader, path: string): string {
  const acc = accountOf(path);
  if (acc === undefined || !acc.self) {
    fail("BAD_REQUEST", `quotas are kept on top-level directories (/name), not on ${path}`, { path });
  }
  const node = ns.get(path);
  if (node === undefined) fail("NOT_FOUND", `${path} does not exist`, { path });
  if (node.rec.t !== "d") fail("NOT_A_DIRECTORY", `${path} is a file`, { path });
  return acc.top;
}

export function quotaInfo(ns: NamespaceReader, q: QuotaReader, path: string): QuotaInfo {
  const top = requireTopDir(ns, path);
  return { dir: path, limits: q.limits(top) ?? null, usage: q.usage(top) };
}

/**
 * Replaces the quota of a top-level directory. A limit below the current usage is accepted (as in
 * HDFS): nothing is removed, but nothing there may grow until usage falls below it.
 */
export function setQuota(ns: NamespaceReader, q: QuotaTable, cmd: { path: string } & QuotaLimits): QuotaInfo {
  const top = requireTopDir(ns, cmd.path);
  if (cmd.bytes === undefined && cmd.files === undefined) {
    fail("BAD_REQUEST", "a quota needs a limit on bytes, files or both", { path: cmd.path });
  }
  q.setLimits(top, cmd);
  return quotaInfo(ns, q, cmd.path);
}

export function clearQuota(ns: NamespaceReader, q: QuotaTable, path: string): QuotaInfo {
  const top = requireTopDir(ns, path);
  q.clearLimits(top);
  return quotaInfo(ns, q, path);
}

/** Usage per top-level name recounted from a namespace dump: for restore and the invariant check. */
export function recountUsage(nodes: readonly NodeSnapshot[]): Map<string, QuotaUsage> {
  const out = new Map<string, QuotaUsage>();
  for (const n of nodes) {
    const acc = accountOf(n.path);
    if (acc === undefined || acc.self) continue;
    const u = out.get(acc.top) ?? { bytes: 0, files: 0 };
    u.files++;
    if (n.type === "file") for (const v of n.versions) u.bytes += v.sizeBytes;
    out.set(acc.top, u);
  }
  return out;
}

/** Every quota, by directory name: snapshots carry them (usage is recounted on restore). */
export function dumpQuotas(store: SyncScanStore): QuotaSnapshot[] {
  const q = new QuotaReader(store);
  return [...store.scanSync(prefixRange("q"))].map(([k]) => ({
    dir: `/${k.slice(1)}`,
    ...q.limits(k.slice(1)),
  }));
}

/** Restores a snapshot's quotas and the usage recounted from its nodes. */
export function loadQuotas(
  tx: Overlay,
  nodes: readonly NodeSnapshot[],
  quotas: readonly QuotaSnapshot[],
): void {
  const q = new QuotaTable(tx);
  // Counters set, not charged: the restored state has no limits yet, and a recount is the usage.
  for (const [top, u] of recountUsage(nodes)) q.putUsage(top, u);
  for (const { dir, ...limits } of quotas) q.setLimits(dir.slice(1), limits);
}

/** Usage counters equal a recount; quotas sit on existing top-level directories. O(state). */
export function checkUsage(store: SyncScanStore, nodes: readonly NodeSnapshot[]): void {
  const recount = recountUsage(nodes);
  const q = new QuotaReader(store);
  const counted = [...store.scanSync(prefixRange("u"))];
  assert(counted.length === recount.size, "usage: a counter for every top-level tree that uses something");
  for (const [top, u] of recount) {
    const c = q.usage(top);
    assert(c.bytes === u.bytes && c.files === u.files, `usage of /${top} matches a recount`);
  }
  const dirs = new Set(nodes.filter((n) => n.type === "dir").map((n) => n.path));
  for (const [k] of store.scanSync(prefixRange("q")))
    assert(dirs.has(`/${k.slice(1)}`), `quota ${k} is on a directory`);
}
