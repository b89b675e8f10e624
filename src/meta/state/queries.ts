/**
 * Read-only queries over the namespace. They throw `DfsError` for expected failures (NOT_FOUND...),
 * which the server maps to its HTTP answer. Nothing returned aliases the state.
 */
import { DfsError } from "../../common/errors.js";
import { joinPath, normalizePath } from "../../common/paths.js";
import { holderInfo, type LockTable } from "./locks.js";
import { copyContent, type FileNode, type FsNode, latestVersion, type Namespace } from "./namespace.js";
import type { FileContent, FileVersion, ListEntry, StatResult, VersionInfo } from "./types.js";

function mustGet(ns: Namespace, path: string): FsNode {
  const node = ns.get(path);
  if (node === undefined) throw new DfsError("NOT_FOUND", `${path} does not exist`, { path });
  return node;
}

function mustGetFile(ns: Namespace, path: string): FileNode {
  const node = mustGet(ns, path);
  if (node.type === "dir") throw new DfsError("IS_A_DIRECTORY", `${path} is a directory`, { path });
  return node;
}

function info(path: string, v: FileVersion): VersionInfo {
  return {
    path,
    version: v.version,
    sizeBytes: v.sizeBytes,
    createdAtMs: v.createdAtMs,
    contentKind: v.content.kind,
  };
}

export function stat(ns: Namespace, locks: LockTable, rawPath: string, nowMs: number): StatResult {
  const path = normalizePath(rawPath);
  const node = mustGet(ns, path);
  const out: StatResult = {
    path,
    type: node.type,
    createdAtMs: node.createdAtMs,
    modifiedAtMs: node.modifiedAtMs,
  };
  if (node.type === "file") {
    const latest = latestVersion(node);
    out.version = latest.version;
    out.sizeBytes = latest.sizeBytes;
  }
  const live = locks.liveOn(path, nowMs);
  if (live.length > 0) {
    out.lock = {
      mode: live.some((h) => h.mode === "exclusive") ? "exclusive" : "shared",
      holders: live.map(holderInfo),
    };
  }
  return out;
}

export interface ListOptions {
  /** Only names sorting after this one (pagination). */
  startAfter?: string;
  limit?: number;
}

/** Entries sorted by name in UTF-16 code-unit order (locale-independent, hence the same everywhere). */
export function list(ns: Namespace, rawPath: string, opts: ListOptions = {}): ListEntry[] {
  const path = normalizePath(rawPath);
  const node = mustGet(ns, path);
  if (node.type !== "dir") throw new DfsError("NOT_A_DIRECTORY", `${path} is not a directory`, { path });
  let names = [...node.children].sort();
  const { startAfter, limit } = opts;
  if (startAfter !== undefined) names = names.filter((n) => n > startAfter);
  if (limit !== undefined) names = names.slice(0, Math.max(0, limit));
  return names.map((name): ListEntry => {
    const childPath = joinPath(path, name);
    const child = mustGet(ns, childPath);
    const entry: ListEntry = { name, path: childPath, type: child.type, modifiedAtMs: child.modifiedAtMs };
    if (child.type === "file") {
      const latest = latestVersion(child);
      entry.version = latest.version;
      entry.sizeBytes = latest.sizeBytes;
    }
    return entry;
  });
}

/** Retained versions, oldest first. */
export function versions(ns: Namespace, rawPath: string): VersionInfo[] {
  const path = normalizePath(rawPath);
  return mustGetFile(ns, path).versions.map((v) => info(path, v));
}

/** One retained version (the latest by default), with a copy of its content. */
export function readVersion(
  ns: Namespace,
  rawPath: string,
  version?: number,
): VersionInfo & { content: FileContent } {
  const path = normalizePath(rawPath);
  const file = mustGetFile(ns, path);
  const v = version === undefined ? latestVersion(file) : file.versions.find((x) => x.version === version);
  if (v === undefined) {
    const oldest = file.versions[0]?.version;
    throw new DfsError("NOT_FOUND", `${path} has no retained version ${version}`, {
      path,
      version,
      oldestRetained: oldest,
      latest: latestVersion(file).version,
    });
  }
  return { ...info(path, v), content: copyContent(v.content) };
}
