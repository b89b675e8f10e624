/**
 * Directories' and links' stat answers, reused for `ttlMs`: the kernel drops a directory's cached
 * attributes after every create in it, and asking the leader again each time would double the cost of
 * writing small files; and it asks READLINK at every path walk through a link, whose target the stat
 * answer carries. The bound is the same one the kernel's own caches give (README "Mount").
 *
 * A change made through this mount moves the cached directory's mtime and ctime at once
 * (`changed`), so this mount's programs see POSIX's "mark for update" of the parent right after
 * mkdir, create, unlink, rmdir or rename instead of up to `ttlMs` later (pjdfstest mkdir/00,
 * open/00). Another client's changes drop the entry through the change feed (`drop`).
 */
import type { StatResponse } from "../common/protocol/index.js";

/** Past this many directories the cache starts again from empty: bounded, and cheap to refill. */
const MAX_DIRS = 10_000;

export class DirStats {
  private readonly byPath = new Map<string, { st: StatResponse; atMs: number }>();

  constructor(private readonly ttlMs: number) {}

  async get(path: string, fetch: (path: string) => Promise<StatResponse>): Promise<StatResponse> {
    const now = Date.now();
    const hit = this.byPath.get(path);
    if (hit && now - hit.atMs < this.ttlMs) return hit.st;
    const st = await fetch(path);
    if (st.type === "dir" || st.type === "symlink") {
      if (this.byPath.size >= MAX_DIRS) this.byPath.clear();
      this.byPath.set(path, { st, atMs: now });
    }
    return st;
  }

  /** This mount changed an entry of the directory at `path`: its times move to now (never back). */
  changed(path: string, nowMs = Date.now()): void {
    const hit = this.byPath.get(path);
    if (!hit) return;
    const modifiedAtMs = Math.max(hit.st.modifiedAtMs, nowMs);
    const changedAtMs = Math.max(hit.st.changedAtMs ?? hit.st.modifiedAtMs, nowMs);
    hit.st = { ...hit.st, modifiedAtMs, changedAtMs };
  }

  drop(path: string): void {
    this.byPath.delete(path);
  }

  clear(): void {
    this.byPath.clear();
  }
}
