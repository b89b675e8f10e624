/**
 * The FUSE kernel protocol (include/uapi/linux/fuse.h), spoken directly on /dev/fuse: request headers
 * in, replies out, and the few structures the operations we serve exchange. Little-endian, as the
 * kernel writes them on x86-64 and arm64. We answer INIT with minor 31: the kernel then keeps every
 * structure at its 7.31 size (no extension headers), whatever newer minor it speaks itself.
 */

export const FUSE_KERNEL_VERSION = 7;
export const FUSE_KERNEL_MINOR = 31;
export const ROOT_INO = 1n;

export const Op = {
  LOOKUP: 1,
  FORGET: 2,
  GETATTR: 3,
  SETATTR: 4,
  READLINK: 5,
  SYMLINK: 6,
  MKNOD: 8,
  MKDIR: 9,
  UNLINK: 10,
  RMDIR: 11,
  RENAME: 12,
  LINK: 13,
  OPEN: 14,
  READ: 15,
  WRITE: 16,
  STATFS: 17,
  RELEASE: 18,
  FSYNC: 20,
  SETXATTR: 21,
  GETXATTR: 22,
  LISTXATTR: 23,
  REMOVEXATTR: 24,
  FLUSH: 25,
  INIT: 26,
  OPENDIR: 27,
  READDIR: 28,
  RELEASEDIR: 29,
  FSYNCDIR: 30,
  GETLK: 31,
  SETLK: 32,
  SETLKW: 33,
  ACCESS: 34,
  CREATE: 35,
  INTERRUPT: 36,
  DESTROY: 38,
  BATCH_FORGET: 42,
  READDIRPLUS: 44,
  RENAME2: 45,
} as const;

/** INIT flags we may ask for (each only if the kernel offered it). */
export const InitFlag = {
  ASYNC_READ: 1 << 0,
  POSIX_LOCKS: 1 << 1,
  FLOCK_LOCKS: 1 << 10,
  ATOMIC_O_TRUNC: 1 << 3,
  BIG_WRITES: 1 << 5,
  AUTO_INVAL_DATA: 1 << 12,
  /** READDIRPLUS for every listing: entries come with attributes (the list page carries them). */
  DO_READDIRPLUS: 1 << 13,
  PARALLEL_DIROPS: 1 << 18,
  MAX_PAGES: 1 << 22,
} as const;

/** SETATTR `valid` bits. */
export const Fattr = {
  MODE: 1 << 0,
  UID: 1 << 1,
  GID: 1 << 2,
  SIZE: 1 << 3,
  ATIME: 1 << 4,
  MTIME: 1 << 5,
  FH: 1 << 6,
  ATIME_NOW: 1 << 7,
  MTIME_NOW: 1 << 8,
  CTIME: 1 << 10,
} as const;

/** FOPEN_* reply flags. */
export const FOPEN_KEEP_CACHE = 1 << 1;

/** open(2) flags as the kernel passes them (x86-64/arm64 values). */
export const O_ACCMODE = 3;
export const O_WRONLY = 1;
export const O_RDWR = 2;
export const O_EXCL = 0o200;
export const O_TRUNC = 0o1000;

export const RENAME_NOREPLACE = 1;
export const RENAME_EXCHANGE = 2;

export const S_IFDIR = 0o040000;
export const S_IFREG = 0o100000;
export const S_IFLNK = 0o120000;
export const DT_DIR = 4;
export const DT_REG = 8;
export const DT_LNK = 10;

export const IN_HEADER_BYTES = 40;
export const OUT_HEADER_BYTES = 16;
/** struct fuse_entry_out's size. */
export const ENTRY_OUT_BYTES = 128;
/** Largest WRITE payload we accept (the kernel splits larger writes); the read buffer adds a header page. */
export const MAX_WRITE_BYTES = 1024 * 1024;
export const READ_BUFFER_BYTES = MAX_WRITE_BYTES + 8192;

export interface InHeader {
  len: number;
  opcode: number;
  unique: bigint;
  nodeid: bigint;
  uid: number;
  gid: number;
  pid: number;
}

export interface Request {
  header: InHeader;
  /** The bytes after the header (the operation's argument). */
  body: Buffer;
}

export function parseRequest(buf: Buffer): Request {
  if (buf.byteLength < IN_HEADER_BYTES) throw new Error(`short FUSE request: ${buf.byteLength} bytes`);
  const header: InHeader = {
    len: buf.readUInt32LE(0),
    opcode: buf.readUInt32LE(4),
    unique: buf.readBigUInt64LE(8),
    nodeid: buf.readBigUInt64LE(16),
    uid: buf.readUInt32LE(24),
    gid: buf.readUInt32LE(28),
    pid: buf.readUInt32LE(32),
  };
  return { header, body: buf.subarray(IN_HEADER_BYTES, header.len) };
}

/**
 * A reply: header plus payload, as the parts of one write (writev): a READ's payload, up to 1 MiB, is
 * a view of the chunk read and goes to the kernel without a copy. `errno` positive here, negated on
 * the wire as the kernel wants.
 */
export function encodeReply(unique: bigint, errno: number, payload?: Buffer): Buffer[] {
  const body = errno === 0 && payload ? payload : null;
  const header = Buffer.alloc(OUT_HEADER_BYTES);
  header.writeUInt32LE(OUT_HEADER_BYTES + (body?.byteLength ?? 0), 0);
  header.writeInt32LE(-errno, 4);
  header.writeBigUInt64LE(unique, 8);
  return body === null || body.byteLength === 0 ? [header] : [header, body];
}

/** The strings after a fixed-size argument: NUL-terminated names (LOOKUP, MKDIR, RENAME...). */
export function names(body: Buffer, offset: number, count: number): string[] {
  const out: string[] = [];
  let at = offset;
  for (let i = 0; i < count; i++) {
    const end = body.indexOf(0, at);
    if (end < 0) throw new Error("FUSE name without NUL");
    out.push(body.toString("utf8", at, end));
    at = end + 1;
  }
  return out;
}

export interface InitIn {
  major: number;
  minor: number;
  maxReadahead: number;
  flags: number;
}

export function parseInit(body: Buffer): InitIn {
  return {
    major: body.readUInt32LE(0),
    minor: body.readUInt32LE(4),
    maxReadahead: body.readUInt32LE(8),
    flags: body.readUInt32LE(12),
  };
}

export function encodeInitOut(kernel: InitIn): Buffer {
  const wanted =
    // Read-ahead READs sent in the background: the kernel asks for the next window while the reader
    // consumes this one, instead of each read(2) waiting for its READ (handles.ts serves them in order).
    InitFlag.ASYNC_READ |
    InitFlag.POSIX_LOCKS |
    InitFlag.FLOCK_LOCKS |
    InitFlag.ATOMIC_O_TRUNC |
    InitFlag.BIG_WRITES |
    InitFlag.AUTO_INVAL_DATA |
    InitFlag.DO_READDIRPLUS |
    InitFlag.PARALLEL_DIROPS |
    InitFlag.MAX_PAGES;
  const b = Buffer.alloc(64);
  b.writeUInt32LE(FUSE_KERNEL_VERSION, 0);
  b.writeUInt32LE(FUSE_KERNEL_MINOR, 4);
  b.writeUInt32LE(kernel.maxReadahead, 8);
  b.writeUInt32LE((kernel.flags & wanted) >>> 0, 12);
  b.writeUInt16LE(64, 16); // max_background
  b.writeUInt16LE(48, 18); // congestion_threshold
  b.writeUInt32LE(MAX_WRITE_BYTES, 20);
  b.writeUInt32LE(1_000_000, 24); // time_gran: our times are milliseconds
  b.writeUInt16LE(MAX_WRITE_BYTES / 4096, 28); // max_pages
  return b;
}

export interface Attr {
  ino: bigint;
  sizeBytes: number;
  mode: number;
  nlink: number;
  uid: number;
  gid: number;
  atimeMs: number;
  mtimeMs: number;
  ctimeMs: number;
}

function writeTime(b: Buffer, secAt: number, nsecAt: number, ms: number): void {
  const sec = Math.floor(ms / 1000);
  b.writeBigUInt64LE(BigInt(Math.max(0, sec)), secAt);
  b.writeUInt32LE(Math.max(0, Math.round((ms - sec * 1000) * 1e6)) % 1e9, nsecAt);
}

/** struct fuse_attr (88 bytes) at `at`. */
function writeAttr(b: Buffer, at: number, a: Attr): void {
  b.writeBigUInt64LE(a.ino, at);
  b.writeBigUInt64LE(BigInt(a.sizeBytes), at + 8);
  b.writeBigUInt64LE(BigInt(Math.ceil(a.sizeBytes / 512)), at + 16);
  writeTime(b, at + 24, at + 48, a.atimeMs);
  writeTime(b, at + 32, at + 52, a.mtimeMs);
  writeTime(b, at + 40, at + 56, a.ctimeMs);
  b.writeUInt32LE(a.mode, at + 60);
  b.writeUInt32LE(a.nlink, at + 64);
  b.writeUInt32LE(a.uid, at + 68);
  b.writeUInt32LE(a.gid, at + 72);
  b.writeUInt32LE(0, at + 76); // rdev
  b.writeUInt32LE(4096, at + 80); // blksize
}

function writeValid(b: Buffer, secAt: number, nsecAt: number, validMs: number): void {
  b.writeBigUInt64LE(BigInt(Math.floor(validMs / 1000)), secAt);
  b.writeUInt32LE((validMs % 1000) * 1e6, nsecAt);
}

/**
 * struct fuse_entry_out (128 bytes). `nodeid` is the kernel's handle for the node (nodes.ts);
 * `a.ino` is what stat reports as st_ino, which need not be the same number.
 */
export function encodeEntry(nodeid: bigint, a: Attr, validMs: number): Buffer {
  const b = Buffer.alloc(ENTRY_OUT_BYTES);
  b.writeBigUInt64LE(nodeid, 0);
  writeValid(b, 16, 32, validMs);
  writeValid(b, 24, 36, validMs);
  writeAttr(b, 40, a);
  return b;
}

/** A negative entry (nodeid 0): the kernel caches "no such name" for `validMs`. */
export function encodeNegativeEntry(validMs: number): Buffer {
  const b = Buffer.alloc(128);
  writeValid(b, 16, 32, validMs);
  return b;
}

/** struct fuse_attr_out (104 bytes). */
export function encodeAttrOut(a: Attr, validMs: number): Buffer {
  const b = Buffer.alloc(104);
  writeValid(b, 0, 8, validMs);
  writeAttr(b, 16, a);
  return b;
}

/** struct fuse_open_out (16 bytes). */
export function encodeOpenOut(fh: bigint, openFlags: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeBigUInt64LE(fh, 0);
  b.writeUInt32LE(openFlags, 8);
  return b;
}

/** struct fuse_write_out (8 bytes). */
export function encodeWriteOut(size: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt32LE(size, 0);
  return b;
}

export interface StatfsOut {
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  bsize: number;
}

/** struct fuse_statfs_out (80 bytes). */
export function encodeStatfs(s: StatfsOut): Buffer {
  const b = Buffer.alloc(80);
  b.writeBigUInt64LE(BigInt(s.blocks), 0);
  b.writeBigUInt64LE(BigInt(s.bfree), 8);
  b.writeBigUInt64LE(BigInt(s.bavail), 16);
  b.writeBigUInt64LE(BigInt(s.files), 24);
  b.writeBigUInt64LE(BigInt(s.ffree), 32);
  b.writeUInt32LE(s.bsize, 40);
  b.writeUInt32LE(255, 44); // namelen
  b.writeUInt32LE(s.bsize, 48); // frsize
  return b;
}

/**
 * struct fuse_dirent: ino, the cookie of the *next* entry, name length, type, name padded to 8.
 * Returns null when it would not fit in `room` bytes (the kernel asks again from that cookie).
 */
export function encodeDirent(
  e: { ino: bigint; nextOffset: number; name: string; type: number },
  room: number,
): Buffer | null {
  const name = Buffer.from(e.name, "utf8");
  const size = direntBytes(name.byteLength);
  if (size > room) return null;
  const b = Buffer.alloc(size);
  b.writeBigUInt64LE(e.ino, 0);
  b.writeBigUInt64LE(BigInt(e.nextOffset), 8);
  b.writeUInt32LE(name.byteLength, 16);
  b.writeUInt32LE(e.type, 20);
  name.copy(b, 24);
  return b;
}

/** Bytes of a fuse_dirent for a name of `nameBytes` bytes (padded to 8). */
function direntBytes(nameBytes: number): number {
  return (24 + nameBytes + 7) & ~7;
}

/** Bytes of a fuse_direntplus for `name`: a fuse_entry_out, then the fuse_dirent. */
export function direntPlusBytes(name: string): number {
  return ENTRY_OUT_BYTES + direntBytes(Buffer.byteLength(name));
}

/**
 * struct fuse_direntplus: `entry` (a fuse_entry_out; all zero, nodeid 0, when the entry carries no
 * attributes) then the fuse_dirent. The kernel counts a lookup of every entry with a nodeid, whether
 * or not it fits the caller's buffer, so the caller checks `direntPlusBytes` before naming a node.
 */
export function encodeDirentPlus(
  entry: Buffer,
  e: { ino: bigint; nextOffset: number; name: string; type: number },
): Buffer {
  const dirent = encodeDirent(e, Number.MAX_SAFE_INTEGER);
  if (entry.byteLength !== ENTRY_OUT_BYTES || dirent === null) throw new Error("bad direntplus");
  return Buffer.concat([entry, dirent]);
}

/** fuse_read_in / fuse_write_in share their first fields: fh, offset, size. */
export function parseIo(body: Buffer): { fh: bigint; offset: number; size: number; flags: number } {
  return {
    fh: body.readBigUInt64LE(0),
    offset: Number(body.readBigUInt64LE(8)),
    size: body.readUInt32LE(16),
    flags: body.readUInt32LE(32),
  };
}

export const WRITE_IN_BYTES = 40;

/** Notifications the server sends unasked (the out header's `error` holds the code, `unique` is 0). */
export const Notify = { INVAL_INODE: 2, INVAL_ENTRY: 3 } as const;

/**
 * FUSE_NOTIFY_INVAL_INODE: drop the kernel's attributes of `ino`, and with `pages` its cached
 * content too (offset 0, length 0: all of it; a negative offset: attributes only).
 */
export function encodeInvalInode(ino: bigint, pages: boolean): Buffer {
  const b = Buffer.alloc(OUT_HEADER_BYTES + 24);
  b.writeUInt32LE(b.byteLength, 0);
  b.writeInt32LE(Notify.INVAL_INODE, 4);
  b.writeBigUInt64LE(ino, 16);
  b.writeBigInt64LE(pages ? 0n : -1n, 24);
  b.writeBigInt64LE(0n, 32);
  return b;
}

/** FUSE_NOTIFY_INVAL_ENTRY: drop the kernel's cached lookup of `name` in directory `parent`. */
export function encodeInvalEntry(parent: bigint, name: string): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(OUT_HEADER_BYTES + 16 + n.byteLength + 1);
  b.writeUInt32LE(b.byteLength, 0);
  b.writeInt32LE(Notify.INVAL_ENTRY, 4);
  b.writeBigUInt64LE(parent, 16);
  b.writeUInt32LE(n.byteLength, 24);
  n.copy(b, 32);
  return b;
}

export interface SetattrIn {
  valid: number;
  fh: bigint;
  size: number;
  atimeMs: number;
  mtimeMs: number;
  mode: number;
  uid: number;
  gid: number;
}

export function parseSetattr(body: Buffer): SetattrIn {
  const ms = (secAt: number, nsecAt: number) =>
    Number(body.readBigUInt64LE(secAt)) * 1000 + Math.floor(body.readUInt32LE(nsecAt) / 1e6);
  return {
    valid: body.readUInt32LE(0),
    fh: body.readBigUInt64LE(8),
    size: Number(body.readBigUInt64LE(16)),
    atimeMs: ms(32, 56),
    mtimeMs: ms(40, 60),
    mode: body.readUInt32LE(68),
    uid: body.readUInt32LE(76),
    gid: body.readUInt32LE(80),
  };
}
