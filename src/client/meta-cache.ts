/**
 * What a client remembers about file metadata.
 *
 * `ReadGuard` gives monotonic reads: per path, the highest Raft index at which this client saw it;
 * an answer served at a lower index is older than something already returned and is refused (the
 * caller asks again). Linearizable reads never trip it; it is the net under every other source.
 *
 * `MetaCache` (watch mode only) keeps the latest `read` answer per path, dropped when the change feed
 * reports a change to the path (or above it: renames and deletes of directories) and wholesale on a
 * feed reset. An answer is only cached if it is at least as new as the feed position; otherwise a
 * change between the two might already have gone by unseen.
 *
 * It serves only while fresh: the feed's quorum-confirmed answers (see WatchResponse) say that its
 * position missed nothing committed before a moment on this client's clock; an answer is served only if
 * that moment is less than `maxStalenessMs` ago. A feed that goes quiet — its replica partitioned
 * away, a long pause — stops the serving by itself, with no message needed to say so.
 */
import { LRUCache } from "lru-cache";
import { isAncestorOrSelf } from "../common/paths.js";
import type { ReadResponse, WireChange } from "../common/protocol/index.js";

export class ReadGuard {
  private readonly seen = new LRUCache<string, number>({ max: 10_000 });

  /** True if `index` is not older than what was already returned for `path`; records it. */
  accept(path: string, index: number): boolean {
    const before = this.seen.get(path);
    if (before !== undefined && index < before) return false;
    this.seen.set(path, index);
    return true;
  }
}

export class MetaCache {
  private readonly entries: LRUCache<string, ReadResponse>;
  /** The feed position: every change up to here has been applied to this cache. */
  private position: number | null = null;
  /**
   * Bumped by every local invalidation (own writes). A read that began before one may carry the
   * state from before our write: it must not be cached, or we would not read our own write.
   */
  generation = 0;
  hits = 0;
  misses = 0;

  /** Client-clock ms before which every committed change has reached this cache (null: no proof yet). */
  private freshAsOfMs: number | null = null;
  private readonly maxStalenessMs: number;
  private readonly now: () => number;

  constructor(opts: { maxEntries: number; maxBytes: number; maxStalenessMs: number; now?: () => number }) {
    this.maxStalenessMs = opts.maxStalenessMs;
    this.now = opts.now ?? (() => performance.now());
    this.entries = new LRUCache<string, ReadResponse>({
      max: opts.maxEntries,
      maxSize: opts.maxBytes,
      // Inline content dominates; chunk lists are ~100 bytes a chunk.
      sizeCalculation: (r) =>
        256 + (r.content.kind === "inline" ? r.content.dataBase64.length : r.content.chunks.length * 100),
    });
  }

  /**
   * Serving from the cache needs a followed feed (caching answers does too) and, to serve, a recent
   * proof of freshness. Until the first answer (or after a failure) both are off.
   */
  get live(): boolean {
    return this.position !== null;
  }

  get fresh(): boolean {
    return this.live && this.freshAsOfMs !== null && this.now() - this.freshAsOfMs <= this.maxStalenessMs;
  }

  get(path: string): ReadResponse | undefined {
    const r = this.fresh ? this.entries.get(path) : undefined;
    if (r === undefined) this.misses++;
    else this.hits++;
    return r;
  }

  /**
   * Caches an answer read from a replica (asked when `generation` was `askedAt`), if neither the feed
   * nor one of our own writes can have changed the path since.
   */
  put(r: ReadResponse, askedAt: number): void {
    if (this.position === null || r.index < this.position || askedAt !== this.generation) {
      this.entries.delete(r.path);
      return;
    }
    this.entries.set(r.path, r);
  }

  /** Drops `path` and everything below it (own writes: read-your-writes does not wait for the feed). */
  invalidate(path: string): void {
    this.generation++;
    this.drop(path);
  }

  private drop(path: string): void {
    this.entries.delete(path);
    for (const key of [...this.entries.keys()]) if (isAncestorOrSelf(path, key)) this.entries.delete(key);
  }

  /**
   * Applies a batch from the feed; `reset` (or a gap) drops everything. `sentAtMs`: when the request
   * that brought it left this client; with the answer's `confirmedAfterMs` it renews the proof of
   * freshness. The server's hold time is counted 1% short, for clocks that tick at slightly different
   * rates (the same allowance a lease makes).
   */
  apply(
    batch: { index: number; changes: readonly WireChange[]; reset: boolean; confirmedAfterMs?: number },
    sentAtMs?: number,
  ): void {
    if (batch.reset) this.entries.clear();
    else {
      for (const c of batch.changes) {
        this.drop(c.path);
        if (c.to !== undefined) this.drop(c.to);
      }
    }
    this.position = Math.max(this.position ?? 0, batch.index);
    if (batch.confirmedAfterMs !== undefined && sentAtMs !== undefined) {
      const asOf = sentAtMs + batch.confirmedAfterMs * 0.99;
      this.freshAsOfMs = Math.max(this.freshAsOfMs ?? asOf, asOf);
    }
  }

  /** The feed broke: nothing cached can be trusted until it is followed again. */
  suspend(): void {
    this.entries.clear();
    this.position = null;
    this.freshAsOfMs = null;
  }

  get feedPosition(): number | null {
    return this.position;
  }
}
