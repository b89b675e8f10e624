/**
 * The FUSE operations onto the client library: one method per opcode, translating arguments, results
 * and errors and nothing else (file semantics live in handles.ts, node ids in nodes.ts). Every
 * request gets exactly one reply, within a deadline: a cluster that does not answer becomes EIO,
 * never a hung program.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ChunkPatcher, type RaftfsClient } from "../client/index.js";
import { DfsError } from "../common/errors.js";
import { parentOf } from "../common/paths.js";
import type { StatResponse } from "../common/protocol/index.js";
import { attrChangeOf, attrOfStat, isEmpty, withChange } from "./attrs.js";
import type { FuseDevice } from "./device.js";
import { DirStats } from "./dir-stats.js";
import { DirListings } from "./dirs.js";
import { ERRNO, Errno, errnoOf } from "./errno.js";
import { OpenFile } from "./handles.js";
import { MountLinks, parseSymlink } from "./links.js";
import { FUSE_LK_FLOCK, MountLocks, parseLockIn } from "./locks.js";
import { childPath, NodeTable } from "./nodes.js";
import { OpCounts } from "./op-counts.js";
import { armDeadline, type TransferProgress } from "./progress.js";
import {
  type Attr,
  encodeAttrOut,
  encodeEntry,
  encodeInitOut,
  encodeInvalInode,
  encodeOpenOut,
  encodeReply,
  encodeWriteOut,
  Fattr,
  names,
  O_ACCMODE,
  O_TRUNC,
  Op,
  parseInit,
  parseIo,
  parseRequest,
  parseSetattr,
  RENAME_EXCHANGE,
  RENAME_NOREPLACE,
  type Request,
  ROOT_INO,
  WRITE_IN_BYTES,
} from "./protocol.js";
import { Statfs } from "./statfs.js";

export interface MountOptions {
  readOnly: boolean;
  /** How long the kernel may cache attributes and names: the bound on seeing others' changes. */
  attrValidMs: number;
  /**
   * A request still unanswered after this long gets EIO. Data transfers get `dataDeadlineMs`, restarted
   * while `progress` shows the client moving bytes (a slow cluster is not a dead one).
   */
  metaDeadlineMs: number;
  dataDeadlineMs: number;
  progress?: TransferProgress;
  log: (line: string) => void;
}

const DATA_OPS: ReadonlySet<number> = new Set([
  Op.SETLKW,
  Op.READ,
  Op.WRITE,
  Op.FLUSH,
  Op.FSYNC,
  Op.RELEASE,
  Op.SETATTR,
]);
/** Requests the kernel expects no reply to. */
const NO_REPLY: ReadonlySet<number> = new Set([Op.FORGET, Op.BATCH_FORGET, Op.INTERRUPT]);

/** Mode bits (umask applied) and owner of a node a CREATE or MKDIR makes. */
type NodeAttrs = { mode: number; uid: number; gid: number };

export class FuseSession {
  readonly nodes = new NodeTable();
  /** Requests served by operation (the mount's log reports them at the end). */
  readonly opCounts = new OpCounts();
  private readonly files = new Map<bigint, OpenFile>();
  private readonly locks: MountLocks;
  private readonly links: MountLinks;
  private nextFh = 1n;
  private readonly spoolDir = mkdtempSync(join(tmpdir(), "raftfs-mount-"));
  private readonly uid = process.getuid?.() ?? 0;
  private readonly gid = process.getgid?.() ?? 0;
  private readonly statfs: Statfs;
  private readonly patcher: ChunkPatcher;
  private readonly dirStats: DirStats;
  private readonly dirs: DirListings;
  /** Resolves when the kernel sends DESTROY (unmounted). */
  onDestroy: () => void = () => undefined;

  constructor(
    private readonly client: RaftfsClient,
    private readonly device: FuseDevice,
    private readonly opts: MountOptions,
  ) {
    this.locks = new MountLocks(client);
    this.links = new MountLinks(client, (p) => this.statDir(p));
    this.statfs = new Statfs(client);
    this.patcher = new ChunkPatcher(client);
    this.dirStats = new DirStats(opts.attrValidMs);
    this.dirs = new DirListings({
      client,
      nodes: this.nodes,
      attrValidMs: opts.attrValidMs,
      entryFor: (path, st, validMs) =>
        this.nodes.size < this.nodes.maxNodes ? this.entry(path, st, validMs) : null,
    });
  }

  /** Handles one raw request from the device. */
  handle(buf: Buffer): void {
    let req: Request;
    try {
      req = parseRequest(buf);
    } catch (err) {
      this.opts.log(`raftfs mount: ${(err as Error).message}`);
      return;
    }
    const { opcode, unique } = req.header;
    this.opCounts.count(opcode);
    let replied = false;
    const reply = (errno: number, payload?: Buffer) => {
      if (replied || NO_REPLY.has(opcode)) return;
      replied = true;
      this.device.write(encodeReply(unique, errno, payload));
    };
    const data = DATA_OPS.has(opcode);
    const budget = data ? this.opts.dataDeadlineMs : this.opts.metaDeadlineMs;
    const cancel = armDeadline(budget, data ? (this.opts.progress ?? null) : null, (waited) => {
      this.opts.log(`raftfs mount: opcode ${opcode} unanswered after ${waited} ms (no headway): EIO`);
      reply(ERRNO.EIO);
    });
    this.dispatch(req).then(
      (payload) => {
        cancel();
        reply(0, payload ?? undefined);
      },
      (err: unknown) => {
        cancel();
        const errno = errnoOf(err);
        if (errno === ERRNO.EIO) this.opts.log(`raftfs mount: opcode ${opcode}: ${(err as Error).message}`);
        reply(errno);
      },
    );
  }

  private async dispatch(req: Request): Promise<Buffer | null> {
    const { header: h, body } = req;
    switch (h.opcode) {
      case Op.INIT:
        return encodeInitOut(parseInit(body));
      case Op.DESTROY:
        this.onDestroy();
        return null;
      case Op.LOOKUP:
        return this.lookup(h.nodeid, names(body, 0, 1)[0]!);
      case Op.FORGET:
        this.nodes.forget(h.nodeid, Number(body.readBigUInt64LE(0)));
        return null;
      case Op.BATCH_FORGET: {
        const count = body.readUInt32LE(0);
        for (let i = 0; i < count; i++) {
          const at = 8 + i * 16;
          this.nodes.forget(body.readBigUInt64LE(at), Number(body.readBigUInt64LE(at + 8)));
        }
        return null;
      }
      case Op.GETATTR:
        return encodeAttrOut(await this.attrOf(h.nodeid), this.opts.attrValidMs);
      case Op.SETATTR:
        return this.setattr(h.nodeid, body);
      case Op.OPENDIR: {
        const fh = this.nextFh++;
        await this.dirs.open(fh, h.nodeid);
        return encodeOpenOut(fh, 0);
      }
      case Op.READDIR:
      case Op.READDIRPLUS:
        return this.dirs.read(body, h.opcode === Op.READDIRPLUS);
      case Op.RELEASEDIR:
        this.dirs.release(body.readBigUInt64LE(0));
        return null;
      case Op.OPEN:
        return this.open(h.nodeid, body.readUInt32LE(0));
      case Op.CREATE:
        // fuse_create_in: flags, mode (the kernel has applied the umask), umask, open_flags; then the name.
        return this.create(h.nodeid, names(body, 16, 1)[0]!, {
          mode: body.readUInt32LE(4) & 0o7777,
          uid: h.uid,
          gid: h.gid,
        });
      case Op.READ: {
        const io = parseIo(body);
        return this.file(io.fh).read(io.offset, io.size);
      }
      case Op.WRITE: {
        const io = parseIo(body);
        this.writable();
        const n = await this.file(io.fh).write(
          io.offset,
          body.subarray(WRITE_IN_BYTES, WRITE_IN_BYTES + io.size),
        );
        return encodeWriteOut(n);
      }
      case Op.FLUSH: {
        const f = this.file(body.readBigUInt64LE(0));
        await this.commit(f);
        // close(2) by a lock owner ends its POSIX locks on the file (flock ones live to RELEASE).
        const p = this.nodes.path(f.ino);
        if (p !== undefined) await this.locks.release(p, body.readBigUInt64LE(16), true);
        return null;
      }
      case Op.FSYNC:
        await this.commit(this.file(body.readBigUInt64LE(0)));
        return null;
      case Op.RELEASE: {
        const f = this.files.get(body.readBigUInt64LE(0));
        const p = f ? this.nodes.path(f.ino) : undefined;
        await this.release(body.readBigUInt64LE(0));
        if (p !== undefined) await this.locks.release(p, body.readBigUInt64LE(16));
        return null;
      }
      case Op.GETLK: {
        const lk = parseLockIn(body);
        return this.locks.test(this.pathOf(h.nodeid), lk.owner, lk.type);
      }
      case Op.SETLK:
      case Op.SETLKW: {
        const lk = parseLockIn(body);
        const flock = (lk.lkFlags & FUSE_LK_FLOCK) !== 0;
        await this.locks.set(this.pathOf(h.nodeid), lk.owner, lk.type, h.opcode === Op.SETLKW, flock);
        return null;
      }
      case Op.MKDIR:
        // fuse_mkdir_in: mode (umask applied), umask; then the name.
        return this.mkdir(h.nodeid, names(body, 8, 1)[0]!, {
          mode: body.readUInt32LE(0) & 0o7777,
          uid: h.uid,
          gid: h.gid,
        });
      case Op.UNLINK:
        return this.remove(h.nodeid, names(body, 0, 1)[0]!, "file");
      case Op.RMDIR:
        return this.remove(h.nodeid, names(body, 0, 1)[0]!, "dir");
      case Op.RENAME: {
        const [from, to] = names(body, 8, 2);
        return this.rename(h.nodeid, from!, body.readBigUInt64LE(0), to!, 0);
      }
      case Op.RENAME2: {
        const [from, to] = names(body, 16, 2);
        return this.rename(h.nodeid, from!, body.readBigUInt64LE(0), to!, body.readUInt32LE(8));
      }
      case Op.STATFS:
        return this.statfs.reply();
      case Op.ACCESS:
      case Op.FSYNCDIR:
        return null;
      case Op.INTERRUPT:
        return null;
      case Op.SYMLINK: {
        this.writable();
        const { name, target } = parseSymlink(body);
        const path = childPath(this.pathOf(h.nodeid), name);
        const st = await this.links.create(path, target, { uid: h.uid, gid: h.gid });
        this.dirStats.changed(parentOf(path));
        return this.entry(path, st);
      }
      case Op.READLINK:
        return this.links.read(this.pathOf(h.nodeid));
      case Op.LINK:
      case Op.MKNOD:
        // No hard links or device nodes in the namespace (README "Mount").
        throw new Errno(ERRNO.EPERM);
      default:
        throw new Errno(ERRNO.ENOSYS);
    }
  }

  // ------------------------------------------------------------ helpers

  private pathOf(ino: bigint): string {
    const p = this.nodes.path(ino);
    if (p === undefined) throw new Errno(ERRNO.ENOENT, `unknown node ${ino}`);
    return p;
  }

  private writable(): void {
    if (this.opts.readOnly) throw new Errno(ERRNO.EROFS);
  }

  private file(fh: bigint): OpenFile {
    const f = this.files.get(fh);
    if (!f) throw new Errno(ERRNO.EBADF);
    return f;
  }

  private attr(ino: bigint, s: StatResponse): Attr {
    let attr = attrOfStat(this.nodes.stIno(ino, s.ino), s, { uid: this.uid, gid: this.gid });
    // Writes not committed yet: the size, time, mode and owner this mount's programs already see.
    for (const f of this.files.values()) {
      if (f.ino === ino && f.hasLocalChanges) {
        attr.sizeBytes = f.sizeBytes;
        attr.mtimeMs = attr.ctimeMs = attr.atimeMs = f.mtimeMs;
        if (f.version === 0 && f.createAttrs) attr = withChange(attr, f.createAttrs);
        attr = withChange(attr, f.pendingAttrs);
      }
    }
    this.nodes.told(ino, attr);
    return attr;
  }

  private async attrOf(ino: bigint): Promise<Attr> {
    const path = this.pathOf(ino);
    // Created here and not committed yet: the cluster has nothing to say, skip the round trip.
    const pending = [...this.files.values()].find((f) => f.ino === ino && f.version === 0);
    if (pending) {
      const m = pending.mtimeMs;
      return this.attr(ino, {
        path,
        type: "file",
        sizeBytes: pending.sizeBytes,
        createdAtMs: m,
        modifiedAtMs: m,
      });
    }
    try {
      return this.attr(ino, await this.statDir(path));
    } catch (err) {
      // Unlinked while open: the open handle still knows its file, which no name links to (nlink 0).
      const open = [...this.files.values()].find((f) => f.ino === ino);
      if (open && err instanceof DfsError && err.code === "NOT_FOUND") {
        const now = open.mtimeMs;
        return {
          ...this.attr(ino, { path, type: "file", createdAtMs: now, modifiedAtMs: now }),
          sizeBytes: open.sizeBytes,
          nlink: 0,
        };
      }
      throw err;
    }
  }

  /** Stat, with a directory's or link's answer reused for `attrValidMs` (dir-stats.ts says why). */
  private statDir(path: string): Promise<StatResponse> {
    return this.dirStats.get(path, (p) => this.client.stat(p));
  }

  private entry(path: string, s: StatResponse, validMs = this.opts.attrValidMs): Buffer {
    const ino = this.nodes.lookup(path);
    if (ino === null) throw new Errno(ERRNO.ENFILE, "node table full");
    return encodeEntry(ino, this.attr(ino, s), validMs);
  }

  /** Commits a handle's writes; open listings of its directory then hold an older size. */
  private async commit(f: OpenFile): Promise<void> {
    const dirty = f.hasLocalChanges;
    await f.commit();
    const p = this.nodes.path(f.ino);
    if (dirty && p !== undefined && p !== "/") this.dirs.changed(parentOf(p));
  }

  private addFile(ino: bigint, s: { version: number; sizeBytes: number; mtimeMs: number }): OpenFile {
    const fh = this.nextFh++;
    const f = new OpenFile(fh, ino, s, {
      client: this.client,
      patcher: this.patcher,
      spoolDir: this.spoolDir,
      pathOf: () => this.nodes.path(ino),
      log: this.opts.log,
      lockTokenFor: (p) => this.locks.tokenFor(p),
    });
    this.files.set(fh, f);
    return f;
  }

  // ------------------------------------------------------------ operations

  private async lookup(parent: bigint, name: string): Promise<Buffer> {
    const path = childPath(this.pathOf(parent), name);
    try {
      return this.entry(path, await this.client.stat(path));
    } catch (err) {
      // Created by this mount and not committed yet: the open handle answers for it.
      const ino = this.nodes.peek(path);
      if (ino !== undefined && err instanceof DfsError && err.code === "NOT_FOUND") {
        const open = [...this.files.values()].find((f) => f.ino === ino && f.version === 0);
        if (open) {
          const m = open.mtimeMs;
          return this.entry(path, {
            path,
            type: "file",
            sizeBytes: open.sizeBytes,
            createdAtMs: m,
            modifiedAtMs: m,
          });
        }
      }
      throw err;
    }
  }

  private async setattr(ino: bigint, body: Buffer): Promise<Buffer> {
    const s = parseSetattr(body);
    if (s.valid & Fattr.SIZE) {
      this.writable();
      const open =
        s.valid & Fattr.FH ? this.files.get(s.fh) : [...this.files.values()].find((f) => f.ino === ino);
      if (open) await open.truncate(s.size);
      else {
        // truncate(2) on a path: a handle of our own, committed at once.
        const st = await this.client.stat(this.pathOf(ino));
        if (st.type === "dir") throw new Errno(ERRNO.EISDIR);
        const f = this.addFile(ino, {
          version: st.version ?? 0,
          sizeBytes: st.sizeBytes ?? 0,
          mtimeMs: st.modifiedAtMs,
        });
        try {
          await f.truncate(s.size);
          await f.commit();
        } finally {
          this.files.delete(f.fh);
          await f.close();
        }
      }
    }
    const change = attrChangeOf(s, Date.now());
    if (!isEmpty(change)) {
      this.writable();
      const dirty = [...this.files.values()].find((f) => f.ino === ino && f.hasLocalChanges);
      // Local writes wait for their commit, which would stamp its own mtime: the handle applies it after.
      if (dirty) Object.assign(dirty.pendingAttrs, change);
      else await this.client.setAttrs(this.pathOf(ino), change);
      this.dirStats.drop(this.pathOf(ino));
    }
    return encodeAttrOut(await this.attrOf(ino), this.opts.attrValidMs);
  }

  private async open(ino: bigint, flags: number): Promise<Buffer> {
    const writing = (flags & O_ACCMODE) !== 0;
    if (writing) this.writable();
    const st = await this.client.stat(this.pathOf(ino));
    if (st.type === "dir") throw new Errno(ERRNO.EISDIR);
    // Close-to-open: the kernel may still hold the size of an older version (another client's commit
    // whose change-feed notice has not come yet) and would read only up to it, or past the new end.
    // Its attributes go before the open is answered (its pages go at every open: no KEEP_CACHE).
    if (this.nodes.toldOther(ino, { sizeBytes: st.sizeBytes ?? 0, mtimeMs: st.modifiedAtMs }))
      await this.device.notify(encodeInvalInode(ino, false));
    const f = this.addFile(ino, {
      version: st.version ?? 0,
      sizeBytes: st.sizeBytes ?? 0,
      mtimeMs: st.modifiedAtMs,
    });
    if (writing && flags & O_TRUNC && f.sizeBytes > 0) await f.truncate(0);
    return encodeOpenOut(f.fh, 0);
  }

  /**
   * The file is created in the cluster by its first commit (flush/close), not here: one Raft write per
   * small file instead of two. Until then this mount answers for it from the open handle; other
   * clients see it at close, as close-to-open promises. The kernel sends CREATE only after a negative
   * LOOKUP, so a name taken meanwhile by another client is a conflict at close (EIO, logged).
   */
  private async create(parent: bigint, name: string, attrs: NodeAttrs): Promise<Buffer> {
    this.writable();
    const path = childPath(this.pathOf(parent), name);
    const now = Date.now();
    const entry = this.entry(path, {
      path,
      type: "file",
      sizeBytes: 0,
      createdAtMs: now,
      modifiedAtMs: now,
      ...attrs,
    });
    const ino = entry.readBigUInt64LE(0);
    const f = this.addFile(ino, { version: 0, sizeBytes: 0, mtimeMs: now });
    f.createAttrs = attrs;
    f.markNew();
    this.dirStats.changed(parentOf(path), now);
    return Buffer.concat([entry, encodeOpenOut(f.fh, 0)]);
  }

  private async release(fh: bigint): Promise<null> {
    const f = this.files.get(fh);
    if (!f) return null;
    try {
      await this.commit(f);
    } catch (err) {
      // close(2) has already returned (FLUSH carried its error); the log keeps this one.
      this.opts.log(
        `raftfs mount: ${this.nodes.path(f.ino) ?? "?"}: last commit failed: ${(err as Error).message}`,
      );
    } finally {
      this.files.delete(fh);
      await f.close();
    }
    return null;
  }

  private async mkdir(parent: bigint, name: string, attrs: NodeAttrs): Promise<Buffer> {
    this.writable();
    const path = childPath(this.pathOf(parent), name);
    await this.client.mkdir(path, { attrs });
    this.dirStats.changed(parentOf(path));
    return this.entry(path, await this.client.stat(path));
  }

  private async remove(parent: bigint, name: string, kind: "file" | "dir"): Promise<null> {
    this.writable();
    const path = childPath(this.pathOf(parent), name);
    const st = await this.client.stat(path);
    if (kind === "file" && st.type === "dir") throw new Errno(ERRNO.EISDIR);
    if (kind === "dir" && st.type !== "dir") throw new Errno(ERRNO.ENOTDIR);
    const ino = this.nodes.peek(path);
    for (const f of this.files.values()) if (f.ino === ino) await f.orphan();
    await this.client.rm(path);
    this.dirStats.drop(path);
    this.dirStats.changed(parentOf(path));
    this.dirs.changed(parentOf(path));
    this.nodes.unlinked(path);
    return null;
  }

  private async rename(
    parent: bigint,
    name: string,
    newParent: bigint,
    newName: string,
    flags: number,
  ): Promise<null> {
    this.writable();
    if (flags & RENAME_EXCHANGE) throw new Errno(ERRNO.EINVAL, "RENAME_EXCHANGE is not supported");
    const from = childPath(this.pathOf(parent), name);
    const to = childPath(this.pathOf(newParent), newName);
    if (from === to) return null;
    if (to.startsWith(`${from}/`)) throw new Errno(ERRNO.EINVAL);
    const src = await this.client.stat(from);
    let dst: StatResponse | null = null;
    try {
      dst = await this.client.stat(to);
    } catch (err) {
      if (!(err instanceof DfsError && err.code === "NOT_FOUND")) throw err;
    }
    if (dst === null) await this.client.rename(from, to);
    else {
      if (flags & RENAME_NOREPLACE) throw new Errno(ERRNO.EEXIST);
      if (src.type === "dir" && dst.type !== "dir") throw new Errno(ERRNO.ENOTDIR);
      if (src.type !== "dir" && dst.type === "dir") throw new Errno(ERRNO.EISDIR);
      const replaced = this.nodes.peek(to);
      for (const f of this.files.values()) if (f.ino === replaced) await f.orphan();
      // Replace atomically: both in one log entry, and only if the target is still what we saw.
      const cond =
        dst.type !== "file"
          ? { kind: "exists" as const, path: to, exists: true }
          : { kind: "version" as const, path: to, version: dst.version ?? 0 };
      await this.client.txn(
        [cond],
        [
          { type: "delete", path: to },
          { type: "rename", from, to },
        ],
      );
    }
    this.dirStats.clear();
    this.dirs.changedAll();
    this.nodes.renamed(from, to);
    return null;
  }

  /** Another client changed `path` (the change feed): this mount's own cache of it goes. */
  forgetCached(path: string): void {
    this.dirStats.drop(path);
    if (path !== "/") this.dirs.changed(parentOf(path));
  }

  /** The change feed lost its place: nothing this mount cached can be trusted past now. */
  forgetAllCached(): void {
    this.dirStats.clear();
    this.dirs.changedAll();
  }

  /** Commits and drops every open handle, removes the spool folder. */
  async close(): Promise<void> {
    await this.locks.releaseAll();
    for (const [fh] of this.files) await this.release(fh);
    await this.patcher.close();
    rmSync(this.spoolDir, { recursive: true, force: true });
  }
}

export { ROOT_INO };
