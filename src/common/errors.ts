/**
 * Operating errors: expected failures with a stable code. One table maps each code to its HTTP status
 * and to the CLI's exit code, so servers, client and CLI agree without sharing anything else.
 * Invariant violations are not here: they are bugs and go through `assert` (see assert.ts).
 */

export const ERROR_CODES = {
  BAD_REQUEST: { httpStatus: 400, exitCode: 2, retryable: false },
  INVALID_PATH: { httpStatus: 400, exitCode: 2, retryable: false },
  UNAUTHORIZED: { httpStatus: 401, exitCode: 1, retryable: false },
  FORBIDDEN: { httpStatus: 403, exitCode: 1, retryable: false },
  NOT_FOUND: { httpStatus: 404, exitCode: 3, retryable: false },
  EXISTS: { httpStatus: 409, exitCode: 4, retryable: false },
  NOT_EMPTY: { httpStatus: 409, exitCode: 4, retryable: false },
  NOT_A_DIRECTORY: { httpStatus: 409, exitCode: 1, retryable: false },
  IS_A_DIRECTORY: { httpStatus: 409, exitCode: 1, retryable: false },
  /** The path names a symbolic link, which the server never follows: read its target (stat) instead. */
  IS_A_SYMLINK: { httpStatus: 409, exitCode: 1, retryable: false },
  VERSION_MISMATCH: { httpStatus: 409, exitCode: 1, retryable: false },
  CONDITION_FAILED: { httpStatus: 409, exitCode: 1, retryable: false },
  LOCKED: { httpStatus: 423, exitCode: 1, retryable: false },
  STALE_TOKEN: { httpStatus: 409, exitCode: 1, retryable: false },
  LOCK_NOT_HELD: { httpStatus: 409, exitCode: 1, retryable: false },
  SESSION_EXPIRED: { httpStatus: 409, exitCode: 1, retryable: false },
  PAYLOAD_TOO_LARGE: { httpStatus: 413, exitCode: 1, retryable: false },
  NOT_LEADER: { httpStatus: 421, exitCode: 5, retryable: true },
  UNAVAILABLE: { httpStatus: 503, exitCode: 5, retryable: true },
  TIMEOUT: { httpStatus: 504, exitCode: 5, retryable: true },
  NO_SPACE: { httpStatus: 507, exitCode: 1, retryable: false },
  CORRUPT: { httpStatus: 500, exitCode: 6, retryable: false },
  /** Uploaded bytes do not hash to the chunk id they claim: bad input (or damage in transit), not a bad disk. */
  CHECKSUM_MISMATCH: { httpStatus: 422, exitCode: 6, retryable: false },
  INTERNAL: { httpStatus: 500, exitCode: 1, retryable: false },
  /** A commit names chunks that were garbage-collected (its upload stalled past the grace period): store them again. */
  CHUNK_GONE: { httpStatus: 410, exitCode: 1, retryable: false },
  /** A bounded table (locks, sessions, data nodes) is full; retry once entries expire or are released. */
  LIMIT_EXCEEDED: { httpStatus: 429, exitCode: 1, retryable: false },
  /** The watch feed holds as many long-polls as allowed (for this client, or in all); retry after a pause. */
  TOO_MANY_WATCHERS: { httpStatus: 429, exitCode: 5, retryable: true },
  /** A rename (or all renames of one txn) would move more entries than `maxRenameEntries`. */
  RENAME_TOO_LARGE: { httpStatus: 409, exitCode: 1, retryable: false },
  /** A client opened sessions faster than its allowance (`retryAfterMs` says when it may again). */
  RATE_LIMITED: { httpStatus: 429, exitCode: 5, retryable: true },
  /** A write would take a top-level directory past its quota of names or bytes (HDFS's DSQuotaExceeded). */
  QUOTA_EXCEEDED: { httpStatus: 507, exitCode: 1, retryable: false },
} as const satisfies Record<string, { httpStatus: number; exitCode: number; retryable: boolean }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** CLI exit codes that are not tied to an error code. */
export const EXIT_OK = 0;
export const EXIT_USAGE = 2;
export const EXIT_INTERRUPTED = 130;

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === "string" && Object.hasOwn(ERROR_CODES, code);
}

/** The JSON body of every error response. */
export interface ErrorBody {
  code: ErrorCode;
  message: string;
  [detail: string]: unknown;
}

export class DfsError extends Error {
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    details: Record<string, unknown> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DfsError";
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }

  get exitCode(): number {
    return ERROR_CODES[this.code].exitCode;
  }

  get retryable(): boolean {
    return ERROR_CODES[this.code].retryable;
  }

  toJSON(): ErrorBody {
    return { ...this.details, code: this.code, message: this.message };
  }

  /** Rebuilds the typed error from a wire body; an unknown code becomes INTERNAL (never trusted blindly). */
  static fromBody(body: unknown, fallbackStatus?: number): DfsError {
    if (typeof body === "object" && body !== null) {
      const { code, message, ...details } = body as Record<string, unknown>;
      if (isErrorCode(code)) return new DfsError(code, typeof message === "string" ? message : code, details);
    }
    return new DfsError(
      "INTERNAL",
      `unexpected error response${fallbackStatus ? ` (HTTP ${fallbackStatus})` : ""}`,
    );
  }
}

export function isDfsError(err: unknown, code?: ErrorCode): err is DfsError {
  return err instanceof DfsError && (code === undefined || err.code === code);
}
