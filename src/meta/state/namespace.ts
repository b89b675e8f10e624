/**
 * The directory tree. Nodes live in one Map keyed by full normalized path, so lookups (stat, commit) are
 * O(1) map probes plus O(path length) string work; each directory also keeps the *names* of its
 * children, so listing, subtree walks, rename and recursive delete are O(subtree). Because children are
 * stored by name, not by full path, moving a subtree only re-keys the map: no node is rewritten.
 *
 * Iteration order of these Maps and Sets is never observable: listings, snapshots and hashes sort.
 * Every mutation goes through a primitive that records its inverse in the journal.
 */
import { assert } from "../../common/assert.js";
import { baseName, isNormalPath, joinPath, parentOf, ROOT_PATH } from "../../common/paths.js";
import type { FileContent } from "./commands.js";
import type { Journal } from "./journal.js";
import { fail } from "./outcome.js";
import type { FileVersion, NodeSnapshot } from "./types.js";

export interface DirNode {
  type: "dir";
  createdAtMs: number;
  modifiedAtMs: number;
  children: Set<string>;
}

export interface FileNode {
  type: "file";
  createdAtMs: number;
  modifiedAtMs: number;
  /** Ascending by version, never empty, at most `versionsRetained` long. */
  versions: FileVersion[];
}

export type FsNode = DirNode | FileNode;

export function latestVersion(file: FileNode): FileVersion {
  const v = file.versions[file.versions.length - 1];
  assert(v !== undefined, "a file has at least one version");
  return v;
}

export function copyContent(content: FileContent): FileContent {
  return content.kind === "inline"
    ? { kind: "inline", data: new Uint8Array(content.data) }
    : {
        kind: "chunks",
        chunks: content.chunks.map((c) => ({ id: c.id, sizeBytes: c.sizeBytes })),
        sizeBytes: content.sizeBytes,
      };
}

export function copyVersion(v: FileVersion): FileVersion {
  return {
    version: v.version,
    sizeBytes: v.sizeBytes,
    createdAtMs: v.createdAtMs,
    content: copyContent(v.content),
  };
}

export class Namespace {
  private readonly nodes = new Map<string, FsNode>();

  constructor(private readonly journal: Journal) {
    // The root always exists; its times are 0 because it predates every entry.
    this.nodes.set(ROOT_PATH, { type: "dir", createdAtMs: 0, modifiedAtMs: 0, children: new Set() });
  }

  get(path: string): FsNode | undefined {
    return this.nodes.get(path);
  }

  get size(): number {
    return this.nodes.size;
  }

  entries(): IterableIterator<[string, FsNode]> {
    return this.nodes.entries();
  }

  /**
   * The ancestors of `path` that do not exist yet, root-most first (empty when the parent exists).
   * Fails with NOT_A_DIRECTORY if an existing ancestor is a file. Walks up only as far as needed: a
   * directory's ancestors are directories, so the first existing one settles it.
   */
  missingAncestors(path: string): string[] {
    assert(path !== ROOT_PATH, "the root has no ancestors");
    const missing: string[] = [];
    let p = parentOf(path);
    for (;;) {
      const node = this.nodes.get(p);
      if (node !== undefined) {
        if (node.type === "file") fail("NOT_A_DIRECTORY", `${p} is a file`, { path: p });
        break;
      }
      missing.push(p);
      p = parentOf(p);
    }
    return missing.reverse();
  }

  /** Paths of the subtree rooted at `path` (itself first). O(subtree). */
  subtree(path: string): string[] {
    const out: string[] = [];
    const stack = [path];
    for (let p = stack.pop(); p !== undefined; p = stack.pop()) {
      out.push(p);
      const node = this.nodes.get(p);
      if (node?.type === "dir") for (const name of node.children) stack.push(joinPath(p, name));
    }
    return out;
  }

  /**
   * The size of the subtree at `path` (itself included; 0 if absent), counted only up to `limit + 1`:
   * O(min(subtree, limit)), so a bound on renames can be checked without walking a huge subtree.
   */
  countSubtree(path: string, limit: number): number {
    let count = 0;
    const stack = [path];
    for (let p = stack.pop(); p !== undefined && count <= limit; p = stack.pop()) {
      const node = this.nodes.get(p);
      if (node === undefined) continue;
      count++;
      if (node.type === "dir") {
        for (const name of node.children) {
          if (count + stack.length > limit) break;
          stack.push(joinPath(p, name));
        }
      }
    }
    return count;
  }

  createDir(path: string, nowMs: number): void {
    assert(!this.nodes.has(path), "createDir: path is free");
    const parent = this.dirAt(parentOf(path));
    this.put(path, { type: "dir", createdAtMs: nowMs, modifiedAtMs: nowMs, children: new Set() });
    this.link(parent, baseName(path), nowMs);
  }

  createFile(path: string, first: FileVersion, nowMs: number): void {
    assert(!this.nodes.has(path), "createFile: path is free");
    const parent = this.dirAt(parentOf(path));
    this.put(path, { type: "file", createdAtMs: nowMs, modifiedAtMs: nowMs, versions: [first] });
    this.link(parent, baseName(path), nowMs);
  }

  /** Replaces a file's version list (a new array: the old one is kept intact for undo). */
  setVersions(file: FileNode, versions: FileVersion[], nowMs: number): void {
    assert(versions.length > 0, "a file keeps at least one version");
    const prev = file.versions;
    file.versions = versions;
    this.journal.record(() => {
      file.versions = prev;
    });
    this.touch(file, nowMs);
  }

  /** Moves the subtree `paths` (from `subtree(from)`) to `to`, whose parent exists and which is free. */
  move(from: string, to: string, paths: string[], nowMs: number): void {
    assert(paths[0] === from, "move: paths is the subtree of from");
    const moved = paths.map((p): [string, FsNode] => {
      const node = this.nodes.get(p);
      assert(node !== undefined, "move: subtree paths exist");
      return [p, node];
    });
    for (const [p] of moved) this.del(p);
    for (const [p, node] of moved) this.put(to + p.slice(from.length), node);
    this.unlink(this.dirAt(parentOf(from)), baseName(from), nowMs);
    this.link(this.dirAt(parentOf(to)), baseName(to), nowMs);
  }

  /** Removes the subtree at `path`; returns the removed files, so their chunks can be released. */
  remove(path: string, nowMs: number): { files: FileNode[]; count: number } {
    assert(path !== ROOT_PATH, "the root is never removed");
    const paths = this.subtree(path);
    const files: FileNode[] = [];
    for (const p of paths) {
      const node = this.nodes.get(p);
      if (node?.type === "file") files.push(node);
      this.del(p);
    }
    this.unlink(this.dirAt(parentOf(path)), baseName(path), nowMs);
    return { files, count: paths.length };
  }

  touch(node: FsNode, nowMs: number): void {
    const prev = node.modifiedAtMs;
    node.modifiedAtMs = nowMs;
    this.journal.record(() => {
      node.modifiedAtMs = prev;
    });
  }

  private dirAt(path: string): DirNode {
    const node = this.nodes.get(path);
    assert(node?.type === "dir", `${path} is an existing directory`);
    return node;
  }

  private put(path: string, node: FsNode): void {
    const prev = this.nodes.get(path);
    this.nodes.set(path, node);
    this.journal.record(() => {
      if (prev === undefined) this.nodes.delete(path);
      else this.nodes.set(path, prev);
    });
  }

  private del(path: string): void {
    const prev = this.nodes.get(path);
    if (prev === undefined) return;
    this.nodes.delete(path);
    this.journal.record(() => this.nodes.set(path, prev));
  }

  private link(dir: DirNode, name: string, nowMs: number): void {
    dir.children.add(name);
    this.journal.record(() => dir.children.delete(name));
    this.touch(dir, nowMs);
  }

  private unlink(dir: DirNode, name: string, nowMs: number): void {
    const had = dir.children.delete(name);
    assert(had, "unlink: the child was linked");
    this.journal.record(() => dir.children.add(name));
    this.touch(dir, nowMs);
  }

  // ---- snapshot ----

  /**
   * The tree in path order. `shareVersions` hands out the live (never changed in place) version
   * records instead of copies: only for a snapshot that is encoded at once (copying every inline byte
   * took a quarter of a snapshot's time).
   */
  toSnapshot(shareVersions = false): NodeSnapshot[] {
    const paths = [...this.nodes.keys()].sort();
    return paths.map((path): NodeSnapshot => {
      const n = this.nodes.get(path);
      assert(n !== undefined, "snapshot: key exists");
      return n.type === "dir"
        ? { path, type: "dir", createdAtMs: n.createdAtMs, modifiedAtMs: n.modifiedAtMs }
        : {
            path,
            type: "file",
            createdAtMs: n.createdAtMs,
            modifiedAtMs: n.modifiedAtMs,
            versions: shareVersions ? [...n.versions] : n.versions.map(copyVersion),
          };
    });
  }

  static fromSnapshot(nodes: readonly NodeSnapshot[], journal: Journal): Namespace {
    const ns = new Namespace(journal);
    const root = nodes[0];
    assert(root?.path === ROOT_PATH && root.type === "dir", "snapshot: the root comes first");
    const rootNode = ns.dirAt(ROOT_PATH);
    rootNode.createdAtMs = root.createdAtMs;
    rootNode.modifiedAtMs = root.modifiedAtMs;
    for (const s of nodes.slice(1)) {
      assert(isNormalPath(s.path) && !ns.nodes.has(s.path), `snapshot: ${s.path} is normal and unique`);
      const parent = ns.nodes.get(parentOf(s.path));
      assert(parent?.type === "dir", `snapshot: the parent of ${s.path} precedes it and is a directory`);
      parent.children.add(baseName(s.path));
      if (s.type === "dir") {
        ns.nodes.set(s.path, {
          type: "dir",
          createdAtMs: s.createdAtMs,
          modifiedAtMs: s.modifiedAtMs,
          children: new Set(),
        });
      } else {
        assert(s.versions.length > 0, `snapshot: ${s.path} has a version`);
        ns.nodes.set(s.path, {
          type: "file",
          createdAtMs: s.createdAtMs,
          modifiedAtMs: s.modifiedAtMs,
          versions: s.versions.map(copyVersion),
        });
      }
    }
    return ns;
  }
}
