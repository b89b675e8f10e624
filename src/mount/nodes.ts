/**
 * Node ids for paths, and the inode numbers stat reports for them. The kernel holds a node id from the LOOKUP (or CREATE, MKDIR) that named it
 * until a FORGET returns its lookup count, so the table holds exactly the nodes the kernel caches, and
 * is bounded: past `maxNodes` a lookup fails with ENFILE instead of growing without end (the kernel
 * forgets nodes under memory pressure, freeing room). A rename moves the paths of the node and of
 * every node below it, so open handles follow their file as POSIX wants.
 *
 * The node id is the kernel's handle, per mount and per path; st_ino is another number (`stIno`):
 * the node's id in the metadata, which a rename keeps, which is never reused, and which every mount
 * of the cluster reports alike (`ls -i`, `find -inum`, tar's and git's change checks rely on it). A
 * file created through this mount and not committed yet has no metadata id: it reports
 * PENDING_INO_BASE + its node id, a range the metadata never reaches (its ids are 48-bit), and keeps
 * that number after its first commit for as long as the kernel holds the node (after a FORGET it is
 * looked up afresh and reports its metadata id): within one mount a file's st_ino never changes
 * while a program can be watching it; another mount sees the metadata id.
 */
import { MAX_NAME_BYTES } from "../common/paths.js";
import { ERRNO, Errno } from "./errno.js";
import { ROOT_INO } from "./protocol.js";

interface Node {
  path: string;
  lookups: number;
  /** The metadata id last seen for this node (kept for an unlinked file still open). */
  metaIno?: bigint;
  /** The pending-range number this node was first reported with: kept while the kernel holds it. */
  pendingIno?: bigint;
  /** Size and mtime of the attributes last sent to the kernel for this node (`told`), and when. */
  told?: string;
  toldAtMs?: number;
}

const toldKey = (a: { sizeBytes: number; mtimeMs: number }) => `${a.sizeBytes}/${a.mtimeMs}`;

/** st_ino of a node the metadata has no id for yet (see the top). */
export const PENDING_INO_BASE = 1n << 48n;

export class NodeTable {
  private readonly byIno = new Map<bigint, Node>();
  private readonly byPath = new Map<string, bigint>();
  private nextIno = ROOT_INO + 1n;

  constructor(readonly maxNodes = 1_000_000) {
    this.byIno.set(ROOT_INO, { path: "/", lookups: 1 });
    this.byPath.set("/", ROOT_INO);
  }

  get size(): number {
    return this.byIno.size;
  }

  path(ino: bigint): string | undefined {
    return this.byIno.get(ino)?.path;
  }

  /** The node id for `path`, counting one more kernel reference; null when the table is full. */
  lookup(path: string): bigint | null {
    const known = this.byPath.get(path);
    if (known !== undefined) {
      const n = this.byIno.get(known)!;
      n.lookups++;
      return known;
    }
    if (this.byIno.size >= this.maxNodes) return null;
    const ino = this.nextIno++;
    this.byIno.set(ino, { path, lookups: 1 });
    this.byPath.set(path, ino);
    return ino;
  }

  /**
   * The inode number stat reports for node `nodeid`: `metaIno` (the stat answer's, when it has
   * one), else the one last seen for the node, else a number of the pending range.
   */
  stIno(nodeid: bigint, metaIno: number | undefined): bigint {
    const n = this.byIno.get(nodeid);
    if (metaIno !== undefined && n) n.metaIno = BigInt(metaIno);
    // A number once reported for a node created here stays until the kernel forgets the node: a
    // program compares the st_ino of a file it made with a later lstat (GNU tar does, before it turns
    // a placeholder into a symlink), and the first commit must not look like a replaced file.
    if (n?.pendingIno !== undefined) return n.pendingIno;
    if (metaIno !== undefined) return BigInt(metaIno);
    if (n?.metaIno !== undefined) return n.metaIno;
    const pending = PENDING_INO_BASE + nodeid;
    if (n) n.pendingIno = pending;
    return pending;
  }

  /** The st_ino of the entry at `path` whose metadata id is `metaIno` (readdir's d_ino must match it). */
  inoAt(path: string, metaIno: bigint): bigint {
    const nodeid = this.byPath.get(path);
    return (nodeid === undefined ? undefined : this.byIno.get(nodeid)?.pendingIno) ?? metaIno;
  }

  /** Attributes of `nodeid` were sent to the kernel, which may cache them for the attribute timeout. */
  told(nodeid: bigint, a: { sizeBytes: number; mtimeMs: number }, nowMs = Date.now()): void {
    const n = this.byIno.get(nodeid);
    if (!n) return;
    n.told = toldKey(a);
    n.toldAtMs = nowMs;
  }

  /** Whether the kernel was told attributes of the node at `path` at or after `sinceMs`. */
  toldSince(path: string, sinceMs: number): boolean {
    const ino = this.byPath.get(path);
    const at = ino === undefined ? undefined : this.byIno.get(ino)?.toldAtMs;
    return at !== undefined && at >= sinceMs;
  }

  /** Whether the kernel may hold other size or mtime for `nodeid` than `a` (false when never told). */
  toldOther(nodeid: bigint, a: { sizeBytes: number; mtimeMs: number }): boolean {
    const told = this.byIno.get(nodeid)?.told;
    return told !== undefined && told !== toldKey(a);
  }

  /** The id a path has now, without counting a reference (readdir entries, attributes). */
  peek(path: string): bigint | undefined {
    return this.byPath.get(path);
  }

  forget(ino: bigint, count: number): void {
    if (ino === ROOT_INO) return;
    const n = this.byIno.get(ino);
    if (!n) return;
    n.lookups -= count;
    if (n.lookups > 0) return;
    this.byIno.delete(ino);
    if (this.byPath.get(n.path) === ino) this.byPath.delete(n.path);
  }

  /** The path is gone (unlink, rmdir): its node keeps its id for open handles but no longer owns the name. */
  unlinked(path: string): void {
    this.byPath.delete(path);
  }

  /** `from` (and everything below it) is now at `to`. */
  renamed(from: string, to: string): void {
    this.byPath.delete(to);
    const prefix = `${from}/`;
    const moved: [string, bigint][] = [];
    for (const [p, ino] of this.byPath) {
      if (p === from || p.startsWith(prefix)) moved.push([p, ino]);
    }
    for (const [p, ino] of moved) {
      const next = to + p.slice(from.length);
      this.byPath.delete(p);
      this.byPath.set(next, ino);
      const n = this.byIno.get(ino);
      if (n) n.path = next;
    }
  }
}

/**
 * `parent`/`name` as an absolute normalized path. The kernel passes names of any length and leaves
 * NAME_MAX to the file system: a longer name is ENAMETOOLONG here, as on a disk (the cluster's own
 * answer, an invalid path, would reach programs as EINVAL).
 */
export function childPath(parent: string, name: string): string {
  if (Buffer.byteLength(name) > MAX_NAME_BYTES)
    throw new Errno(ERRNO.ENAMETOOLONG, `name over ${MAX_NAME_BYTES} bytes`);
  return parent === "/" ? `/${name}` : `${parent}/${name}`;
}
