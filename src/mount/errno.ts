/**
 * The one table from the library's error codes to errno, as FUSE replies carry them. Anything not a
 * `DfsError` (a bug, an I/O error on the local spool) is EIO: a program sees a failed call, never a
 * hang or a wrong answer. Conflicts (another writer committed since our open) are EIO too, and the
 * mount logs a line saying which file; see the README's "Mount" section.
 */
import { constants } from "node:os";
import { DfsError, type ErrorCode } from "../common/errors.js";

const E = constants.errno;

export const ERRNO_OF: Readonly<Record<ErrorCode, number>> = {
  BAD_REQUEST: E.EINVAL,
  INVALID_PATH: E.EINVAL,
  UNAUTHORIZED: E.EACCES,
  FORBIDDEN: E.EACCES,
  NOT_FOUND: E.ENOENT,
  EXISTS: E.EEXIST,
  NOT_EMPTY: E.ENOTEMPTY,
  NOT_A_DIRECTORY: E.ENOTDIR,
  IS_A_DIRECTORY: E.EISDIR,
  // What open(2) with O_NOFOLLOW answers on a link; the kernel follows links itself, so rarely seen.
  IS_A_SYMLINK: E.ELOOP,
  VERSION_MISMATCH: E.EIO,
  CONDITION_FAILED: E.EIO,
  LOCKED: E.EAGAIN,
  STALE_TOKEN: E.EIO,
  LOCK_NOT_HELD: E.ENOLCK,
  SESSION_EXPIRED: E.EIO,
  PAYLOAD_TOO_LARGE: E.EFBIG,
  NOT_LEADER: E.EIO,
  UNAVAILABLE: E.EIO,
  TIMEOUT: E.EIO,
  NO_SPACE: E.ENOSPC,
  CORRUPT: E.EIO,
  CHECKSUM_MISMATCH: E.EIO,
  INTERNAL: E.EIO,
  CHUNK_GONE: E.EIO,
  LIMIT_EXCEEDED: E.EAGAIN,
  TOO_MANY_WATCHERS: E.EAGAIN,
  // mv(1) answers EXDEV by copying and deleting, which is what a rename too large for one entry needs.
  RENAME_TOO_LARGE: E.EXDEV,
  RATE_LIMITED: E.EAGAIN,
  QUOTA_EXCEEDED: E.EDQUOT,
};

/** An errno raised by the adapter itself (EISDIR for unlink of a directory, EROFS...). */
export class Errno extends Error {
  constructor(
    readonly errno: number,
    message = `errno ${errno}`,
  ) {
    super(message);
    this.name = "Errno";
  }
}

export function errnoOf(err: unknown): number {
  if (err instanceof Errno) return err.errno;
  if (err instanceof DfsError) return ERRNO_OF[err.code];
  // A local spool failure carries its own errno (ENOSPC on the spool disk, say).
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (typeof code === "string" && code in E) return E[code as keyof typeof E];
  return E.EIO;
}

export { E as ERRNO };
