/**
 * A new version of a chunked file made of its base version's chunks, most kept as they are and a few
 * replaced: a 4 KiB write into a 64 MiB file stores one chunk and commits a list naming the other
 * chunks of the base, instead of reading and hashing the whole file again (Upload needs every byte
 * to cut and hash the content). The mount's partial writes use it (src/mount/patch-copy.ts).
 *
 * Storing chunks needs a placement from the leader and the data nodes' pipeline, which the client
 * keeps to itself: the patcher has its own metadata connection and data agent, built from the
 * client's resolved options (the same endpoints, token, timeouts and chunk-store retries), and must
 * be closed. Stored chunks whose commit then fails are not named by any version: the cluster
 * collects them after its grace period, as it does an interrupted upload's.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { DfsError, isDfsError } from "../common/errors.js";
import { normalizePath } from "../common/paths.js";
import type { WireChunkRef } from "../common/protocol/index.js";
import { ChunkCache } from "./chunk-cache.js";
import type { ChunkWriter } from "./chunk-writer.js";
import { sha256Hex } from "./chunking.js";
import type { RaftfsClient } from "./client.js";
import { createChunkIo, createClientAgents } from "./client-io.js";
import type { WriteFileOptions } from "./file-options.js";
import { requestJson } from "./http.js";
import { MetaConnection } from "./meta-connection.js";
import type { WriteResult } from "./upload.js";

/** One chunk of the new version, in file order: a chunk the cluster holds, kept, or new bytes. */
export type PatchedChunk = { keep: WireChunkRef } | { data: Buffer };

export interface PatchCommitOptions {
  /** Compare-and-set: the version the chunks kept belong to (it must still be the latest). */
  expectedVersion: number;
  lockToken?: number;
  /** Ids the base references: new bytes equal to one of them are listed without a store. */
  knownChunks?: ReadonlySet<string>;
  /** chmod/chown/utimens made with this version, in its commit (WriteFileOptions.setAttrs). */
  setAttrs?: WriteFileOptions["setAttrs"];
  signal?: AbortSignal;
}

/** Chunk stores in flight at once per commit: memory is bounded by this many chunks. */
const STORES_IN_FLIGHT = 4;
/** Commit attempts after CHUNK_GONE (a chunk just stored was collected content; see upload.ts). */
const CHUNK_GONE_RETRIES = 6;

export class ChunkPatcher {
  private readonly agents: ReturnType<typeof createClientAgents>;
  private readonly writer: ChunkWriter;
  private readonly closing = new AbortController();

  constructor(private readonly client: RaftfsClient) {
    const o = client.options;
    this.agents = createClientAgents(o);
    const headers: Record<string, string> = o.token ? { authorization: `Bearer ${o.token}` } : {};
    const meta = new MetaConnection(
      {
        endpoints: o.endpoints,
        deadlineMs: o.deadlineMs,
        requestTimeoutMs: o.requestTimeoutMs,
        backoff: o.backoff,
        leaderSearch: { probeIntervalMs: 20, probeTimeoutMs: Math.min(500, o.requestTimeoutMs) },
      },
      {
        send: (origin, req) =>
          requestJson(this.agents.meta, origin, { ...req, headers: { ...headers, ...req.headers } }),
        signal: this.closing.signal,
      },
    );
    // Only the writer is used: reads go through the client, whose cache they fill.
    const cache = new ChunkCache({ maxBytes: 0, dirMaxBytes: 0 });
    this.writer = createChunkIo(o, { meta, dispatcher: this.agents.data, cache }).writer;
  }

  /** Stores one chunk on R data nodes; its reference, for a commit. */
  storeChunk(data: Buffer, signal?: AbortSignal): Promise<WireChunkRef> {
    if (data.byteLength === 0) throw new DfsError("BAD_REQUEST", "a chunk has at least one byte");
    const s = signal ? AbortSignal.any([signal, this.closing.signal]) : this.closing.signal;
    return this.writer.store(data, s);
  }

  /**
   * Stores the new chunks (those not in `knownChunks`, a few at once) and commits the list, in order,
   * as the next version of `path`: all or nothing, like any commit.
   */
  async commit(
    path: string,
    chunks: AsyncIterable<PatchedChunk> | Iterable<PatchedChunk>,
    opts: PatchCommitOptions,
  ): Promise<WriteResult> {
    const refs: (WireChunkRef | undefined)[] = [];
    const inFlight = new Set<Promise<void>>();
    let failure: { error: unknown } | null = null;
    let sizeBytes = 0;
    for await (const c of chunks) {
      if (failure) break;
      const index = refs.length;
      refs.push(undefined);
      if ("keep" in c) {
        refs[index] = c.keep;
        sizeBytes += c.keep.sizeBytes;
        continue;
      }
      sizeBytes += c.data.byteLength;
      const id = sha256Hex(c.data);
      if (opts.knownChunks?.has(id)) {
        refs[index] = { id, sizeBytes: c.data.byteLength };
        continue;
      }
      while (inFlight.size >= STORES_IN_FLIGHT) await Promise.race(inFlight);
      const p: Promise<void> = this.storeChunk(c.data, opts.signal).then(
        (ref) => {
          refs[index] = ref;
        },
        (error: unknown) => {
          failure ??= { error };
        },
      );
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    }
    await Promise.all(inFlight);
    if (failure) throw (failure as { error: unknown }).error;
    const list = refs.map((r) => {
      if (r === undefined) throw new DfsError("INTERNAL", "a chunk of the patch was not stored");
      return r;
    });
    const content = { kind: "chunks" as const, chunks: list, sizeBytes };
    const commitOpts = {
      expectedVersion: opts.expectedVersion,
      ...(opts.lockToken !== undefined ? { lockToken: opts.lockToken } : {}),
      ...(opts.setAttrs !== undefined ? { setAttrs: opts.setAttrs } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    };
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.client.commitContent(normalizePath(path), content, commitOpts);
      } catch (err) {
        if (!isDfsError(err, "CHUNK_GONE") || attempt >= CHUNK_GONE_RETRIES) throw err;
        await sleep(Math.min(1000, 100 * 2 ** attempt), undefined, { signal: this.closing.signal });
      }
    }
  }

  async close(): Promise<void> {
    this.closing.abort(new DfsError("UNAVAILABLE", "the chunk patcher was closed"));
    await Promise.all([this.agents.meta.close(), this.agents.data.close()]);
  }
}
