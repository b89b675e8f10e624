/**
 * POSIX (`fcntl`) and BSD (`flock`) locks onto the cluster's lock service. A lock covers the whole
 * file whatever byte range is asked (the service locks paths, not ranges): coarser than POSIX, never
 * weaker. Within this mount, owners are arbitrated here (the cluster sees one session per mount);
 * across mounts and clients, by the service. The library renews each lease while it is held; a dead
 * mount's leases expire after their TTL. Writes committed while this mount holds an exclusive lock on
 * the file carry its fencing token, so a holder whose lease lapsed cannot overwrite a newer holder.
 */
import type { LockHandle, RaftfsClient } from "../client/index.js";
import { DfsError } from "../common/errors.js";
import { ERRNO, Errno } from "./errno.js";

export const F_RDLCK = 0;
export const F_WRLCK = 1;
export const F_UNLCK = 2;
export const FUSE_LK_FLOCK = 1;

/** How long SETLKW waits before giving up with EAGAIN (a call must never hang forever). */
const WAIT_MS_MAX = 60_000;
const LOCAL_POLL_MS = 50;

interface Held {
  owner: bigint;
  /** flock locks live until the file is released; POSIX ones end at any close by their owner. */
  flock: boolean;
  exclusive: boolean;
  handle: LockHandle;
}

export interface LockIn {
  fh: bigint;
  owner: bigint;
  type: number;
  lkFlags: number;
}

/** struct fuse_lk_in: fh, owner, fuse_file_lock { start, end, type, pid }, lk_flags. */
export function parseLockIn(body: Buffer): LockIn {
  return {
    fh: body.readBigUInt64LE(0),
    owner: body.readBigUInt64LE(8),
    type: body.readUInt32LE(32),
    lkFlags: body.readUInt32LE(40),
  };
}

/** struct fuse_lk_out: a whole-file lock of `type` (F_UNLCK: no conflict). */
export function encodeLockOut(type: number, pid: number): Buffer {
  const b = Buffer.alloc(24);
  b.writeBigUInt64LE(0n, 0);
  b.writeBigUInt64LE(type === F_UNLCK ? 0n : 0x7fffffffffffffffn, 8);
  b.writeUInt32LE(type, 16);
  b.writeUInt32LE(pid, 20);
  return b;
}

export class MountLocks {
  private readonly byPath = new Map<string, Held[]>();

  constructor(
    private readonly client: RaftfsClient,
    private readonly ttlMs = 30_000,
  ) {}

  /** The fencing token of an exclusive lock this mount holds on `path`, if any. */
  tokenFor(path: string): number | undefined {
    return this.byPath.get(path)?.find((h) => h.exclusive)?.handle.token;
  }

  private localConflict(path: string, owner: bigint, exclusive: boolean): Held | undefined {
    return this.byPath.get(path)?.find((h) => h.owner !== owner && (exclusive || h.exclusive));
  }

  /** GETLK: the conflicting lock another owner (here or elsewhere) holds, or F_UNLCK. */
  async test(path: string, owner: bigint, type: number): Promise<Buffer> {
    const exclusive = type === F_WRLCK;
    const local = this.localConflict(path, owner, exclusive);
    if (local) return encodeLockOut(local.exclusive ? F_WRLCK : F_RDLCK, 0);
    const ours = new Set((this.byPath.get(path) ?? []).map((h) => h.handle));
    const holders = (await this.client.locks(path)).filter((l) => l.path === path);
    // Holders are anonymous (no token): those beyond the leases we hold belong to someone else.
    if (ours.size > 0 && holders.length <= ours.size) return encodeLockOut(F_UNLCK, 0);
    const conflict = holders.find((l) => exclusive || l.mode === "exclusive");
    return encodeLockOut(conflict ? (conflict.mode === "exclusive" ? F_WRLCK : F_RDLCK) : F_UNLCK, 0);
  }

  /** SETLK (wait false) / SETLKW (wait true). */
  async set(path: string, owner: bigint, type: number, wait: boolean, flock: boolean): Promise<void> {
    if (type === F_UNLCK) return this.release(path, owner);
    const exclusive = type === F_WRLCK;
    const deadline = Date.now() + WAIT_MS_MAX;
    while (this.localConflict(path, owner, exclusive)) {
      if (!wait || Date.now() > deadline) throw new Errno(ERRNO.EAGAIN);
      await new Promise((r) => setTimeout(r, LOCAL_POLL_MS));
    }
    const list = this.byPath.get(path) ?? [];
    const same = list.find((h) => h.owner === owner);
    if (same && same.exclusive === exclusive) return;
    // A conversion (shared <-> exclusive) gives up the old lease first, as fcntl does atomically
    // only for a single process; another owner may slip in between, which POSIX allows for flock.
    if (same) await this.release(path, owner);
    // Another owner of this mount holding a shared lease: the cluster lease is per session, so
    // share it rather than asking again (the service would see the same session twice).
    const sharing = !exclusive ? (this.byPath.get(path) ?? []).find((h) => !h.exclusive) : undefined;
    let handle: LockHandle;
    if (sharing) handle = sharing.handle;
    else {
      try {
        handle = await this.client.lock(path, {
          mode: exclusive ? "exclusive" : "shared",
          ttlMs: this.ttlMs,
          wait,
          waitTimeoutMs: WAIT_MS_MAX,
        });
      } catch (err) {
        if (err instanceof DfsError && (err.code === "LOCKED" || err.code === "TIMEOUT"))
          throw new Errno(ERRNO.EAGAIN);
        throw err;
      }
    }
    const now = this.byPath.get(path) ?? [];
    now.push({ owner, flock, exclusive, handle });
    this.byPath.set(path, now);
  }

  /** Releases what `owner` holds on `path` (unlock, close). */
  async release(path: string, owner: bigint, onlyPosix = false): Promise<void> {
    const list = this.byPath.get(path);
    if (!list) return;
    const ends = (h: Held) => h.owner === owner && !(onlyPosix && h.flock);
    const mine = list.filter(ends);
    const rest = list.filter((h) => !ends(h));
    if (rest.length > 0) this.byPath.set(path, rest);
    else this.byPath.delete(path);
    for (const h of mine) {
      // A shared lease still used by another owner stays.
      if (rest.some((r) => r.handle === h.handle)) continue;
      await h.handle.release().catch(() => undefined);
    }
  }

  async releaseAll(): Promise<void> {
    for (const [path, list] of [...this.byPath]) {
      for (const h of list) await this.release(path, h.owner);
    }
  }
}
