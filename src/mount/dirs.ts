/**
 * Open directories: a listing read from the cluster a page at a time, as the kernel reads on, and
 * answered as READDIR or READDIRPLUS. The mount asks for READDIRPLUS at INIT: each entry then goes
 * with its attributes, taken from the list page (which carries all that getattr needs), and the
 * kernel caches the name and the attributes as a LOOKUP would have. `ls -l` of 10,000 entries costs
 * ten list pages instead of 10,000 linearizable stats.
 *
 * Attributes from a page are as fresh as the page: the kernel may keep them until `attrValidMs` after
 * the page was read, never longer (the same bound as a LOOKUP's answer, README "Mount"), and an entry
 * gets none (nodeid 0: the kernel looks the name up itself) when the page is older than that, when
 * the kernel has since been told newer attributes of the node, or when the directory changed after
 * the page was read (through this mount, or as the change feed reports).
 */
import type { RaftfsClient } from "../client/index.js";
import { DfsError } from "../common/errors.js";
import { LIST_PAGE_MAX, type ListEntry, type StatResponse } from "../common/protocol/index.js";
import { ERRNO, Errno } from "./errno.js";
import { direntType } from "./links.js";
import { childPath, type NodeTable } from "./nodes.js";
import {
  DT_DIR,
  direntPlusBytes,
  ENTRY_OUT_BYTES,
  encodeDirent,
  encodeDirentPlus,
  parseIo,
} from "./protocol.js";

export interface DirDeps {
  client: RaftfsClient;
  nodes: NodeTable;
  /** How long the kernel may keep attributes after they were read from the cluster. */
  attrValidMs: number;
  /**
   * A fuse_entry_out for `path` with its attributes `st`, valid `validMs`, counting one kernel
   * lookup of the node; null when no node can be named (the table is full).
   */
  entryFor(path: string, st: StatResponse, validMs: number): Buffer | null;
}

interface Listed {
  name: string;
  type: number;
  ino: number | undefined;
  /** What a stat would say, from the page; null from a replica whose pages lack attributes. */
  st: StatResponse | null;
  /** When the request for this entry's page was sent. */
  pageAtMs: number;
}

interface DirHandle {
  /** The directory's node: its path now (a rename while open moves it). */
  nodeid: bigint;
  entries: Listed[];
  cursor: string | undefined;
  done: boolean;
  /** The last change to the directory this mount knows of: older pages give no attributes. */
  changedAtMs: number;
  /** The next page, asked for while the kernel still reads the one before (see `read`). */
  nextPage: Promise<void> | null;
}

/** Directories open at once at most (each holds the entries read so far). */
const MAX_OPEN_DIRS = 4096;
/** The smallest fuse_dirent (a one-byte name): how many entries a READDIR of `size` bytes may want. */
const MIN_DIRENT_BYTES = 32;
const NO_ENTRY = Buffer.alloc(ENTRY_OUT_BYTES);

/** A list entry as the stat answer it stands for (null when the page lacks the attributes). */
function statOfEntry(e: ListEntry): StatResponse | null {
  if (e.mode === undefined) return null;
  return {
    path: e.path,
    type: e.type,
    ...(e.version !== undefined ? { version: e.version } : {}),
    ...(e.sizeBytes !== undefined ? { sizeBytes: e.sizeBytes } : {}),
    createdAtMs: e.modifiedAtMs,
    modifiedAtMs: e.modifiedAtMs,
    mode: e.mode,
    ...(e.uid !== undefined ? { uid: e.uid } : {}),
    ...(e.gid !== undefined ? { gid: e.gid } : {}),
    ...(e.changedAtMs !== undefined ? { changedAtMs: e.changedAtMs } : {}),
    ...(e.ino !== undefined ? { ino: e.ino } : {}),
    ...(e.target !== undefined ? { target: e.target } : {}),
  };
}

export class DirListings {
  private readonly handles = new Map<bigint, DirHandle>();

  constructor(private readonly deps: DirDeps) {}

  /** OPENDIR: reads the first page now, so that a missing or non-directory path fails here. */
  async open(fh: bigint, nodeid: bigint): Promise<void> {
    if (this.handles.size >= MAX_OPEN_DIRS) throw new Errno(ERRNO.ENFILE, "too many open directories");
    const h: DirHandle = {
      nodeid,
      entries: [],
      cursor: undefined,
      done: false,
      changedAtMs: 0,
      nextPage: null,
    };
    await this.fetchPage(h, true);
    this.handles.set(fh, h);
  }

  release(fh: bigint): void {
    this.handles.delete(fh);
  }

  /** The directory at `path` changed (this mount, or the change feed): its open listings' pages age. */
  changed(path: string, nowMs = Date.now()): void {
    for (const h of this.handles.values()) {
      if (this.deps.nodes.path(h.nodeid) === path) h.changedAtMs = nowMs;
    }
  }

  /** Nothing cached can be trusted past now (the change feed lost its place). */
  changedAll(nowMs = Date.now()): void {
    for (const h of this.handles.values()) h.changedAtMs = nowMs;
  }

  /**
   * READDIR / READDIRPLUS of `size` bytes from `offset`: 0 is ".", 1 "..", then the listing; each
   * dirent carries the offset after it.
   */
  async read(body: Buffer, plus: boolean): Promise<Buffer> {
    const { fh, offset, size } = parseIo(body);
    const h = this.handles.get(fh);
    if (!h) throw new Errno(ERRNO.EBADF);
    const want = offset - 2 + Math.ceil(size / MIN_DIRENT_BYTES);
    while (!h.done && h.entries.length < want) await this.morePage(h);
    const parts: Buffer[] = [];
    let room = size;
    const nowMs = Date.now();
    const dirPath = this.deps.nodes.path(h.nodeid);
    for (let i = offset; i < h.entries.length + 2; i++) {
      const e: Pick<Listed, "name" | "type" | "ino"> =
        i < 2 ? { name: i === 0 ? "." : "..", type: DT_DIR, ino: 1 } : h.entries[i - 2]!;
      // d_ino is st_ino (nodes.ts); a replica older than ids gives none: an unknown number.
      const metaIno = e.ino !== undefined ? BigInt(e.ino) : 0xffffffffn;
      const ino =
        i < 2 || dirPath === undefined ? metaIno : this.deps.nodes.inoAt(childPath(dirPath, e.name), metaIno);
      const dirent = { ino, nextOffset: i + 1, name: e.name, type: e.type };
      let b: Buffer | null;
      if (plus) {
        if (direntPlusBytes(e.name) > room) break;
        const entry = i < 2 || dirPath === undefined ? NO_ENTRY : this.entryOf(h, i - 2, dirPath, nowMs);
        b = encodeDirentPlus(entry, dirent);
      } else b = encodeDirent(dirent, room);
      if (!b) break;
      parts.push(b);
      room -= b.byteLength;
    }
    // Half a page left to serve: ask for the next one now, so that the kernel does not wait for it
    // (a listing of 10,000 entries is ten pages in a row otherwise).
    if (!h.done && h.nextPage === null && h.entries.length - (offset - 2) < LIST_PAGE_MAX / 2) {
      h.nextPage = this.fetchPage(h, false);
      h.nextPage.catch(() => undefined); // the read that needs the page gets the error
    }
    return Buffer.concat(parts);
  }

  /** The next page: the one already asked for, or a new request. */
  private async morePage(h: DirHandle): Promise<void> {
    const pending = h.nextPage ?? this.fetchPage(h, false);
    try {
      await pending;
    } finally {
      h.nextPage = null;
    }
  }

  /**
   * The fuse_entry_out of entry `i` (see the top for when there is none), named below the
   * directory's path now, which a rename since the page was read may have moved.
   */
  private entryOf(h: DirHandle, i: number, dirPath: string, nowMs: number): Buffer {
    const e = h.entries[i]!;
    const validMs = e.pageAtMs + this.deps.attrValidMs - nowMs;
    if (e.st === null || validMs <= 0 || e.pageAtMs < h.changedAtMs) return NO_ENTRY;
    const path = childPath(dirPath, e.name);
    if (this.deps.nodes.toldSince(path, e.pageAtMs)) return NO_ENTRY;
    return this.deps.entryFor(path, { ...e.st, path }, validMs) ?? NO_ENTRY;
  }

  private async fetchPage(h: DirHandle, first: boolean): Promise<void> {
    const path = this.deps.nodes.path(h.nodeid);
    if (path === undefined) throw new Errno(ERRNO.ENOENT, `unknown node ${h.nodeid}`);
    const pageAtMs = Date.now();
    let page: Awaited<ReturnType<RaftfsClient["listPage"]>>;
    try {
      page = await this.deps.client.listPage(path, h.cursor === undefined ? {} : { startAfter: h.cursor });
    } catch (err) {
      // Removed while open: the listing ends, as a removed directory reads empty on a disk.
      if (!first && err instanceof DfsError && err.code === "NOT_FOUND") {
        h.done = true;
        return;
      }
      throw err;
    }
    for (const e of page.entries) {
      h.entries.push({
        name: e.name,
        type: direntType(e.type),
        ino: e.ino,
        st: statOfEntry(e),
        pageAtMs,
      });
    }
    h.cursor = page.nextCursor ?? page.entries.at(-1)?.name;
    h.done = !page.truncated || page.entries.length === 0;
  }
}
