/**
 * Read-only queries over the store. They throw `DfsError` for expected failures (NOT_FOUND...), which
 * the server maps to its HTTP answer. Nothing returned aliases the state. A listing is a prefix scan of
 * the directory's entry keys from the cursor: it never reads or sorts more than the page.
 */
import { DfsError } from "../../common/errors.js";
import { joinPath, normalizePath } from "../../common/paths.js";
import type { VersionMeta } from "../../common/protocol/version-meta.js";
import { holderInfo, type LockTable } from "./locks.js";
import { fromVersionRec, type NamespaceReader, type NodeView } from "./namespace.js";
import { symlinkIsNoFile } from "./ops.js";
import { attrsOf, decode, type EntryRec, entryPrefix, kindOf } from "./records.js";
import type { KeyRange } from "./store.js";
import type { FileContent, ListEntry, StatResult, VersionInfo } from "./types.js";

function mustGet(ns: NamespaceReader, path: string): NodeView {
  const node = ns.get(path);
  if (node === undefined) throw new DfsError("NOT_FOUND", `${path} does not exist`, { path });
  return node;
}

function mustGetFile(ns: NamespaceReader, path: string): NodeView {
  const node = mustGet(ns, path);
  if (node.rec.t === "d") throw new DfsError("IS_A_DIRECTORY", `${path} is a directory`, { path });
  if (node.rec.t === "l") symlinkIsNoFile(path);
  return node;
}

export function stat(ns: NamespaceReader, locks: LockTable, rawPath: string, nowMs: number): StatResult {
  const path = normalizePath(rawPath);
  const { id, rec } = mustGet(ns, path);
  const out: StatResult = {
    path,
    type: kindOf(rec),
    createdAtMs: rec.c,
    modifiedAtMs: rec.m,
    ...attrsOf(rec),
    ino: id,
  };
  if (rec.t === "f") {
    out.version = rec.hi;
    out.sizeBytes = rec.s;
  }
  if (rec.l !== undefined) out.target = rec.l;
  const live = locks.liveOn(path, nowMs);
  if (live.length > 0) {
    out.lock = {
      mode: live.some((h) => h.mode === "exclusive") ? "exclusive" : "shared",
      holders: live.map(holderInfo),
    };
  }
  return out;
}

export interface ListOptions {
  /** Only names sorting after this one (pagination). */
  startAfter?: string;
  limit?: number;
}

/** The directory to list and the key range of its page (keys compare by UTF-16 code unit, as names do). */
export function listRange(
  ns: NamespaceReader,
  rawPath: string,
  opts: ListOptions,
): { path: string; range: KeyRange; limit: number } {
  const path = normalizePath(rawPath);
  const node = mustGet(ns, path);
  if (node.rec.t !== "d") throw new DfsError("NOT_A_DIRECTORY", `${path} is not a directory`, { path });
  const prefix = entryPrefix(node.id);
  // The least string after `startAfter` is `startAfter + "\0"`.
  const gte = opts.startAfter === undefined ? prefix : `${prefix}${opts.startAfter}\u0000`;
  return {
    path,
    range: { gte, lt: `${prefix}\uffff` },
    limit: Math.max(0, opts.limit ?? Number.POSITIVE_INFINITY),
  };
}

export function listEntry(ns: NamespaceReader, dir: string, key: string, value: Uint8Array): ListEntry {
  const name = key.slice(key.indexOf("/") + 1);
  const id = decode<EntryRec>(value).i;
  const rec = ns.inode(id);
  const entry: ListEntry = {
    name,
    path: joinPath(dir, name),
    type: kindOf(rec),
    modifiedAtMs: rec.m,
    ino: id,
    ...attrsOf(rec),
  };
  if (rec.t === "f") {
    entry.version = rec.hi;
    entry.sizeBytes = rec.s;
  }
  if (rec.l !== undefined) entry.target = rec.l;
  return entry;
}

/** Entries sorted by name in UTF-16 code-unit order (locale-independent, hence the same everywhere). */
export function list(
  ns: NamespaceReader,
  scan: (r: KeyRange) => Iterable<[string, Uint8Array]>,
  rawPath: string,
  opts: ListOptions = {},
): ListEntry[] {
  const { path, range, limit } = listRange(ns, rawPath, opts);
  const out: ListEntry[] = [];
  if (limit === 0) return out;
  for (const [k, v] of scan(range)) {
    out.push(listEntry(ns, path, k, v));
    if (out.length >= limit) break;
  }
  return out;
}

/** The same over an async scan (the LevelDB store). */
export async function listAsync(
  ns: NamespaceReader,
  scan: (r: KeyRange) => AsyncIterable<[string, Uint8Array]>,
  rawPath: string,
  opts: ListOptions = {},
): Promise<ListEntry[]> {
  const { path, range, limit } = listRange(ns, rawPath, opts);
  const out: ListEntry[] = [];
  if (limit === 0) return out;
  for await (const [k, v] of scan(range)) {
    out.push(listEntry(ns, path, k, v));
    if (out.length >= limit) break;
  }
  return out;
}

function info(path: string, version: number, r: { s: number; c: number; d?: Uint8Array }): VersionInfo {
  return {
    path,
    version,
    sizeBytes: r.s,
    createdAtMs: r.c,
    contentKind: r.d !== undefined ? "inline" : "chunks",
  };
}

/** Retained versions, oldest first. */
export function versions(ns: NamespaceReader, rawPath: string): VersionInfo[] {
  const path = normalizePath(rawPath);
  const { id, rec } = mustGetFile(ns, path);
  const out: VersionInfo[] = [];
  for (let v = rec.lo; v <= rec.hi; v++) {
    const r = ns.version(id, v);
    if (r !== undefined) out.push(info(path, v, r));
  }
  return out;
}

/** One retained version (the latest by default), with a copy of its content. */
export function readVersion(
  ns: NamespaceReader,
  rawPath: string,
  version?: number,
): VersionInfo & { content: FileContent; meta?: VersionMeta } {
  const path = normalizePath(rawPath);
  const { id, rec } = mustGetFile(ns, path);
  const want = version ?? rec.hi;
  const r = Number.isSafeInteger(want) && want >= rec.lo && want <= rec.hi ? ns.version(id, want) : undefined;
  if (r === undefined) {
    throw new DfsError("NOT_FOUND", `${path} has no retained version ${version}`, {
      path,
      version,
      oldestRetained: rec.lo,
      latest: rec.hi,
    });
  }
  const { content, meta } = fromVersionRec(want, r);
  return { ...info(path, want, r), content, ...(meta === undefined ? {} : { meta }) };
}
