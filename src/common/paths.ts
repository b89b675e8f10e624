/**
 * File-system paths: one normal form, shared by the client (to fail fast) and by the metadata state
 * machine (which re-validates, since its input comes from the network).
 *
 * The normal form is absolute and canonical: `/` or `/seg/seg`, no empty, `.` or `..` segments, no
 * trailing slash. Canonical means two spellings of one file cannot exist, so every map keyed by path
 * (namespace, locks, caches) can compare strings. We refuse `.`/`..` rather than resolving them: a
 * resolved `..` would let a request name a path its caller did not see, and nothing needs them.
 *
 * All helpers except `normalizePath` expect an already-normalized path.
 */
import { DfsError } from "./errors.js";

/** Same limits as Linux (PATH_MAX, NAME_MAX), counted in UTF-8 bytes as a disk would. */
export const MAX_PATH_BYTES = 4096;
export const MAX_NAME_BYTES = 255;
/** A symbolic link's target, in UTF-8 bytes: PATH_MAX less its terminating NUL, as Linux bounds it. */
export const MAX_SYMLINK_TARGET_BYTES = 4095;

export const ROOT_PATH = "/";

function invalid(path: unknown, reason: string): DfsError {
  const shown = typeof path === "string" ? path.slice(0, 200) : String(typeof path);
  return new DfsError("INVALID_PATH", `invalid path ${JSON.stringify(shown)}: ${reason}`, { reason });
}

/**
 * UTF-8 length of a string, or -1 if it holds a lone surrogate (which has no UTF-8 form, and would
 * silently become U+FFFD on the wire so that two different keys could collide).
 */
export function utf8ByteLength(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff) {
      const next = s.charCodeAt(i + 1);
      if (!(next >= 0xdc00 && next <= 0xdfff)) return -1;
      bytes += 4;
      i++;
    } else if (c >= 0xdc00 && c <= 0xdfff) return -1;
    else bytes += 3;
  }
  return bytes;
}

/** C0 controls, DEL and C1 controls (Unicode category Cc): they break terminals, logs and listings. */
function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
  }
  return false;
}

/**
 * Returns the normal form of `path`, or throws `DfsError("INVALID_PATH")`. A single trailing slash is
 * tolerated (`/a/` → `/a`); anything else that is not already normal is refused, not repaired.
 */
export function normalizePath(path: string): string {
  if (typeof path !== "string") throw invalid(path, "not a string");
  if (!path.startsWith("/")) throw invalid(path, "must start with /");
  if (path === ROOT_PATH) return ROOT_PATH;
  const trimmed = path.endsWith("/") ? path.slice(0, -1) : path;
  if (trimmed.length <= 1) throw invalid(path, "empty segment");
  if (hasControlChar(trimmed)) throw invalid(path, "control character");
  const totalBytes = utf8ByteLength(trimmed);
  if (totalBytes < 0) throw invalid(path, "not valid Unicode (lone surrogate)");
  if (totalBytes > MAX_PATH_BYTES) throw invalid(path, `longer than ${MAX_PATH_BYTES} bytes`);
  for (const segment of trimmed.slice(1).split("/")) {
    if (segment === "") throw invalid(path, "empty segment");
    if (segment === "." || segment === "..") throw invalid(path, `"${segment}" segment`);
    if (utf8ByteLength(segment) > MAX_NAME_BYTES)
      throw invalid(path, `a name is longer than ${MAX_NAME_BYTES} bytes`);
  }
  return trimmed;
}

/** True if `path` is already in normal form (never throws). */
export function isNormalPath(path: string): boolean {
  try {
    return normalizePath(path) === path;
  } catch (err) {
    if (err instanceof DfsError) return false;
    throw err;
  }
}

/** The parent directory; like `path.posix.dirname`, the parent of `/` is `/`. */
export function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? ROOT_PATH : path.slice(0, slash);
}

/** The last segment; `""` for `/`. */
export function baseName(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** `dir` + `/` + `name`, without doubling the root's slash. */
export function joinPath(dir: string, name: string): string {
  return dir === ROOT_PATH ? `/${name}` : `${dir}/${name}`;
}

/** True if `ancestor` is a strict ancestor of `path` (`/a` of `/a/b`; not of `/a` nor of `/ab`). */
export function isAncestor(ancestor: string, path: string): boolean {
  if (ancestor === path) return false;
  if (ancestor === ROOT_PATH) return true;
  return path.startsWith(ancestor) && path.charCodeAt(ancestor.length) === 0x2f;
}

export function isAncestorOrSelf(ancestor: string, path: string): boolean {
  return ancestor === path || isAncestor(ancestor, path);
}

/** Strict ancestors of `path`, root first: `/a/b/c` → [`/`, `/a`, `/a/b`]; `/` → []. */
export function ancestorsOf(path: string): string[] {
  if (path === ROOT_PATH) return [];
  const out = [ROOT_PATH];
  for (let i = path.indexOf("/", 1); i > 0; i = path.indexOf("/", i + 1)) out.push(path.slice(0, i));
  return out;
}

/** Number of segments: `/` → 0, `/a/b` → 2. */
export function pathDepth(path: string): number {
  if (path === ROOT_PATH) return 0;
  let depth = 0;
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) === 0x2f) depth++;
  return depth;
}
