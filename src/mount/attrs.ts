/**
 * POSIX attributes between the kernel and the metadata: a stat answer as `struct fuse_attr`, and a
 * SETATTR request as the attribute change the cluster keeps (chmod, chown, utimens). atime is not
 * kept: it reads as the modification time, as on a `noatime` mount (keeping it would make every read
 * a Raft write); an atime-only utimens changes nothing.
 */
import type { AttrChange } from "../client/index.js";
import type { StatResponse } from "../common/protocol/index.js";
import { linkSizeBytes, typeBits } from "./links.js";
import { type Attr, Fattr, type SetattrIn } from "./protocol.js";

/** The fields a SETATTR changes, as `RaftfsClient.setAttrs` (or a commit's `setAttrs`) takes them. */
export type { AttrChange };

export function attrChangeOf(s: SetattrIn, nowMs: number): AttrChange {
  const c: AttrChange = {};
  if (s.valid & Fattr.MODE) c.mode = s.mode & 0o7777;
  if (s.valid & Fattr.UID) c.uid = s.uid;
  if (s.valid & Fattr.GID) c.gid = s.gid;
  if (s.valid & Fattr.MTIME) c.mtimeMs = s.valid & Fattr.MTIME_NOW ? nowMs : Math.max(0, s.mtimeMs);
  return c;
}

export function isEmpty(c: AttrChange): boolean {
  return c.mode === undefined && c.uid === undefined && c.gid === undefined && c.mtimeMs === undefined;
}

/** A stat answer as the kernel's attributes; a replica older than attributes gives the old defaults. */
export function attrOfStat(ino: bigint, s: StatResponse, owner: { uid: number; gid: number }): Attr {
  const dir = s.type === "dir";
  const link = s.type === "symlink";
  return {
    ino,
    sizeBytes: dir ? 0 : link ? linkSizeBytes(s) : (s.sizeBytes ?? 0),
    mode: typeBits(s.type) | (s.mode ?? (dir ? 0o755 : link ? 0o777 : 0o644)),
    nlink: dir ? 2 : 1,
    uid: s.uid ?? owner.uid,
    gid: s.gid ?? owner.gid,
    atimeMs: s.modifiedAtMs,
    mtimeMs: s.modifiedAtMs,
    ctimeMs: s.changedAtMs ?? s.modifiedAtMs,
  };
}

/** Overlays an attribute change not committed yet (a handle with local writes holds it). */
export function withChange(a: Attr, c: AttrChange): Attr {
  const out = { ...a };
  if (c.mode !== undefined) out.mode = (a.mode & ~0o7777) | c.mode;
  if (c.uid !== undefined) out.uid = c.uid;
  if (c.gid !== undefined) out.gid = c.gid;
  if (c.mtimeMs !== undefined) out.atimeMs = out.mtimeMs = c.mtimeMs;
  return out;
}
