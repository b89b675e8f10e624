/**
 * The raftfs client: an fs/promises-like API over the metadata replicas and the data nodes.
 * Metadata calls follow the leader (meta-connection.ts); mutations are exactly-once (session.ts);
 * content is inline or chunked (upload.ts, chunk-reader.ts); chunks are cached by id.
 *
 * Consistency: reads are linearizable by default (one read on the leader per open). With
 * `metadataCache: "watch"`, opens may be served from metadata kept fresh by the change feed. Either
 * way a client never returns an older state of a path than one it already returned (monotonic reads)
 * and always sees its own writes (a write drops the path from the cache before it returns).
 */
import { setMaxListeners } from "node:events";
import { backoffMs, Deadline, sleep } from "../common/backoff.js";
import { DfsError, isDfsError } from "../common/errors.js";
import { normalizePath } from "../common/paths.js";
import {
  type ClusterStatus,
  type CommitResponse,
  type DeleteResponse,
  type DropVersionResponse,
  type ListEntry,
  type ListResponse,
  type LockHolder,
  META_ROUTES,
  type MkdirResponse,
  type QuotaResponse,
  type ReadResponse,
  type SetAttrsRequest,
  type StatResponse,
  type VersionInfo,
  type VersionsResponse,
  type WireContent,
  type WireTxnCondition,
  type WireTxnOp,
} from "../common/protocol/index.js";
import { AdminApi } from "./admin.js";
import { type CacheStats, ChunkCache } from "./chunk-cache.js";
import type { ChunkReader } from "./chunk-reader.js";
import type { ChunkWriter } from "./chunk-writer.js";
import { slicesFor, spanOf } from "./chunking.js";
import { createChunkIo, createClientAgents } from "./client-io.js";
import {
  attrRequestFields,
  decodeInline,
  fenceFields,
  type LockFenceOptions,
  type ReadFileOptions,
  type ReadStreamOptions,
  type WriteData,
  type WriteFileOptions,
} from "./file-options.js";
import { requestJson } from "./http.js";
import { type SymlinkOptions, symlinkBody, targetOf } from "./links.js";
import {
  checkPageOptions,
  type ListOptions,
  type ListPageOptions,
  listEntries,
  listPages,
} from "./listing.js";
import { acquireLock, type LockHandle, type LockOptions, runHolding } from "./locks.js";
import { MetaBatcher } from "./meta-batcher.js";
import { MetaCache, ReadGuard } from "./meta-cache.js";
import { MetaConnection } from "./meta-connection.js";
import { type ConnectOptions, type ResolvedOptions, resolveOptions } from "./options.js";
import { Sessions } from "./session.js";
import { partialStatus } from "./status.js";
import { RaftfsReadStream, RaftfsWriteStream } from "./streams.js";
import { Upload, type WriteResult } from "./upload.js";
import { followFeed, type WatchEvent, type WatchOptions, watchChanges } from "./watch.js";

export class RaftfsClient {
  private readonly closing = new AbortController();
  /** Membership changes and decommission (role `admin`). */
  readonly admin: AdminApi;
  private readonly metaAgent;
  private readonly dataAgent;
  private readonly meta: MetaConnection;
  private readonly sessions: Sessions;
  /** Coalesces commits and stats in flight at once (null: `batchMetaCalls: false`). */
  private readonly batcher: MetaBatcher | null;
  private readonly cache: ChunkCache;
  private readonly metaCache: MetaCache | null;
  private readonly guard = new ReadGuard();
  private readonly writer: ChunkWriter;
  private readonly reader: ChunkReader;
  private readonly heldLocks = new Set<LockHandle>();
  private readonly openStreams = new Set<RaftfsReadStream | RaftfsWriteStream>();
  private readonly feed: Promise<void> | null;
  private closed = false;

  constructor(readonly options: ResolvedOptions) {
    const o = options;
    // Every call in flight may hold an abort listener on the client's signal: not a leak.
    setMaxListeners(0, this.closing.signal);
    const agents = createClientAgents(o);
    this.metaAgent = agents.meta;
    this.dataAgent = agents.data;
    const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
    this.meta = new MetaConnection(
      {
        endpoints: o.endpoints,
        deadlineMs: o.deadlineMs,
        requestTimeoutMs: o.requestTimeoutMs,
        backoff: o.backoff,
        // A probe round every 20 ms while leaderless; a replica that does not answer /status within
        // 500 ms is out of this round (the next round asks it again).
        leaderSearch: { probeIntervalMs: 20, probeTimeoutMs: Math.min(500, o.requestTimeoutMs) },
      },
      {
        send: (origin, req) =>
          requestJson(
            this.metaAgent,
            origin,
            o.token ? { ...req, headers: { ...headers, ...req.headers } } : req,
          ),
        signal: this.closing.signal,
        ...(o.onRetry ? { onRetry: o.onRetry } : {}),
      },
    );
    this.batcher = o.batchMetaCalls
      ? new MetaBatcher(
          { requestsInFlight: o.metaBatchRequestsInFlight },
          { meta: this.meta, clientSignal: this.closing.signal },
        )
      : null;
    this.sessions = new Sessions(this.meta, this.batcher);
    this.admin = new AdminApi(this.meta, this.sessions);
    this.cache = new ChunkCache({
      maxBytes: o.cacheBytes,
      ...(o.cacheDir !== undefined ? { dir: o.cacheDir } : {}),
      dirMaxBytes: o.cacheDirBytes,
    });
    const io = createChunkIo(o, { meta: this.meta, dispatcher: this.dataAgent, cache: this.cache });
    this.writer = io.writer;
    this.reader = io.reader;
    this.metaCache =
      o.metadataCache === "watch"
        ? new MetaCache({
            maxEntries: 10_000,
            maxBytes: 32 * 1024 * 1024,
            maxStalenessMs: o.metadataMaxStalenessMs,
          })
        : null;
    this.feed = this.metaCache
      ? followFeed(this.meta, this.metaCache, this.closing.signal, o.metadataMaxStalenessMs)
      : null;
  }

  // ---------------------------------------------------------------- files

  async writeFile(path: string, data: WriteData, opts: WriteFileOptions = {}): Promise<WriteResult> {
    // A whole buffer is kept as the upload's source: after a CHUNK_GONE it stores the chunks again.
    const whole =
      typeof data === "string" ? Buffer.from(data) : data instanceof Uint8Array ? data : undefined;
    const upload = this.upload(normalizePath(path), opts, whole);
    try {
      if (whole !== undefined)
        await upload.write(whole); // the upload copies what it keeps
      else if (typeof data !== "string" && !(data instanceof Uint8Array))
        for await (const part of data)
          await upload.write(typeof part === "string" ? Buffer.from(part) : part);
    } catch (err) {
      await upload.abort();
      throw err;
    }
    return upload.finish();
  }

  async readFile(path: string, opts?: ReadFileOptions & { encoding?: undefined }): Promise<Buffer>;
  async readFile(path: string, opts: ReadFileOptions & { encoding: BufferEncoding }): Promise<string>;
  async readFile(
    path: string,
    opts: ReadFileOptions & { encoding?: BufferEncoding } = {},
  ): Promise<Buffer | string> {
    const file = await this.open(normalizePath(path), opts.version);
    let data: Buffer;
    if (file.content.kind === "inline") data = decodeInline(file);
    else {
      const parts: Buffer[] = [];
      const slices = slicesFor(file.content.chunks, { start: 0, end: file.sizeBytes });
      for await (const part of this.reader.stream(slices, this.closing.signal)) parts.push(part);
      data = Buffer.concat(parts);
      if (data.byteLength !== file.sizeBytes) {
        throw new DfsError(
          "CORRUPT",
          `${file.path} v${file.version}: chunks add up to ${data.byteLength} bytes, not ${file.sizeBytes}`,
        );
      }
    }
    return opts.encoding ? data.toString(opts.encoding) : data;
  }

  createWriteStream(path: string, opts: WriteFileOptions = {}): RaftfsWriteStream {
    const stream: RaftfsWriteStream = new RaftfsWriteStream(
      path,
      this.upload(normalizePath(path), opts),
      () => this.openStreams.delete(stream),
    );
    this.openStreams.add(stream);
    return stream;
  }

  createReadStream(path: string, opts: ReadStreamOptions = {}): RaftfsReadStream {
    const p = normalizePath(path);
    const reader = this.reader;
    const source = (signal: AbortSignal) => {
      const file = this.open(p, opts.version);
      async function* bytes(): AsyncGenerator<Buffer> {
        const f = await file;
        const span = spanOf(f.sizeBytes, opts);
        if (f.content.kind === "inline") {
          if (span.end > span.start) yield decodeInline(f).subarray(span.start, span.end);
          return;
        }
        yield* reader.stream(slicesFor(f.content.chunks, span), signal);
      }
      return { file, bytes: bytes() };
    };
    const stream: RaftfsReadStream = new RaftfsReadStream(p, source, () => this.openStreams.delete(stream));
    this.openStreams.add(stream);
    return stream;
  }

  /**
   * A file's metadata and content description (inline bytes or chunk list) as one read returns it:
   * what an adapter needs to check a condition against the exact version it will then stream.
   */
  async fileInfo(path: string, opts: ReadFileOptions = {}): Promise<ReadResponse> {
    return this.open(normalizePath(path), opts.version);
  }

  /**
   * Commits `content` as a new version without storing bytes: its chunks must already be stored
   * (e.g. referenced by other files, as S3 parts or a copy's source are). One metadata commit.
   */
  async commitContent(path: string, content: WireContent, opts: WriteFileOptions = {}): Promise<WriteResult> {
    const p = normalizePath(path);
    this.assertOpen();
    try {
      const r = await this.sessions.mutate<CommitResponse>(
        META_ROUTES.commit,
        {
          path: p,
          content,
          ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
          ...fenceFields(opts),
          ...(opts.createParents ? { createParents: true } : {}),
          ...attrRequestFields(opts),
          ...(opts.meta ? { meta: opts.meta } : {}),
        },
        opts.signal ? { signal: opts.signal } : {},
      );
      const sizeBytes =
        content.kind === "chunks" ? content.sizeBytes : Buffer.byteLength(content.dataBase64, "base64");
      return { version: r.version, sizeBytes };
    } finally {
      this.metaCache?.invalidate(p);
    }
  }

  // ---------------------------------------------------------------- namespace

  async stat(path: string): Promise<StatResponse> {
    const p = normalizePath(path);
    if (this.batcher === null) return this.get<StatResponse>(META_ROUTES.stat, { path: p });
    this.assertOpen();
    return this.batcher.stat(p);
  }

  async exists(path: string): Promise<boolean> {
    try {
      await this.stat(path);
      return true;
    } catch (err) {
      if (isDfsError(err, "NOT_FOUND")) return false;
      throw err;
    }
  }

  /**
   * The names (or entries) of a directory in name order: all of them, fetched page by page, or with
   * `limit`/`startAfter` one page only (the server lowers `limit` to its maximum; an empty page means
   * the end). A huge directory is better walked with `list()`, which holds one page at a time.
   */
  async readdir(path: string, opts?: { withTypes?: false } & ListPageOptions): Promise<string[]>;
  async readdir(path: string, opts: { withTypes: true } & ListPageOptions): Promise<ListEntry[]>;
  async readdir(
    path: string,
    opts: { withTypes?: boolean } & ListPageOptions = {},
  ): Promise<string[] | ListEntry[]> {
    const { withTypes, ...page } = opts;
    let entries: ListEntry[];
    if (page.limit !== undefined || page.startAfter !== undefined) {
      entries = (await this.listPage(path, page)).entries;
    } else {
      entries = [];
      for await (const p of this.listPages(path)) entries.push(...p.entries);
    }
    return withTypes ? entries : entries.map((e) => e.name);
  }

  /** One page of a directory, with `truncated` and the `nextCursor` to pass as `startAfter` next. */
  async listPage(path: string, opts: ListPageOptions = {}): Promise<ListResponse> {
    checkPageOptions(opts);
    return this.get<ListResponse>(META_ROUTES.list, {
      path: normalizePath(path),
      limit: opts.limit,
      startAfter: opts.startAfter,
    });
  }

  /** A directory's pages, each requested once the one before has been consumed. */
  listPages(path: string, opts: ListOptions = {}): AsyncGenerator<ListResponse> {
    const p = normalizePath(path);
    return listPages((page) => this.listPage(p, page), opts);
  }

  /** `for await (const e of client.list(dir))`: every entry in name order, one page in memory. */
  list(path: string, opts: ListOptions = {}): AsyncGenerator<ListEntry> {
    const p = normalizePath(path);
    return listEntries((page) => this.listPage(p, page), opts);
  }

  async mkdir(
    path: string,
    opts: { recursive?: boolean; attrs?: WriteFileOptions["attrs"] } & LockFenceOptions = {},
  ): Promise<MkdirResponse> {
    const p = normalizePath(path);
    const r = await this.sessions.mutate<MkdirResponse>(META_ROUTES.mkdir, {
      path: p,
      ...(opts.recursive ? { parents: true } : {}),
      ...(opts.attrs ? { attrs: opts.attrs } : {}),
      ...fenceFields(opts),
    });
    this.metaCache?.invalidate(p);
    return r;
  }

  /** `ln -s target path` (links.ts): EXISTS when `path` is taken; the target is kept verbatim. */
  async symlink(target: string, path: string, opts: SymlinkOptions = {}): Promise<void> {
    const p = normalizePath(path);
    await this.sessions.mutate(META_ROUTES.symlink, symlinkBody(p, target, opts));
    this.metaCache?.invalidate(p);
  }
  /** The target of the symbolic link at `path` (links.ts). */
  async readlink(path: string): Promise<string> {
    return targetOf(await this.stat(path));
  }

  /** chmod, chown, utimens: sets the fields given (mtime in ms since the epoch); ctime moves. */
  async setAttrs(path: string, attrs: Omit<SetAttrsRequest, "path" | "session">): Promise<void> {
    const p = normalizePath(path);
    await this.sessions.mutate(META_ROUTES.setAttrs, { path: p, ...attrs });
    this.metaCache?.invalidate(p);
  }

  async rename(from: string, to: string, opts: LockFenceOptions = {}): Promise<void> {
    const f = normalizePath(from);
    const t = normalizePath(to);
    await this.sessions.mutate(META_ROUTES.rename, {
      from: f,
      to: t,
      ...fenceFields(opts),
    });
    this.metaCache?.invalidate(f);
    this.metaCache?.invalidate(t);
  }

  async rm(
    path: string,
    opts: { recursive?: boolean; force?: boolean } & LockFenceOptions = {},
  ): Promise<DeleteResponse> {
    const p = normalizePath(path);
    try {
      return await this.sessions.mutate<DeleteResponse>(META_ROUTES.delete, {
        path: p,
        ...(opts.recursive ? { recursive: true } : {}),
        ...fenceFields(opts),
      });
    } catch (err) {
      if (opts.force && isDfsError(err, "NOT_FOUND")) return { removed: 0 };
      throw err;
    } finally {
      this.metaCache?.invalidate(p);
    }
  }

  /**
   * Drops one retained version of a file (the file goes with its last one); its chunks become garbage
   * unless another version references them. NOT_FOUND when that version is not retained.
   */
  async dropVersion(
    path: string,
    version: number,
    opts: LockFenceOptions = {},
  ): Promise<DropVersionResponse> {
    const p = normalizePath(path);
    try {
      return await this.sessions.mutate(META_ROUTES.dropVersion, { path: p, version, ...fenceFields(opts) });
    } finally {
      this.metaCache?.invalidate(p);
    }
  }

  /**
   * Conditions and operations applied all-or-nothing as one log entry (e.g. a rename that replaces
   * its target: delete + rename, which the mount needs for POSIX rename(2)).
   */
  async txn(conditions: WireTxnCondition[], ops: WireTxnOp[]): Promise<unknown> {
    try {
      return await this.sessions.mutate(META_ROUTES.txn, { conditions, ops });
    } finally {
      for (const op of ops) {
        if (op.type === "rename") {
          this.metaCache?.invalidate(op.from);
          this.metaCache?.invalidate(op.to);
        } else this.metaCache?.invalidate(op.path);
      }
    }
  }

  async versions(path: string): Promise<VersionInfo[]> {
    return (await this.get<VersionsResponse>(META_ROUTES.versions, { path: normalizePath(path) })).versions;
  }

  // ---------------------------------------------------------------- locks

  async lock(path: string, opts: LockOptions = {}): Promise<LockHandle> {
    this.assertOpen();
    const handle = await acquireLock(this.sessions, normalizePath(path), opts, {
      signal: this.closing.signal,
      onDone: (h) => this.heldLocks.delete(h),
    });
    this.heldLocks.add(handle);
    return handle;
  }

  /** Runs `fn` holding the lock; throws LOCK_NOT_HELD if the lease was lost before `fn` finished. */
  async withLock<T>(
    path: string,
    fn: (lock: LockHandle) => Promise<T> | T,
    opts: LockOptions = {},
  ): Promise<T> {
    return runHolding(await this.lock(path, opts), fn);
  }

  /** A top-level directory's quota (limits, null when none) and usage: names and retained bytes. */
  async quota(path: string): Promise<QuotaResponse> {
    return this.get<QuotaResponse>(META_ROUTES.quota, { path: normalizePath(path) });
  }

  async locks(path?: string): Promise<LockHolder[]> {
    const query = path === undefined ? {} : { path: normalizePath(path) };
    return (await this.get<{ locks: LockHolder[] }>(META_ROUTES.locks, query)).locks;
  }

  // ---------------------------------------------------------------- cluster

  /**
   * The cluster as the leader sees it. When no leader answers within `deadlineMs` (default 3 s),
   * a partial view from each process's own `/status`, with `leader: null`.
   */
  async status(opts: { deadlineMs?: number } = {}): Promise<ClusterStatus> {
    this.assertOpen();
    const deadlineMs = opts.deadlineMs ?? Math.min(3000, this.options.deadlineMs);
    try {
      return await this.meta.call<ClusterStatus>({
        method: "GET",
        path: META_ROUTES.clusterStatus,
        deadlineMs,
      });
    } catch (err) {
      if (!isDfsError(err, "UNAVAILABLE") && !isDfsError(err, "TIMEOUT")) throw err;
      return partialStatus(this.metaAgent, this.meta.knownEndpoints, this.options.dataNodes);
    }
  }

  /** Changes as they are applied, from now (or after `opts.after`), until the loop stops. */
  watch(opts: WatchOptions = {}): AsyncGenerator<WatchEvent> {
    this.assertOpen();
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.closing.signal]) : this.closing.signal;
    return watchChanges(this.meta, { ...opts, signal });
  }

  cacheStats(): CacheStats {
    return {
      ...this.cache.stats(),
      metaHits: this.metaCache?.hits ?? 0,
      metaMisses: this.metaCache?.misses ?? 0,
    };
  }

  /** Batch requests sent and the calls they carried (meta-batcher.ts); zeros when batching is off. */
  get batchStats(): { batches: number; batchedCalls: number } {
    return { ...(this.batcher?.stats ?? { batches: 0, batchedCalls: 0 }) };
  }

  /** The leader this client currently talks to, if known. */
  get leaderUrl(): string | null {
    return this.meta.leaderUrl;
  }

  /** Releases held locks (best effort), stops the feed and open streams, closes connections. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.heldLocks].map((h) => h.release().catch(() => undefined)));
    this.closing.abort(new DfsError("UNAVAILABLE", "the client was closed"));
    for (const s of this.openStreams) s.destroy();
    await this.feed;
    await Promise.all([this.metaAgent.close(), this.dataAgent.close()]);
  }

  // ---------------------------------------------------------------- internals

  private assertOpen(): void {
    if (this.closed) throw new DfsError("UNAVAILABLE", "the client was closed");
  }

  private get<T>(route: string, query: Record<string, string | number | undefined>): Promise<T> {
    this.assertOpen();
    return this.meta.call<T>({ method: "GET", path: route, query });
  }

  /** The metadata of a file to read: from the watch cache, or one linearizable read. */
  private async open(path: string, version: number | undefined): Promise<ReadResponse> {
    this.assertOpen();
    if (version === undefined && this.metaCache?.fresh) {
      const hit = this.metaCache.get(path);
      if (hit !== undefined && this.guard.accept(path, hit.index)) return hit;
    }
    const deadline = new Deadline(this.options.deadlineMs);
    for (let attempt = 0; ; attempt++) {
      const askedAt = this.metaCache?.generation ?? 0;
      const r = await this.meta.call<ReadResponse>({
        method: "GET",
        path: META_ROUTES.read,
        query: { path, version },
        deadlineMs: Math.max(1, deadline.remainingMs()),
      });
      if (this.guard.accept(path, r.index)) {
        if (version === undefined) this.metaCache?.put(r, askedAt);
        return r;
      }
      // Served from a state older than one already returned: never hand that out; ask again.
      if (deadline.expired()) {
        throw new DfsError("UNAVAILABLE", `no replica could serve ${path} at least as new as already seen`, {
          path,
        });
      }
      await sleep(
        Math.min(backoffMs(attempt, this.options.backoff), deadline.remainingMs()),
        this.closing.signal,
      );
    }
  }

  private upload(path: string, opts: WriteFileOptions, source?: Uint8Array): Upload {
    this.assertOpen();
    const signal = opts.signal ? AbortSignal.any([opts.signal, this.closing.signal]) : this.closing.signal;
    return new Upload({
      writer: this.writer,
      commit: async (content) => {
        try {
          return await this.sessions.mutate<CommitResponse>(
            META_ROUTES.commit,
            {
              path,
              content,
              ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
              ...fenceFields(opts),
              ...(opts.createParents ? { createParents: true } : {}),
              ...attrRequestFields(opts),
              ...(opts.meta ? { meta: opts.meta } : {}),
            },
            { signal },
          );
        } finally {
          this.metaCache?.invalidate(path);
        }
      },
      abandon: async (chunkIds) => {
        await this.sessions.mutate(META_ROUTES.abandon, { chunkIds });
      },
      inlineThresholdBytes: opts.chunked ? 0 : this.options.inlineThresholdBytes,
      chunkSizeBytes: this.options.chunkSizeBytes,
      ...(opts.knownChunks ? { knownChunks: opts.knownChunks } : {}),
      ...(source !== undefined ? { source } : {}),
      signal,
    });
  }
}

export type { LockFenceOptions, ReadFileOptions, ReadStreamOptions, WriteData, WriteFileOptions };

/** Makes a client. Nothing is contacted until the first call (watch mode starts following the feed). */
export async function connect(opts: ConnectOptions): Promise<RaftfsClient> {
  return new RaftfsClient(resolveOptions(opts));
}
