/**
 * The directory tree over the store (key layout: records.ts). A path resolves from the root one entry
 * key per component; each directory links its entries in a list kept in the entry records, so a
 * subtree walk (recursive delete, the rename bound) needs point reads only, never a scan inside apply.
 * A rename re-links one entry: O(1) keys whatever the subtree's size. Listing is a prefix scan of the
 * directory's entry keys, in name order (queries.ts, outside apply).
 *
 * Every write goes to the command's overlay, which the caller drops if the command fails.
 */
import { assert } from "../../common/assert.js";
import { ROOT_PATH } from "../../common/paths.js";
import type { ChunkRef, FileContent } from "./commands.js";
import { fail } from "./outcome.js";
import {
  type AttrFields,
  decode,
  type EntryRec,
  encode,
  entryKey,
  type InodeRec,
  inodeKey,
  META_KEY,
  type MetaRec,
  ROOT_INODE,
  type VersionRec,
  versionKey,
} from "./records.js";
import type { Overlay, StoreReader } from "./store.js";
import type { FileVersion } from "./types.js";

export interface NodeView {
  id: number;
  rec: InodeRec;
}

export function components(path: string): string[] {
  return path === ROOT_PATH ? [] : path.slice(1).split("/");
}

export function toVersionRec(v: FileVersion): VersionRec {
  const x = v.meta === undefined ? {} : { x: { ...v.meta } };
  return v.content.kind === "inline"
    ? { s: v.sizeBytes, c: v.createdAtMs, d: v.content.data, ...x }
    : { s: v.sizeBytes, c: v.createdAtMs, ch: v.content.chunks.map((c) => [c.id, c.sizeBytes]), ...x };
}

export function fromVersionRec(version: number, r: VersionRec): FileVersion {
  const content: FileContent =
    r.d !== undefined
      ? { kind: "inline", data: new Uint8Array(r.d) }
      : {
          kind: "chunks",
          chunks: versionChunks(r),
          sizeBytes: r.s,
        };
  return {
    version,
    sizeBytes: r.s,
    createdAtMs: r.c,
    content,
    ...(r.x === undefined ? {} : { meta: { ...r.x } }),
  };
}

export function versionChunks(r: VersionRec): ChunkRef[] {
  return (r.ch ?? []).map(([id, sizeBytes]) => ({ id, sizeBytes }));
}

/** How many versions a file retains. */
export function retainedCount(rec: InodeRec): number {
  return rec.k ?? rec.hi - rec.lo + 1;
}

/** The highest version number a file was ever given: the next commit is numbered above it. */
export function lastGiven(rec: InodeRec): number {
  return rec.tv ?? rec.hi;
}

/** `rec` retaining `count` versions: `k` is kept only when the range has gaps. */
function withGaps(rec: InodeRec, count: number): InodeRec {
  return count === rec.hi - rec.lo + 1 ? rec : { ...rec, k: count };
}

/** Read-only navigation, shared by apply (over an overlay) and the queries (over the store). */
export class NamespaceReader {
  constructor(protected readonly kv: StoreReader) {}

  inode(id: number): InodeRec {
    const b = this.kv.get(inodeKey(id));
    assert(b !== undefined, `inode ${id} exists`);
    return decode<InodeRec>(b);
  }

  entry(parent: number, name: string): EntryRec | undefined {
    const b = this.kv.get(entryKey(parent, name));
    return b === undefined ? undefined : decode<EntryRec>(b);
  }

  get(path: string): NodeView | undefined {
    let id = ROOT_INODE;
    for (const name of components(path)) {
      const e = this.entry(id, name);
      if (e === undefined) return undefined;
      id = e.i;
    }
    return { id, rec: this.inode(id) };
  }

  version(id: number, version: number): VersionRec | undefined {
    const b = this.kv.get(versionKey(id, version));
    return b === undefined ? undefined : decode<VersionRec>(b);
  }

  /**
   * A file's retained versions, oldest first. O(hi - lo): the range has gaps only where single versions
   * were dropped, each gap one entry's work, passed over at most once more here.
   */
  *retained(id: number, rec: InodeRec): Generator<[number, VersionRec]> {
    let found = 0;
    for (let v = rec.lo; v <= rec.hi; v++) {
      const r = this.version(id, v);
      if (r === undefined) continue;
      found++;
      yield [v, r];
    }
    assert(found === retainedCount(rec), "a file's retained versions are as many as it counts");
  }

  /** A directory's entries in link order (not name order): names and child ids. */
  *children(id: number, rec: InodeRec): Generator<[string, number]> {
    for (let name = rec.h; name !== null; ) {
      const e = this.entry(id, name);
      assert(e !== undefined, "linked entries exist");
      yield [name, e.i];
      name = e.x;
    }
  }

  /**
   * The ancestors of `path` that do not exist yet, root-most first (empty when the parent exists).
   * Fails with NOT_A_DIRECTORY if an existing ancestor is a file or a symbolic link.
   */
  missingAncestors(path: string): string[] {
    const parts = components(path);
    let id = ROOT_INODE;
    let at = "";
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i] as string;
      const e = this.entry(id, name);
      at = `${at}/${name}`;
      if (e === undefined) {
        const missing = [at];
        for (let j = i + 1; j < parts.length - 1; j++)
          missing.push(`${missing[missing.length - 1]}/${parts[j]}`);
        return missing;
      }
      // A symbolic link is not followed: as an ancestor it is not a directory (the client resolves links).
      const t = this.inode(e.i).t;
      if (t !== "d")
        fail("NOT_A_DIRECTORY", `${at} is a ${t === "l" ? "symbolic link" : "file"}`, { path: at });
      id = e.i;
    }
    return [];
  }

  /** Paths and nodes of the subtree at `path` (itself first). O(subtree). */
  subtree(path: string): { path: string; node: NodeView }[] {
    const top = this.get(path);
    if (top === undefined) return [];
    const out: { path: string; node: NodeView }[] = [];
    const stack = [{ path, node: top }];
    for (let s = stack.pop(); s !== undefined; s = stack.pop()) {
      out.push(s);
      if (s.node.rec.t === "d") {
        for (const [name, id] of this.children(s.node.id, s.node.rec)) {
          stack.push({
            path: s.path === ROOT_PATH ? `/${name}` : `${s.path}/${name}`,
            node: { id, rec: this.inode(id) },
          });
        }
      }
    }
    return out;
  }

  /** The size of the subtree at `path` (0 if absent), counted only up to `limit + 1`. */
  countSubtree(path: string, limit: number): number {
    const top = this.get(path);
    if (top === undefined) return 0;
    let count = 0;
    const stack: NodeView[] = [top];
    for (let n = stack.pop(); n !== undefined && count <= limit; n = stack.pop()) {
      count++;
      if (n.rec.t !== "d") continue;
      for (const [, id] of this.children(n.id, n.rec)) {
        if (count + stack.length > limit) break;
        stack.push({ id, rec: this.inode(id) });
      }
    }
    return count;
  }
}

/** The mutations, each over the command's overlay. */
export class Namespace extends NamespaceReader {
  constructor(private readonly tx: Overlay) {
    super(tx);
  }

  private putInode(id: number, rec: InodeRec): void {
    this.tx.put(inodeKey(id), encode(rec));
  }

  private newInode(): number {
    const b = this.tx.get(META_KEY);
    assert(b !== undefined, "the meta record exists");
    const meta = decode<MetaRec>(b);
    const id = meta.ni;
    this.tx.put(META_KEY, encode({ ...meta, ni: id + 1 }));
    return id;
  }

  private parentView(path: string): { parent: NodeView; name: string } {
    const parts = components(path);
    const name = parts.pop();
    assert(name !== undefined, "not the root");
    const parent = this.get(`/${parts.join("/")}`);
    assert(parent?.rec.t === "d", `the parent of ${path} is an existing directory`);
    return { parent, name };
  }

  /** Where a node is created at `path`: its parent, which exists, and its name there, which is free. */
  private freeSlot(path: string): { parent: NodeView; name: string } {
    const slot = this.parentView(path);
    assert(this.entry(slot.parent.id, slot.name) === undefined, `${path} is free`);
    return slot;
  }

  createDir(path: string, nowMs: number, attrs: AttrFields = {}): void {
    const { parent, name } = this.freeSlot(path);
    const id = this.newInode();
    this.putInode(id, { t: "d", c: nowMs, m: nowMs, n: 0, h: null, lo: 0, hi: 0, s: 0, ct: nowMs, ...attrs });
    this.link(parent.id, name, id, nowMs);
  }

  createFile(path: string, first: FileVersion, nowMs: number, attrs: AttrFields = {}): void {
    const { parent, name } = this.freeSlot(path);
    const id = this.newInode();
    this.tx.put(versionKey(id, first.version), encode(toVersionRec(first)));
    this.putInode(id, {
      t: "f",
      c: nowMs,
      m: nowMs,
      n: 0,
      h: null,
      lo: first.version,
      hi: first.version,
      s: first.sizeBytes,
      ct: nowMs,
      ...attrs,
    });
    this.link(parent.id, name, id, nowMs);
  }

  /**
   * A symbolic link at the free `path`: mode 0777 unless `attrs` say otherwise, as lchmod cannot. The
   * target is not empty (validate.ts and the restore refuse an empty one).
   */
  createSymlink(path: string, target: string, nowMs: number, attrs: AttrFields = {}): void {
    const { parent, name } = this.freeSlot(path);
    const id = this.newInode();
    this.putInode(id, {
      t: "l",
      c: nowMs,
      m: nowMs,
      n: 0,
      h: null,
      lo: 0,
      hi: 0,
      s: 0,
      l: target,
      ct: nowMs,
      ...attrs,
    });
    this.link(parent.id, name, id, nowMs);
  }

  /**
   * Adds `next` as the latest version and drops the oldest retained ones beyond `retained`; returns the
   * dropped. `next` is numbered above every version ever given (a snapshot's may skip numbers).
   */
  addVersion(file: NodeView, next: FileVersion, retained: number, nowMs: number): VersionRec[] {
    assert(file.rec.t === "f" && next.version > lastGiven(file.rec), "versions only grow");
    this.tx.put(versionKey(file.id, next.version), encode(toVersionRec(next)));
    let { lo } = file.rec;
    let count = retainedCount(file.rec) + 1;
    const dropped: VersionRec[] = [];
    while (count > retained) {
      const v = this.version(file.id, lo);
      assert(v !== undefined, "the oldest retained version exists");
      dropped.push(v);
      this.tx.del(versionKey(file.id, lo));
      count--;
      lo = this.nextRetained(file.id, lo, next.version);
    }
    const { k: _k, tv: _tv, ...rec } = file.rec;
    this.putInode(
      file.id,
      withGaps({ ...rec, lo, hi: next.version, s: next.sizeBytes, m: nowMs, ct: nowMs }, count),
    );
    return dropped;
  }

  /**
   * Drops retained version `version` of a file that retains others, and returns it; the latest falls
   * back to the one below when it is the one dropped (its number is never given again).
   */
  dropVersion(file: NodeView, version: number, nowMs: number): VersionRec {
    const { rec } = file;
    const count = retainedCount(rec);
    assert(rec.t === "f" && count > 1, "dropVersion: a file that retains other versions");
    const dropped = this.version(file.id, version);
    assert(dropped !== undefined, "dropVersion: the version is retained");
    this.tx.del(versionKey(file.id, version));
    const lo = version === rec.lo ? this.nextRetained(file.id, rec.lo, rec.hi) : rec.lo;
    let { hi, s } = rec;
    if (version === rec.hi) {
      do hi--;
      while (this.version(file.id, hi) === undefined);
      s = (this.version(file.id, hi) as VersionRec).s;
    }
    const { k: _k, tv: _tv, ...base } = rec;
    const tv = Math.max(lastGiven(rec), hi);
    this.putInode(
      file.id,
      withGaps({ ...base, lo, hi, s, m: nowMs, ct: nowMs, ...(tv > hi ? { tv } : {}) }, count - 1),
    );
    return dropped;
  }

  /** Restore only: the highest number a file was ever given, as a snapshot had it (above its latest). */
  setTopVersion(file: NodeView, top: number): void {
    this.putInode(file.id, { ...file.rec, tv: top });
  }

  /** The first retained version above `from` (there is one up to `hi`). */
  private nextRetained(id: number, from: number, hi: number): number {
    let v = from + 1;
    while (v < hi && this.version(id, v) === undefined) v++;
    return v;
  }

  /** Moves the entry at `from` to `to`, whose parent exists and which is free: O(1) keys. */
  move(from: string, to: string, nowMs: number): void {
    const src = this.parentView(from);
    const e = this.entry(src.parent.id, src.name);
    assert(e !== undefined, "move: the source exists");
    this.unlink(src.parent.id, src.name, nowMs);
    const dst = this.parentView(to);
    this.link(dst.parent.id, dst.name, e.i, nowMs);
  }

  /** Removes the subtree at `path`; returns its versions (to release their chunks) and its size. */
  remove(path: string, nowMs: number): { versions: VersionRec[]; count: number } {
    const { parent, name } = this.parentView(path); // never the root
    const nodes = this.subtree(path);
    const versions: VersionRec[] = [];
    for (const { node } of nodes) {
      const { id, rec } = node;
      if (rec.t === "f") {
        for (const [v, r] of this.retained(id, rec)) {
          versions.push(r);
          this.tx.del(versionKey(id, v));
        }
      } else if (rec.t === "d") {
        for (const [name] of this.children(id, rec)) this.tx.del(entryKey(id, name));
      }
      this.tx.del(inodeKey(id));
    }
    this.unlink(parent.id, name, nowMs);
    return { versions, count: nodes.length };
  }

  /** Puts `name` → `child` at the head of the directory's list; counts it and touches the directory. */
  private link(dir: number, name: string, child: number, nowMs: number): void {
    const rec = this.inode(dir);
    if (rec.h !== null) {
      const head = this.entry(dir, rec.h);
      assert(head !== undefined, "the head entry exists");
      this.tx.put(entryKey(dir, rec.h), encode({ ...head, p: name }));
    }
    this.tx.put(entryKey(dir, name), encode({ i: child, p: null, x: rec.h } satisfies EntryRec));
    this.putInode(dir, { ...rec, n: rec.n + 1, h: name, m: nowMs, ct: nowMs });
  }

  private unlink(dir: number, name: string, nowMs: number): void {
    const rec = this.inode(dir);
    const e = this.entry(dir, name);
    assert(e !== undefined, "unlink: the child was linked");
    let head = rec.h;
    if (e.p === null) head = e.x;
    else {
      const prev = this.entry(dir, e.p);
      assert(prev !== undefined, "the previous entry exists");
      this.tx.put(entryKey(dir, e.p), encode({ ...prev, x: e.x }));
    }
    if (e.x !== null) {
      const next = this.entry(dir, e.x);
      assert(next !== undefined, "the next entry exists");
      this.tx.put(entryKey(dir, e.x), encode({ ...next, p: e.p }));
    }
    this.tx.del(entryKey(dir, name));
    this.putInode(dir, { ...rec, n: rec.n - 1, h: head, m: nowMs, ct: nowMs });
  }

  /** Sets times as a snapshot had them (restore only), and its attributes if it had any. */
  setTimes(path: string, createdAtMs: number, modifiedAtMs: number, attrs: AttrFields = {}): void {
    const n = this.get(path);
    assert(n !== undefined, "setTimes: the node exists");
    const { ct: _ct, ...rest } = n.rec;
    this.putInode(n.id, { ...rest, c: createdAtMs, m: modifiedAtMs, ...attrs });
  }

  /** Writes the attribute fields given (setAttrs): the rest of the record stays. */
  setAttrs(node: NodeView, attrs: AttrFields & { m?: number }): void {
    this.putInode(node.id, { ...node.rec, ...attrs });
  }
}
