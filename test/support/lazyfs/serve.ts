/**
 * The power-loss layer's FUSE server, run as its own child process (never inside the test process:
 * a FUSE server must not block on calls into its own mount, and a test that reads the mount would):
 *
 *   node --import tsx test/support/lazyfs/serve.ts <backingDir> <mountPoint>
 *
 * Every operation goes to the in-memory page cache (page-cache.ts); only fsync/fdatasync of a file
 * and fsync of a directory write through to the backing directory. Control over the IPC channel:
 * `{ cmd: "cut" }` cuts power — pending state is dropped (never written), the mount goes away and the
 * process exits, so the backing directory holds exactly what was fsynced. `{ cmd: "unmount" }` does
 * the same at the end of a test (a clean unmount without fsync loses the same data: the layer never
 * writes back on its own). `{ cmd: "sync" }` is sync(1): everything pending becomes durable, answered
 * with `{ synced: true }`. It sends `{ ready: true }` once mounted.
 */
import { createRequire } from "node:module";
import { type FileNode, FsError, type Node, PageCache } from "./page-cache.js";

type Cb = (code: number, ...values: unknown[]) => void;
interface FuseInstance {
  mount(cb: (err: Error | null) => void): void;
  unmount(cb: (err: Error | null) => void): void;
}
interface FuseCtor {
  new (mnt: string, ops: Record<string, unknown>, opts: Record<string, unknown>): FuseInstance;
  [errno: string]: unknown;
}

const Fuse = createRequire(import.meta.url)("fuse-native") as FuseCtor;
const errno = (name: string): number => Fuse[name] as number;

const [backing, mountPoint] = process.argv.slice(2);
if (!backing || !mountPoint) {
  process.stderr.write("usage: serve.ts <backingDir> <mountPoint>\n");
  process.exit(2);
}

const cache = new PageCache(backing);
/** Open handles → nodes: reads and writes go by handle, since a path may have been renamed or unlinked. */
const handles = new Map<number, Node>();
let nextHandle = 10;
const O_TRUNC = 0o1000;
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

/** Runs one operation; a typed FsError becomes its errno, anything else is a bug and answers EIO. */
function run(cb: Cb, op: () => unknown[] | undefined): void {
  try {
    const values = op() ?? [];
    cb(0, ...values);
  } catch (err) {
    if (err instanceof FsError) {
      cb(errno(err.errno));
      return;
    }
    process.stderr.write(`lazyfs: ${(err as Error).stack}\n`);
    cb(errno("EIO"));
  }
}

function file(handle: number, path: string): FileNode {
  const n = handles.get(handle) ?? cache.resolve(path);
  if (n.kind !== "file") throw new FsError("EISDIR");
  return n;
}

function open(node: Node): number {
  const h = nextHandle++;
  handles.set(h, node);
  return h;
}

function statOf(node: Node): Record<string, unknown> {
  const s = cache.stat(node);
  const t = new Date(s.mtimeMs);
  return { ...s, uid, gid, mtime: t, atime: t, ctime: t, blksize: 4096, blocks: Math.ceil(s.size / 512) };
}

const ops = {
  init: (cb: Cb) => cb(0),
  access: (_p: string, _m: number, cb: Cb) => cb(0),
  statfs: (_p: string, cb: Cb) =>
    cb(0, {
      bsize: 4096,
      frsize: 4096,
      blocks: 1 << 24,
      bfree: 1 << 23,
      bavail: 1 << 23,
      files: 1 << 20,
      ffree: 1 << 19,
      favail: 1 << 19,
      fsid: 0,
      flag: 0,
      namemax: 255,
    }),
  getattr: (p: string, cb: Cb) => run(cb, () => [statOf(cache.resolve(p))]),
  fgetattr: (p: string, h: number, cb: Cb) => run(cb, () => [statOf(handles.get(h) ?? cache.resolve(p))]),
  readdir: (p: string, cb: Cb) =>
    run(cb, () => {
      const n = cache.resolve(p);
      if (n.kind !== "dir") throw new FsError("ENOTDIR");
      return [[...n.entries.keys()]];
    }),
  opendir: (p: string, _f: number, cb: Cb) => run(cb, () => [open(cache.resolve(p))]),
  releasedir: (_p: string, h: number, cb: Cb) => {
    handles.delete(h);
    cb(0);
  },
  open: (p: string, flags: number, cb: Cb) =>
    run(cb, () => {
      const n = cache.resolve(p);
      if (n.kind === "file" && flags & O_TRUNC) cache.truncate(n, 0);
      return [open(n)];
    }),
  create: (p: string, mode: number, cb: Cb) => run(cb, () => [open(cache.create(p, mode))]),
  release: (_p: string, h: number, cb: Cb) => {
    handles.delete(h);
    cb(0);
  },
  flush: (_p: string, _h: number, cb: Cb) => cb(0),
  // fuse-native takes the byte count of a read or write as the return code, not as a value.
  read: (p: string, h: number, buf: Buffer, len: number, pos: number, cb: Cb) =>
    run(
      (code, n) => cb(code === 0 ? (n as number) : code),
      () => [cache.read(file(h, p), buf, len, pos)],
    ),
  write: (p: string, h: number, buf: Buffer, len: number, pos: number, cb: Cb) =>
    // fuse-native's buffer is reused by the next call: the page cache copies it.
    run(
      (code, n) => cb(code === 0 ? (n as number) : code),
      () => [cache.write(file(h, p), buf.subarray(0, len), pos)],
    ),
  truncate: (p: string, size: number, cb: Cb) =>
    run(cb, () => {
      cache.truncate(file(-1, p), size);
      return [];
    }),
  ftruncate: (p: string, h: number, size: number, cb: Cb) =>
    run(cb, () => {
      cache.truncate(file(h, p), size);
      return [];
    }),
  fsync: (p: string, h: number, _datasync: boolean, cb: Cb) =>
    run(cb, () => {
      cache.fsyncFile(file(h, p));
      return [];
    }),
  fsyncdir: (p: string, h: number, _datasync: boolean, cb: Cb) =>
    run(cb, () => {
      const n = handles.get(h) ?? cache.resolve(p);
      if (n.kind !== "dir") throw new FsError("ENOTDIR");
      cache.fsyncDir(n);
      return [];
    }),
  unlink: (p: string, cb: Cb) =>
    run(cb, () => {
      cache.unlink(p);
      return [];
    }),
  rename: (from: string, to: string, cb: Cb) =>
    run(cb, () => {
      cache.rename(from, to);
      return [];
    }),
  mkdir: (p: string, mode: number, cb: Cb) =>
    run(cb, () => {
      cache.mkdir(p, mode);
      return [];
    }),
  rmdir: (p: string, cb: Cb) =>
    run(cb, () => {
      cache.rmdir(p);
      return [];
    }),
  chmod: (_p: string, _mode: number, cb: Cb) => cb(0),
  chown: (_p: string, _u: number, _g: number, cb: Cb) => cb(0),
  utimens: (p: string, _a: number, m: number, cb: Cb) =>
    run(cb, () => {
      cache.resolve(p).mtimeMs = m;
      return [];
    }),
};

// The default 15 s per-operation timeout would answer EIO under a slow test; operations here never wait.
const fuse = new Fuse(mountPoint, ops, { force: true, mkdir: true, timeout: false });

function stop(): void {
  // No write-back: whatever was not fsynced is gone, which is the point.
  fuse.unmount(() => process.exit(0));
  // An unmount that hangs (a process still in the mount) must not keep the layer alive.
  setTimeout(() => process.exit(1), 5000).unref();
}

process.on("message", (m: { cmd?: string }) => {
  if (m.cmd === "cut" || m.cmd === "unmount") stop();
  if (m.cmd === "sync") {
    cache.syncAll();
    process.send?.({ synced: true });
  }
});
process.on("disconnect", stop);
process.on("SIGTERM", stop);

fuse.mount((err) => {
  if (err) {
    process.stderr.write(`lazyfs: mount ${mountPoint}: ${err.message}\n`);
    process.exit(1);
  }
  process.send?.({ ready: true });
});
