/**
 * The state of the power-loss layer (in the manner of Jepsen's LazyFS, our own code): two views of one
 * tree. The *volatile* view is what running programs see — every write, create, rename and unlink at
 * once, like the kernel's page cache. The *durable* view is what survives a power cut: a file's
 * content moves into it only on fsync/fdatasync of that file, and a directory's entries (creates,
 * renames, unlinks) only on fsync of that directory — POSIX's rule, stricter than ext4, which commits
 * other metadata along with a journal flush. The backing directory on disk always mirrors the durable
 * view exactly, so cutting power is just dropping this object: what is left in the backing directory is
 * what was fsynced, nothing more.
 *
 * Plain synchronous calls on the backing directory only (never on the mount this state serves): a
 * FUSE server that calls into its own mount deadlocks.
 */
import {
  closeSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";

export interface FileNode {
  kind: "file";
  ino: number;
  /** Volatile content: `data` is a growable buffer, the first `size` bytes count. */
  data: Buffer;
  size: number;
  /** What an fsync made durable. A new file is durably empty until its first fsync. */
  durable: Buffer;
  /** The byte range written since the last fsync (from > to when clean), and whether size moved. */
  dirtyFrom: number;
  dirtyTo: number;
  mode: number;
  mtimeMs: number;
  /** Names in the volatile tree. */
  nlink: number;
}

export interface DirNode {
  kind: "dir";
  ino: number;
  entries: Map<string, Node>;
  /** The entries an fsync of this directory made durable. */
  durableEntries: Map<string, Node>;
  mode: number;
  mtimeMs: number;
}

export type Node = FileNode | DirNode;

/** An operating error with the errno a FUSE reply carries. */
export class FsError extends Error {
  constructor(readonly errno: "ENOENT" | "EEXIST" | "ENOTDIR" | "EISDIR" | "ENOTEMPTY" | "EINVAL") {
    super(errno);
  }
}

const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;

export class PageCache {
  readonly root: DirNode;
  private nextIno = 2;

  /** Loads the backing directory: at mount time the volatile and durable views are the same. */
  constructor(readonly backing: string) {
    this.root = this.newDir(0o755);
    this.root.ino = 1;
    this.load(backing, this.root);
  }

  // ------------------------------------------------------------------ lookups

  resolve(path: string): Node {
    let node: Node = this.root;
    for (const name of split(path)) {
      if (node.kind !== "dir") throw new FsError("ENOTDIR");
      const next = node.entries.get(name);
      if (!next) throw new FsError("ENOENT");
      node = next;
    }
    return node;
  }

  stat(node: Node): { mode: number; size: number; nlink: number; ino: number; mtimeMs: number } {
    if (node.kind === "dir") {
      return { mode: S_IFDIR | node.mode, size: 4096, nlink: 2, ino: node.ino, mtimeMs: node.mtimeMs };
    }
    return {
      mode: S_IFREG | node.mode,
      size: node.size,
      nlink: Math.max(1, node.nlink),
      ino: node.ino,
      mtimeMs: node.mtimeMs,
    };
  }

  // ------------------------------------------------------------------ volatile operations

  create(path: string, mode: number): FileNode {
    const [dir, name] = this.parent(path);
    const old = dir.entries.get(name);
    if (old?.kind === "file") return old;
    if (old) throw new FsError("EEXIST");
    const f: FileNode = {
      kind: "file",
      ino: this.nextIno++,
      data: Buffer.alloc(0),
      size: 0,
      durable: Buffer.alloc(0),
      dirtyFrom: 1,
      dirtyTo: 0,
      mode: mode & 0o7777,
      mtimeMs: Date.now(),
      nlink: 1,
    };
    dir.entries.set(name, f);
    dir.mtimeMs = Date.now();
    return f;
  }

  mkdir(path: string, mode: number): void {
    const [dir, name] = this.parent(path);
    if (dir.entries.has(name)) throw new FsError("EEXIST");
    dir.entries.set(name, this.newDir(mode & 0o7777));
    dir.mtimeMs = Date.now();
  }

  write(f: FileNode, buf: Buffer, position: number): number {
    const end = position + buf.length;
    const start = Math.min(position, f.size);
    if (end > f.data.length) {
      const grown = Buffer.alloc(Math.max(end, f.data.length * 2, 4096));
      f.data.copy(grown, 0, 0, f.size);
      f.data = grown;
    }
    // A write past the end leaves a hole of zeros (the buffer may hold stale bytes from a truncate).
    if (position > f.size) f.data.fill(0, f.size, position);
    buf.copy(f.data, position);
    f.size = Math.max(f.size, end);
    this.markDirty(f, start, end);
    f.mtimeMs = Date.now();
    return buf.length;
  }

  read(f: FileNode, buf: Buffer, length: number, position: number): number {
    if (position >= f.size) return 0;
    const n = Math.min(length, f.size - position);
    f.data.copy(buf, 0, position, position + n);
    return n;
  }

  truncate(f: FileNode, size: number): void {
    if (size > f.size) {
      // Growing writes zeros: the same as writing them.
      this.write(f, Buffer.alloc(size - f.size), f.size);
      return;
    }
    f.size = size;
    this.markDirty(f, size, size);
    f.mtimeMs = Date.now();
  }

  unlink(path: string): void {
    const [dir, name] = this.parent(path);
    const node = dir.entries.get(name);
    if (!node) throw new FsError("ENOENT");
    if (node.kind === "dir") throw new FsError("EISDIR");
    dir.entries.delete(name);
    node.nlink--;
    dir.mtimeMs = Date.now();
  }

  rmdir(path: string): void {
    const [dir, name] = this.parent(path);
    const node = dir.entries.get(name);
    if (!node) throw new FsError("ENOENT");
    if (node.kind !== "dir") throw new FsError("ENOTDIR");
    if (node.entries.size > 0) throw new FsError("ENOTEMPTY");
    dir.entries.delete(name);
    dir.mtimeMs = Date.now();
  }

  rename(from: string, to: string): void {
    const [srcDir, srcName] = this.parent(from);
    const node = srcDir.entries.get(srcName);
    if (!node) throw new FsError("ENOENT");
    const [dstDir, dstName] = this.parent(to);
    const old = dstDir.entries.get(dstName);
    if (old === node) return;
    if (old?.kind === "dir") {
      if (node.kind !== "dir") throw new FsError("EISDIR");
      if (old.entries.size > 0) throw new FsError("ENOTEMPTY");
    } else if (old && node.kind === "dir") {
      throw new FsError("ENOTDIR");
    }
    if (old?.kind === "file") old.nlink--;
    srcDir.entries.delete(srcName);
    dstDir.entries.set(dstName, node);
    srcDir.mtimeMs = Date.now();
    dstDir.mtimeMs = Date.now();
  }

  // ------------------------------------------------------------------ durability

  /** fsync/fdatasync of a file: its content (not its name) becomes durable. */
  fsyncFile(f: FileNode): void {
    const from = Math.min(f.dirtyFrom, f.size);
    const to = Math.min(f.dirtyTo, f.size);
    const durable = Buffer.alloc(f.size);
    f.durable.copy(durable, 0, 0, Math.min(f.durable.length, f.size));
    if (from < to) f.data.copy(durable, from, from, to);
    f.durable = durable;
    // Only the changed range goes to the backing file(s), which mirror the previous durable content.
    for (const path of this.durablePaths(f)) {
      const fd = openSync(path, "r+");
      try {
        if (from < to) writeSync(fd, durable, from, to - from, from);
        ftruncateSync(fd, f.size);
      } finally {
        closeSync(fd);
      }
    }
    f.dirtyFrom = 1;
    f.dirtyTo = 0;
  }

  /** fsync of a directory: its current entries become durable (contents of files stay as synced). */
  fsyncDir(dir: DirNode): void {
    const before = dir.durableEntries;
    // libfuse (without hard_remove, which fuse-native cannot pass) keeps a file unlinked while open
    // under a `.fuse_hidden*` name until it is closed; on a disk such a file has no name at all.
    const after = new Map([...dir.entries].filter(([name]) => !name.startsWith(".fuse_hidden")));
    dir.durableEntries = after;
    const paths = this.durablePaths(dir);
    for (const base of paths) {
      for (const [name, node] of before) {
        if (after.get(name) !== node) rmSync(join(base, name), { recursive: true, force: true });
      }
      for (const [name, node] of after) {
        if (before.get(name) !== node) this.materialize(node, join(base, name));
      }
    }
  }

  /** `sync(1)`: every file's content, then every directory's entries, top down, become durable. */
  syncAll(): void {
    const files: FileNode[] = [];
    const dirs: DirNode[] = [];
    const walk = (dir: DirNode): void => {
      dirs.push(dir);
      for (const child of dir.entries.values()) {
        if (child.kind === "dir") walk(child);
        else files.push(child);
      }
    };
    walk(this.root);
    for (const f of files) this.fsyncFile(f);
    for (const d of dirs) this.fsyncDir(d);
  }

  // ------------------------------------------------------------------ internals

  private markDirty(f: FileNode, from: number, to: number): void {
    const clean = f.dirtyFrom > f.dirtyTo;
    f.dirtyFrom = clean ? from : Math.min(f.dirtyFrom, from);
    f.dirtyTo = clean ? to : Math.max(f.dirtyTo, to);
  }

  /** Writes a node's durable state at `path` in the backing directory. */
  private materialize(node: Node, path: string): void {
    if (node.kind === "file") {
      const fd = openSync(path, "w");
      try {
        writeSync(fd, node.durable, 0, node.durable.length, 0);
      } finally {
        closeSync(fd);
      }
      return;
    }
    mkdirSync(path);
    for (const [name, child] of node.durableEntries) this.materialize(child, join(path, name));
  }

  /** Every backing path where the durable tree reaches `target`. */
  private durablePaths(target: Node): string[] {
    const out: string[] = [];
    const walk = (dir: DirNode, path: string): void => {
      if (dir === target) out.push(path);
      for (const [name, child] of dir.durableEntries) {
        if (child === target) out.push(join(path, name));
        else if (child.kind === "dir") walk(child, join(path, name));
      }
    };
    if (target === this.root) return [this.backing];
    walk(this.root, this.backing);
    return out;
  }

  private parent(path: string): [DirNode, string] {
    const parts = split(path);
    const name = parts.pop();
    if (name === undefined) throw new FsError("EINVAL");
    const dir = this.resolve(`/${parts.join("/")}`);
    if (dir.kind !== "dir") throw new FsError("ENOTDIR");
    return [dir, name];
  }

  private newDir(mode: number): DirNode {
    return {
      kind: "dir",
      ino: this.nextIno++,
      entries: new Map(),
      durableEntries: new Map(),
      mode,
      mtimeMs: Date.now(),
    };
  }

  private load(path: string, dir: DirNode): void {
    for (const name of readdirSync(path)) {
      const p = join(path, name);
      const st = statSync(p);
      let node: Node;
      if (st.isDirectory()) {
        node = this.newDir(st.mode & 0o7777);
        this.load(p, node);
      } else {
        const data = readFileSync(p);
        node = {
          kind: "file",
          ino: this.nextIno++,
          data: Buffer.from(data),
          size: data.length,
          durable: data,
          dirtyFrom: 1,
          dirtyTo: 0,
          mode: st.mode & 0o7777,
          mtimeMs: st.mtimeMs,
          nlink: 1,
        };
      }
      dir.entries.set(name, node);
      dir.durableEntries.set(name, node);
    }
  }
}

function split(path: string): string[] {
  return path.split("/").filter((s) => s.length > 0);
}
