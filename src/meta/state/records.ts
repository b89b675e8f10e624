/**
 * The key layout of the file-system state and the encoding of its records.
 *
 *   m                       meta: applied index, entry time, next inode id, tombstone list ends
 *   i<inode>                inode: type, times, child count and first child (dirs), version range and
 *                           latest size (files), target (symbolic links)
 *   e<parent>/<name>        directory entry → child inode, with its siblings' names (a doubly linked
 *                           list per directory, so apply walks a subtree with point reads only)
 *   v<inode><version>       one retained version: size, time, inline bytes or chunk list
 *   c<chunkId>              chunk: reference count and the size its first commit fixed
 *   g<chunkId>              garbage: since when unreferenced
 *   T                       the bounded tables kept in memory (locks, sessions, data nodes), as of
 *                           the batch's applied index
 *   q<name>, u<name>        a top-level directory's quota limits and its usage (quotas.ts)
 *   t<chunkId>              tombstone: since when, linked in condemn order (= time order, entry times
 *                           never decrease), so forgetting old ones walks from the head
 *
 * Inode ids and versions are 12 hex digits (fixed width: keys sort numerically). Names follow the
 * parent id verbatim, so a prefix scan of `e<parent>/` lists a directory in name order.
 * Values are msgpack (msgpackr, records off: plain maps, no shared structures, deterministic bytes).
 */
import { Packr } from "msgpackr";
import { assert } from "../../common/assert.js";

const packr = new Packr({ useRecords: false, moreTypes: false, variableMapSize: true });

export function encode(value: unknown): Uint8Array {
  return packr.pack(value);
}

export function decode<T>(bytes: Uint8Array): T {
  return packr.unpack(bytes) as T;
}

export const ROOT_INODE = 1;
export const META_KEY = "m";
/** The bounded in-memory tables (locks, sessions, data nodes), written with each store batch. */
export const TABLES_KEY = "T";

export function hex12(n: number): string {
  assert(Number.isSafeInteger(n) && n >= 0 && n < 2 ** 48, "ids fit 12 hex digits");
  return n.toString(16).padStart(12, "0");
}

export const inodeKey = (id: number): string => `i${hex12(id)}`;
export const entryPrefix = (parent: number): string => `e${hex12(parent)}/`;
export const entryKey = (parent: number, name: string): string => `e${hex12(parent)}/${name}`;
export const versionPrefix = (id: number): string => `v${hex12(id)}`;
export const versionKey = (id: number, version: number): string => `v${hex12(id)}${hex12(version)}`;
export const chunkKey = (id: string): string => `c${id}`;
export const garbageKey = (id: string): string => `g${id}`;
export const tombstoneKey = (id: string): string => `t${id}`;

export interface MetaRec {
  /** Applied index and effective time of the last entry. */
  a: number;
  ts: number;
  /** The next inode id to hand out. */
  ni: number;
  /** Oldest and newest tombstone (null when none). */
  th: string | null;
  tt: string | null;
  /** 1 once the quota usage counters are exact (absent in stores written before quotas: usage-recount.ts). */
  uq?: 1;
}

export interface InodeRec {
  /** Directory, file, or symbolic link. */
  t: "d" | "f" | "l";
  c: number;
  m: number;
  /** Dirs: number of entries and the first entry's name (null when empty). */
  n: number;
  h: string | null;
  /** Files: oldest and latest retained version, and the latest one's size (0 for the other kinds). */
  lo: number;
  hi: number;
  s: number;
  /** Symbolic links: the target, kept verbatim and never resolved by the server. */
  l?: string;
  /**
   * POSIX attributes (setAttrs; create and mkdir may set them). Absent in records written before
   * attributes existed: such records read with the defaults of `attrsOf`.
   */
  md?: number;
  u?: number;
  g?: number;
  /** Change time (ctime); absent reads as `m`. */
  ct?: number;
  /**
   * Files whose versions were dropped one by one (dropVersion): `k`, how many are retained when that is
   * fewer than `hi - lo + 1` (the range has gaps); `tv`, the highest version ever given when the latest
   * was dropped, so a version number is never handed out twice. Absent otherwise (older records too).
   */
  k?: number;
  tv?: number;
}

/** The attribute fields of an inode record, as a partial write. */
export type AttrFields = Partial<Pick<InodeRec, "md" | "u" | "g" | "ct">>;

/** Permission bits a record may hold: rwx for user, group, other, plus setuid, setgid and sticky. */
export const MODE_BITS = 0o7777;

/** The attributes of an inode as stat reports them, old records filled with defaults. */
export function attrsOf(rec: InodeRec): { mode: number; uid: number; gid: number; changedAtMs: number } {
  return {
    mode: rec.md ?? (rec.t === "d" ? 0o755 : rec.t === "l" ? 0o777 : 0o644),
    uid: rec.u ?? 0,
    gid: rec.g ?? 0,
    changedAtMs: rec.ct ?? rec.m,
  };
}

/** The kind of node an inode record is, as stat and listings name it. */
export function kindOf(rec: InodeRec): "dir" | "file" | "symlink" {
  return rec.t === "d" ? "dir" : rec.t === "l" ? "symlink" : "file";
}

export interface EntryRec {
  /** The child inode. */
  i: number;
  /** Previous and next sibling names in the directory's link list (not name order). */
  p: string | null;
  x: string | null;
}

export interface VersionRec {
  s: number;
  c: number;
  /** Inline bytes, or the chunk list as [id, size] pairs. */
  d?: Uint8Array;
  ch?: [string, number][];
  /** The commit's metadata (version-meta.ts); absent when it carried none, and in older records. */
  x?: Record<string, string>;
}

export interface ChunkRec {
  /** References from retained versions; 0 while garbage (the size is kept until collection). */
  r: number;
  s: number;
}

export interface TombstoneRec {
  s: number;
  p: string | null;
  x: string | null;
}
