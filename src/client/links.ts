/**
 * Symbolic links as the client library sees them. A link is a name holding a target text, kept
 * verbatim (relative or absolute; it need not exist). The cluster never follows links when it
 * resolves a path, as HDFS and S3 do not: whoever reads a link follows it (the mount's kernel does).
 * A link is created by its own route and read back through `stat` (`type: "symlink"`, `target`).
 */
import { DfsError } from "../common/errors.js";
import type { StatResponse, SymlinkRequest } from "../common/protocol/index.js";
import { fenceFields, type LockFenceOptions, type WriteFileOptions } from "./file-options.js";

export type SymlinkOptions = { attrs?: WriteFileOptions["attrs"] } & LockFenceOptions;

/** The symlink route's body, but for the session the caller's session adds. */
export function symlinkBody(
  path: string,
  target: string,
  opts: SymlinkOptions,
): Omit<SymlinkRequest, "session"> {
  return { path, target, ...(opts.attrs ? { attrs: opts.attrs } : {}), ...fenceFields(opts) };
}

/** A stat answer's link target; BAD_REQUEST (EINVAL for readlink(2)) when the path is no link. */
export function targetOf(st: StatResponse): string {
  if (st.type !== "symlink" || st.target === undefined) {
    throw new DfsError("BAD_REQUEST", `${st.path} is not a symbolic link`, { path: st.path });
  }
  return st.target;
}
