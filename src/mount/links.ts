/**
 * Symbolic links through the mount: SYMLINK and READLINK onto the client library, and the kind bits
 * the kernel needs (S_IFLNK, DT_LNK, size = the target's length, as lstat(2) reports it).
 *
 * The cluster stores a link's target verbatim and never follows it; the kernel follows links itself
 * (it asks READLINK, then resolves the target from the caller's point of view), so a link to `../x`
 * means what it would on a local disk, and a dangling link is the kernel's ENOENT at open. Hard links
 * (LINK) stay EPERM: a name is one inode in the namespace (README "Mount").
 */
import type { RaftfsClient } from "../client/index.js";
import type { NodeKind, StatResponse } from "../common/protocol/index.js";
import { DT_DIR, DT_LNK, DT_REG, names, S_IFDIR, S_IFLNK, S_IFREG } from "./protocol.js";

/** The file-type bits of st_mode for a node of this kind. */
export function typeBits(kind: NodeKind): number {
  return kind === "dir" ? S_IFDIR : kind === "symlink" ? S_IFLNK : S_IFREG;
}

/** The d_type of a directory entry of this kind. */
export function direntType(kind: NodeKind): number {
  return kind === "dir" ? DT_DIR : kind === "symlink" ? DT_LNK : DT_REG;
}

/** What lstat says of a link: its size is the target's length in bytes. */
export function linkSizeBytes(s: StatResponse): number {
  return Buffer.byteLength(s.target ?? "");
}

/** SYMLINK's argument: the new name, then the target, each NUL-terminated. */
export function parseSymlink(body: Buffer): { name: string; target: string } {
  const [name, target] = names(body, 0, 2) as [string, string];
  return { name, target };
}

export class MountLinks {
  /** `stat`: the mount's stat, which reuses a link's answer for the attribute timeout (dir-stats.ts). */
  constructor(
    private readonly client: RaftfsClient,
    private readonly stat: (path: string) => Promise<StatResponse>,
  ) {}

  /** Makes the link, owned by the caller (mode 0777: a link's own bits are never checked); its stat. */
  async create(path: string, target: string, owner: { uid: number; gid: number }): Promise<StatResponse> {
    await this.client.symlink(target, path, { attrs: { mode: 0o777, ...owner } });
    return this.client.stat(path);
  }

  /** READLINK's answer: the target's bytes, no NUL. */
  async read(path: string): Promise<Buffer> {
    const st = await this.stat(path);
    // Not a link: the library's readlink gives the error readlink(2) expects (EINVAL, ENOENT).
    if (st.type !== "symlink" || st.target === undefined)
      return Buffer.from(await this.client.readlink(path));
    return Buffer.from(st.target);
  }
}
