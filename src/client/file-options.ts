/**
 * What the client's file calls accept (options, data shapes) and how those become request fields or
 * bytes: shared by whole-file calls, streams and the adapters on top (mount, S3).
 */
import { DfsError } from "../common/errors.js";
import type { CommitRequest, ReadResponse } from "../common/protocol/index.js";

export interface WriteFileOptions {
  /** Compare-and-set: the latest version must be this one (0: the file must not exist). */
  expectedVersion?: number;
  /** Fencing token of a lock covering the path (accepted from the session that acquired it)... */
  lockToken?: number;
  /** ...or from anyone who also presents the lock's secret (`LockHandle.secret`, RAFTFS_LOCK_SECRET). */
  lockSecret?: string;
  /** Create missing parent directories. */
  createParents?: boolean;
  /** POSIX mode bits and owner the file gets if this write creates it (the mount passes the caller's). */
  attrs?: { mode: number; uid: number; gid: number };
  /**
   * chmod, chown and utimens applied with the new version, in its commit (no request of their own),
   * new file or not: over `attrs`, and `mtimeMs` over the commit's own time. A function is asked when
   * the commit is sent, so a writer streaming the content (the mount) may learn them meanwhile.
   */
  setAttrs?: AttrChange | (() => AttrChange);
  /** Metadata kept with the new version only, returned by `fileInfo` (S3's Content-Type, x-amz-meta-*). */
  meta?: Record<string, string>;
  /**
   * Store the content as chunks even when it is small enough to be inline (an empty write stays
   * inline and empty). For callers that will reference the chunks from another file (S3 parts).
   */
  chunked?: boolean;
  /** Chunks the base version references: not stored again when the new content has them (Upload). */
  knownChunks?: ReadonlySet<string>;
  signal?: AbortSignal;
}

/** The fields a chmod, chown or utimens sets (mtime in ms since the epoch); each is optional. */
export type AttrChange = NonNullable<CommitRequest["setAttrs"]>;

/** The commit request's attribute fields for `opts` (none when there is nothing to set). */
export function attrRequestFields(opts: Pick<WriteFileOptions, "attrs" | "setAttrs">): {
  attrs?: NonNullable<WriteFileOptions["attrs"]>;
  setAttrs?: AttrChange;
} {
  const change = typeof opts.setAttrs === "function" ? opts.setAttrs() : opts.setAttrs;
  const some = change !== undefined && Object.values(change).some((v) => v !== undefined);
  return {
    ...(opts.attrs ? { attrs: opts.attrs } : {}),
    ...(some ? { setAttrs: change } : {}),
  };
}

/** A lock token, and the lock's secret if the writer is not the session that acquired it. */
export interface LockFenceOptions {
  lockToken?: number;
  lockSecret?: string;
}

/** The request fields for `opts` (exact: no `lockToken: undefined`). */
export function fenceFields(opts: LockFenceOptions): LockFenceOptions {
  if (opts.lockToken === undefined) return {};
  return {
    lockToken: opts.lockToken,
    ...(opts.lockSecret !== undefined ? { lockSecret: opts.lockSecret } : {}),
  };
}

export interface ReadFileOptions {
  /** A retained older version instead of the latest. */
  version?: number;
}

export interface ReadStreamOptions extends ReadFileOptions {
  /** First byte (inclusive), default 0. */
  start?: number;
  /** Last byte (inclusive, like fs.createReadStream), default the end of the file. */
  end?: number;
}

export type WriteData =
  | string
  | Uint8Array
  | Iterable<Uint8Array | string>
  | AsyncIterable<Uint8Array | string>;

/** An inline file's bytes, checked against its size. */
export function decodeInline(file: ReadResponse): Buffer {
  if (file.content.kind !== "inline") throw new DfsError("INTERNAL", "not inline content");
  const data = Buffer.from(file.content.dataBase64, "base64");
  if (data.byteLength !== file.sizeBytes) {
    throw new DfsError(
      "CORRUPT",
      `${file.path} v${file.version}: inline content is not ${file.sizeBytes} bytes`,
    );
  }
  return data;
}
