/**
 * The gateway's one error table: S3 error codes with their HTTP status, and the mapping of raftfs's
 * typed errors onto them (as MinIO's api-errors.go and SeaweedFS's s3err do). Handlers throw
 * `S3Error`; the server renders every failure as S3's `<Error>` XML (HEAD: status only).
 */
import { type ErrorCode, isDfsError } from "../common/errors.js";

export const S3_ERRORS = {
  AccessControlListNotSupported: 400,
  AccessDenied: 403,
  AuthorizationHeaderMalformed: 400,
  AuthorizationQueryParametersError: 400,
  BadDigest: 400,
  BucketAlreadyOwnedByYou: 409,
  BucketNotEmpty: 409,
  EntityTooLarge: 400,
  EntityTooSmall: 400,
  IncompleteBody: 400,
  InternalError: 500,
  InvalidArgument: 400,
  InvalidBucketName: 400,
  InvalidDigest: 400,
  InvalidPart: 400,
  InvalidPartOrder: 400,
  InvalidRange: 416,
  InvalidRequest: 400,
  InvalidAccessKeyId: 403,
  KeyTooLongError: 400,
  MalformedACLError: 400,
  MalformedXML: 400,
  MetadataTooLarge: 400,
  MethodNotAllowed: 405,
  MissingContentLength: 411,
  MissingSecurityHeader: 400,
  NoSuchBucket: 404,
  NoSuchBucketPolicy: 404,
  NoSuchCORSConfiguration: 404,
  NoSuchLifecycleConfiguration: 404,
  NoSuchTagSet: 404,
  NoSuchWebsiteConfiguration: 404,
  NoSuchKey: 404,
  NoSuchUpload: 404,
  NoSuchVersion: 404,
  NotImplemented: 501,
  NotModified: 304,
  PreconditionFailed: 412,
  /** A request whose headers or body stopped arriving (S3: 400, not HTTP's 408). */
  RequestTimeout: 400,
  RequestTimeTooSkewed: 403,
  ServiceUnavailable: 503,
  SignatureDoesNotMatch: 403,
  SlowDown: 503,
  XAmzContentSHA256Mismatch: 400,
  /** MinIO's names for the two places where a file system and a flat key space disagree. */
  ObjectExistsAsDirectory: 409,
  ParentIsObject: 400,
  /** Ceph RGW's refusal when a bucket's quota is full (AWS itself has no bucket quotas). */
  QuotaExceeded: 403,
} as const;

export type S3ErrorCode = keyof typeof S3_ERRORS;

export class S3Error extends Error {
  readonly status: number;
  constructor(
    readonly code: S3ErrorCode,
    message: string,
    /** Headers the error answer carries too (`x-amz-delete-marker` on a delete marker's 404/405). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = "S3Error";
    this.status = S3_ERRORS[code];
  }
}

/** What a raftfs error means to an S3 client; `notFound` says which S3 thing a NOT_FOUND is. */
const FROM_DFS: Partial<Record<ErrorCode, S3ErrorCode>> = {
  BAD_REQUEST: "InvalidArgument",
  INVALID_PATH: "InvalidArgument",
  UNAUTHORIZED: "AccessDenied",
  FORBIDDEN: "AccessDenied",
  EXISTS: "PreconditionFailed",
  NOT_EMPTY: "BucketNotEmpty",
  NOT_A_DIRECTORY: "ParentIsObject",
  IS_A_DIRECTORY: "ObjectExistsAsDirectory",
  // A PUT onto a key the namespace holds as a symbolic link (made through the mount or the CLI).
  IS_A_SYMLINK: "InvalidRequest",
  VERSION_MISMATCH: "PreconditionFailed",
  CONDITION_FAILED: "PreconditionFailed",
  PAYLOAD_TOO_LARGE: "EntityTooLarge",
  NOT_LEADER: "ServiceUnavailable",
  UNAVAILABLE: "ServiceUnavailable",
  TIMEOUT: "ServiceUnavailable",
  RATE_LIMITED: "SlowDown",
  LIMIT_EXCEEDED: "SlowDown",
  TOO_MANY_WATCHERS: "SlowDown",
  CHECKSUM_MISMATCH: "BadDigest",
  QUOTA_EXCEEDED: "QuotaExceeded",
};

export function toS3Error(err: unknown, notFound: S3ErrorCode = "NoSuchKey"): S3Error {
  if (err instanceof S3Error) return err;
  if (isDfsError(err)) {
    const code = err.code === "NOT_FOUND" ? notFound : (FROM_DFS[err.code] ?? "InternalError");
    return new S3Error(code, err.message);
  }
  return new S3Error("InternalError", err instanceof Error ? err.message : String(err));
}
