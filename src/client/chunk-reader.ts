/**
 * Reading chunks: where they are (the leader's soft state, rebuilt from the data nodes' reports),
 * then each from any holder, falling back to the next on any failure. A whole chunk is hashed and
 * compared with its id before it is used or cached; a mismatch counts as that holder failing, and only
 * when every holder failed that way is the answer CORRUPT. A partial read (the first or last chunk of
 * a range) cannot be hashed here; it relies on the node, which checks the blocks it serves.
 *
 * Data nodes serve a chunk only with a read ticket, which the locations lookup hands out with the
 * holders and which lives a few minutes: a ticket close to its end is renewed by asking again before
 * it is used, and one a node refuses is renewed once at once, so a long read never fails on an
 * expired ticket.
 */
import type { Dispatcher } from "undici";
import { type BackoffOptions, backoffMs, Deadline, sleep } from "../common/backoff.js";
import { getChunkPieces } from "../common/chunk-get.js";
import { spreadByChunk } from "../common/chunk-spread.js";
import { DfsError } from "../common/errors.js";
import { type LocationsResponse, META_ROUTES, type NodeAddress } from "../common/protocol/index.js";
import { readTicketExpiry } from "../common/tickets.js";
import type { ChunkCache } from "./chunk-cache.js";
import { type ChunkSlice, isWholeChunk } from "./chunking.js";
import { type DeadNodeWatch, watchedRequest } from "./dead-nodes.js";
import type { MetaConnection } from "./meta-connection.js";

// One GET of a chunk is defined in common/ (the dashboard's downloads fetch chunks the same way).
export { type GotChunk, getChunk, getChunkPieces } from "../common/chunk-get.js";

/** Ids per locations request: 64 hex characters each must fit in a URL well under 16 KiB. */
const IDS_PER_LOOKUP = 100;
/** A ticket with less than this left is renewed before use (it may expire in flight, or clocks differ). */
const TICKET_RENEW_MARGIN_MS = 60_000;

/** Where a chunk is, and the ticket its holders want. */
export interface Located {
  nodes: NodeAddress[];
  ticket: string | undefined;
}

export interface ChunkReaderOptions {
  chunkDeadlineMs: number;
  chunkTimeoutMs: number;
  backoff: BackoffOptions;
  /** Chunks fetched or fetching ahead of the consumer (default PREFETCH_CHUNKS). */
  prefetchChunks?: number;
}

/** Default read-ahead: with the chunk being consumed, 5 chunks (20 MiB at 4 MiB chunks) per stream. */
export const PREFETCH_CHUNKS = 4;

export interface ChunkReaderDeps {
  meta: MetaConnection;
  dispatcher: Dispatcher;
  cache: ChunkCache;
  /** Gives up a GET whose node the leader judges dead, for the next holder (dead-nodes.ts). */
  deadNodes?: Pick<DeadNodeWatch, "guard">;
  random?: () => number;
  now?: () => number;
}

export class ChunkReader {
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(
    private readonly opts: ChunkReaderOptions,
    private readonly deps: ChunkReaderDeps,
  ) {
    this.random = deps.random ?? Math.random;
    this.now = deps.now ?? Date.now;
  }

  /** Live holders of each chunk and their read tickets, asked in batches. */
  async locate(ids: readonly string[], signal?: AbortSignal): Promise<Map<string, Located>> {
    const out = new Map<string, Located>();
    const unique = [...new Set(ids)];
    for (let i = 0; i < unique.length; i += IDS_PER_LOOKUP) {
      const batch = unique.slice(i, i + IDS_PER_LOOKUP);
      const r = await this.deps.meta.call<LocationsResponse>({
        method: "GET",
        path: META_ROUTES.locations,
        query: { ids: batch.join(",") },
        ...(signal ? { signal } : {}),
      });
      for (const id of batch) out.set(id, { nodes: r.locations[id] ?? [], ticket: r.tickets?.[id] });
    }
    return out;
  }

  /** The bytes a slice needs, from the cache or from a holder, in one buffer. */
  async read(slice: ChunkSlice, holders: Located | undefined, signal?: AbortSignal): Promise<Buffer> {
    const pieces = await this.readPieces(slice, holders, signal);
    return pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, slice.to - slice.from);
  }

  /** The bytes a slice needs, in order, as the pieces they came in (one when cached). */
  async readPieces(slice: ChunkSlice, holders: Located | undefined, signal?: AbortSignal): Promise<Buffer[]> {
    const { id } = slice.chunk;
    const cached = await this.deps.cache.get(id);
    if (cached !== undefined) return [cached.subarray(slice.from, slice.to)];
    const deadline = new Deadline(this.opts.chunkDeadlineMs);
    let known = holders !== undefined && this.fresh(holders.ticket) ? holders : undefined;
    let corruptSeen = false;
    let renewedAfterRefusal = false;
    let last: DfsError | null = null;
    for (let round = 0; ; round++) {
      const { nodes, ticket } = known ??
        (await this.locate([id], signal)).get(id) ?? { nodes: [], ticket: undefined };
      known = undefined; // later rounds ask again: holders come and go
      let corrupt = 0;
      let refused = false;
      for (const node of spreadByChunk(id, nodes)) {
        try {
          return await this.fromHolder(slice, node, ticket, signal);
        } catch (err) {
          if (!(err instanceof DfsError)) throw err;
          last = err;
          if (err.code === "CORRUPT" || err.code === "CHECKSUM_MISMATCH") corrupt++;
          else if (err.code === "UNAUTHORIZED" && !renewedAfterRefusal) {
            // The ticket ran out (or the node's clock is ahead): one fresh ticket, at once.
            refused = true;
            break;
          } else if (!isHolderFailure(err)) throw err;
        }
      }
      if (refused) {
        renewedAfterRefusal = true;
        round--;
        continue;
      }
      corruptSeen ||= corrupt > 0;
      if (nodes.length > 0 && corrupt === nodes.length) {
        throw new DfsError("CORRUPT", `every copy of chunk ${id} failed its checksum`, {
          chunkId: id,
          holders: nodes.map((n) => n.id),
        });
      }
      if (nodes.length === 0) {
        last = new DfsError("UNAVAILABLE", `no live data node holds chunk ${id}`, { chunkId: id });
      }
      if (deadline.expired()) break;
      await sleep(Math.min(backoffMs(round, this.opts.backoff, this.random), deadline.remainingMs()), signal);
    }
    throw new DfsError(
      corruptSeen ? "CORRUPT" : "UNAVAILABLE",
      `could not read chunk ${id.slice(0, 12)}…${last ? `: ${last.message}` : ""}`,
      { chunkId: id, lastCode: last?.code ?? null },
      { cause: last ?? undefined },
    );
  }

  /** Whether a ticket has long enough left to be used now. */
  private fresh(ticket: string | undefined): boolean {
    const expiresAtMs = ticket === undefined ? null : readTicketExpiry(ticket);
    return expiresAtMs !== null && expiresAtMs - this.now() > TICKET_RENEW_MARGIN_MS;
  }

  private async fromHolder(
    slice: ChunkSlice,
    node: NodeAddress,
    ticket: string | undefined,
    signal?: AbortSignal,
  ): Promise<Buffer[]> {
    const { id, sizeBytes } = slice.chunk;
    const whole = isWholeChunk(slice);
    const get = (s: AbortSignal | undefined) =>
      getChunkPieces(
        this.deps.dispatcher,
        node,
        slice.chunk,
        whole ? null : { from: slice.from, to: slice.to },
        { timeoutMs: this.opts.chunkTimeoutMs, ticket },
        s,
      );
    const got = await watchedRequest(this.deps.deadNodes, node.id, get, signal);
    if (got.partial) {
      if (got.data.byteLength !== slice.to - slice.from) {
        throw new DfsError(
          "CORRUPT",
          `node ${node.id} sent ${got.data.byteLength} bytes of a range of chunk ${id}`,
        );
      }
      return [got.data];
    }
    // A whole chunk (asked for, or the node ignored the range): verify it end to end, keep it, cut the slice.
    if (got.byteLength !== sizeBytes || got.sha256Hex !== id) {
      throw new DfsError("CORRUPT", `chunk ${id} from node ${node.id} does not match its id`, {
        chunkId: id,
        node: node.id,
      });
    }
    // Gathered into one buffer only for a cache that keeps it: that copy is the cache's price.
    if (this.deps.cache.keeps(sizeBytes)) {
      const data = Buffer.concat(got.pieces, sizeBytes);
      await this.deps.cache.set(id, data);
      return [whole ? data : data.subarray(slice.from, slice.to)];
    }
    return whole ? got.pieces : cutPieces(got.pieces, slice.from, slice.to);
  }

  /**
   * The slices' bytes in order, fetching up to `prefetchChunks` ahead while the current one is
   * consumed: at most `prefetchChunks + 1` chunks in memory (the one handed out and those fetched or
   * fetching), whatever the file's size. One ahead left the consumer waiting on each chunk's round
   * trip and hash whenever it was faster than one node. Locations are asked a window at a time. When
   * the consumer stops early (or fails), the fetches still running are cancelled. A chunk is handed
   * out only once its hash matched, as the pieces it arrived in (one buffer when it came from the
   * cache), so the consumer writes them on without a chunk-sized copy. A run of equal slices (a file of
   * zeros is one chunk id over and over) is fetched once and handed out as often as it occurs.
   */
  async *stream(slices: readonly ChunkSlice[], signal?: AbortSignal): AsyncGenerator<Buffer> {
    const stop = new AbortController();
    const sig = signal ? AbortSignal.any([signal, stop.signal]) : stop.signal;
    const windows = new Map<number, Promise<Map<string, Located>>>();
    const lookUp = (w: number) => {
      const ids = slices.slice(w * IDS_PER_LOOKUP, (w + 1) * IDS_PER_LOOKUP).map((s) => s.chunk.id);
      const found = this.locate(ids, sig);
      // Kept until every fetch of the window before has started (prefetch spans two windows at most).
      windows.delete(w - 2);
      windows.set(w, found);
      return found;
    };
    const holdersOf = async (i: number) => {
      const w = Math.floor(i / IDS_PER_LOOKUP);
      const id = slices[i]!.chunk.id;
      const located = (await (windows.get(w) ?? lookUp(w))).get(id);
      // A slow consumer outlives the window's tickets: the whole window is asked again, once.
      if (located === undefined || this.fresh(located.ticket)) return located;
      return (await lookUp(w)).get(id);
    };
    let previous: { slice: ChunkSlice; fetched: Promise<Buffer[]> } | null = null;
    const fetchSlice = (i: number): Promise<Buffer[]> => {
      const slice = slices[i]!;
      if (previous !== null && sameBytes(previous.slice, slice)) return previous.fetched;
      const p = (async () => {
        // Cached chunks need no location lookup at all.
        const holders = this.deps.cache.peek(slice.chunk.id) ? undefined : await holdersOf(i);
        return this.readPieces(slice, holders, sig);
      })();
      // Awaited below; this only keeps an early-stopped consumer from leaving it unhandled.
      p.catch(() => undefined);
      previous = { slice, fetched: p };
      return p;
    };
    const ahead = Math.max(1, this.opts.prefetchChunks ?? PREFETCH_CHUNKS);
    const queue: Promise<Buffer[]>[] = [];
    let started = 0;
    const fill = () => {
      while (started < slices.length && queue.length < ahead) queue.push(fetchSlice(started++));
    };
    try {
      fill();
      while (queue.length > 0) {
        const current = await queue.shift()!;
        fill();
        yield* current;
      }
    } finally {
      stop.abort(new Error("the read stopped"));
    }
  }
}

/** Two slices that are the same bytes: the same part of the same chunk. */
function sameBytes(a: ChunkSlice, b: ChunkSlice): boolean {
  return a.chunk.id === b.chunk.id && a.from === b.from && a.to === b.to;
}

/** Bytes [from, to) of a chunk that arrived as `pieces`, without copying them. */
export function cutPieces(pieces: readonly Buffer[], from: number, to: number): Buffer[] {
  const out: Buffer[] = [];
  let at = 0;
  for (const piece of pieces) {
    const end = at + piece.byteLength;
    // An empty cut (from === to) yields nothing: a zero-length piece would reach the caller as a read.
    if (Math.min(end, to) > Math.max(at, from))
      out.push(piece.subarray(Math.max(0, from - at), Math.min(piece.byteLength, to - at)));
    at = end;
  }
  return out;
}

function isHolderFailure(err: DfsError): boolean {
  switch (err.code) {
    case "NOT_FOUND":
    case "UNAVAILABLE":
    case "TIMEOUT":
    case "INTERNAL":
      return true;
    default:
      return false;
  }
}
