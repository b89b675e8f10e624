/**
 * A chunk group (PUT /v1/chunk-groups): several small chunks of one pipeline in one request. Each chunk
 * is checked (ticket, size, hash), written and fsynced as a chunk of its own PUT is; what the group
 * shares is the HTTP exchange on each hop and the folder fsyncs (one per distinct folder, after every
 * chunk of the group landed in it). A 64 KiB chunk spent most of a data node's CPU on its own request
 * in and out and its own folder fsync (bench/RESULTS.md, issue 14).
 *
 * Every chunk has its own outcome: a bad ticket, a wrong hash or a failed disk write fails that chunk
 * only, with an error that names it; a chunk is answered `stored` only once this node and every node
 * downstream hold it durably. What fails the whole group: a malformed manifest or body (4xx), the
 * upstream breaking off. A downstream that fails fails every chunk this node stored with UNAVAILABLE
 * naming the failed node, as a single chunk's PUT does.
 */
import { Buffer } from "node:buffer";
import Value from "typebox/value";
import { syncDir } from "../common/durable-files.js";
import { DfsError } from "../common/errors.js";
import {
  DATA_ROUTES,
  GROUP_MANIFEST_BYTES_HEADER,
  type GroupChunkResult,
  type GroupManifest,
  GroupManifestSchema,
  MAX_GROUP_BYTES,
  MAX_GROUP_MANIFEST_BYTES,
  type NodeAddress,
  PIPELINE_HEADER,
  type PutChunkGroupResponse,
} from "../common/protocol/index.js";
import type { ChunkWriter } from "./chunk-file-writer.js";
import type { ChunkStore } from "./chunk-store.js";
import { checkDownstream, type Downstream, type Pipeline } from "./pipeline.js";

export interface GroupHeaders {
  manifestBytes: string | undefined;
  contentLength: string | undefined;
  pipeline: string | undefined;
}

/** One chunk of the group on this node: its writer, or why it was refused here. */
interface Slot {
  id: string;
  sizeBytes: number;
  writer: ChunkWriter | null;
  error: DfsError | null;
  /** Set once the chunk's bytes are all in: the landing (hash checked, fsynced, renamed). */
  landing: Promise<void> | null;
}

function asDfsError(err: unknown, chunkId: string): DfsError {
  if (err instanceof DfsError) {
    return err.details.chunkId === undefined
      ? new DfsError(err.code, err.message, { ...err.details, chunkId }, { cause: err })
      : err;
  }
  const message = (err as { message?: string })?.message ?? String(err);
  return new DfsError("INTERNAL", `storing chunk ${chunkId} failed: ${message}`, { chunkId });
}

function errorResult(id: string, err: DfsError): GroupChunkResult {
  return { id, error: err.toJSON() };
}

function parseLength(value: string | undefined, what: string): number {
  if (value === undefined || !/^[0-9]{1,16}$/.test(value)) {
    throw new DfsError("BAD_REQUEST", `${what} is required and must be a byte count`);
  }
  return Number(value);
}

/** Reads exactly `n` bytes from the start of `body`; returns them and the rest of the piece they ended in. */
async function readHead(
  body: AsyncIterator<Uint8Array>,
  n: number,
): Promise<{ head: Buffer; rest: Uint8Array | null }> {
  const parts: Buffer[] = [];
  let have = 0;
  while (have < n) {
    const next = await body.next();
    if (next.done) throw new DfsError("BAD_REQUEST", "the body ended inside the group's manifest");
    const piece = Buffer.from(next.value.buffer, next.value.byteOffset, next.value.byteLength);
    const take = Math.min(piece.byteLength, n - have);
    parts.push(piece.subarray(0, take));
    have += take;
    if (take < piece.byteLength) return { head: Buffer.concat(parts), rest: piece.subarray(take) };
  }
  return { head: Buffer.concat(parts), rest: null };
}

/** The manifest, checked: its schema, and sizes that add up to the body's length within the bounds. */
function parseManifest(head: Buffer, bodyBytes: number, chunkSizeBytes: number): GroupManifest {
  let raw: unknown;
  try {
    raw = JSON.parse(head.toString("utf8"));
  } catch {
    throw new DfsError("BAD_REQUEST", "the group's manifest is not JSON");
  }
  if (!Value.Check(GroupManifestSchema, raw)) {
    throw new DfsError("BAD_REQUEST", "the group's manifest must be {chunks: [{id, sizeBytes, ticket}]}");
  }
  let total = 0;
  for (const c of raw.chunks) {
    if (c.sizeBytes > chunkSizeBytes) {
      throw new DfsError(
        "PAYLOAD_TOO_LARGE",
        `chunk ${c.id} of ${c.sizeBytes} bytes exceeds the ${chunkSizeBytes}-byte chunk size`,
        { chunkId: c.id },
      );
    }
    total += c.sizeBytes;
  }
  if (total > MAX_GROUP_BYTES) {
    throw new DfsError(
      "PAYLOAD_TOO_LARGE",
      `a chunk group carries at most ${MAX_GROUP_BYTES} bytes, not ${total}`,
    );
  }
  if (total !== bodyBytes) {
    throw new DfsError(
      "BAD_REQUEST",
      `the manifest lists ${total} bytes of chunks, the body has ${bodyBytes}`,
    );
  }
  return raw;
}

/** The downstream's answer, if it is one for exactly these chunks in this order. */
function acceptResults(ids: string[]): (answer: unknown) => GroupChunkResult[] | null {
  return (answer) => {
    const chunks = (answer as Partial<PutChunkGroupResponse> | null)?.chunks;
    if (!Array.isArray(chunks) || chunks.length !== ids.length) return null;
    for (let i = 0; i < ids.length; i++) {
      const r = chunks[i] as { id?: unknown; error?: unknown; stored?: unknown } | undefined;
      if (r === undefined || r.id !== ids[i]) return null;
      const stored = r.stored;
      const ok = Array.isArray(stored) && stored.every((n) => Number.isSafeInteger(n));
      if (!ok && (typeof r.error !== "object" || r.error === null)) return null;
    }
    return chunks as GroupChunkResult[];
  };
}

export class GroupReceiver {
  constructor(
    private readonly opts: { nodeId: number; chunkSizeBytes: number },
    private readonly deps: { pipeline: Pipeline; store: ChunkStore },
  ) {}

  /** Stores the group here and down the pipeline; one result per chunk, in the manifest's order. */
  async receive(headers: GroupHeaders, body: AsyncIterable<Uint8Array>): Promise<PutChunkGroupResponse> {
    const manifestBytes = parseLength(headers.manifestBytes, GROUP_MANIFEST_BYTES_HEADER);
    const contentLength = parseLength(headers.contentLength, "content-length");
    if (manifestBytes < 2 || manifestBytes > MAX_GROUP_MANIFEST_BYTES || manifestBytes > contentLength) {
      throw new DfsError(
        "BAD_REQUEST",
        `${GROUP_MANIFEST_BYTES_HEADER} must be 2..${MAX_GROUP_MANIFEST_BYTES} and within the body`,
      );
    }
    if (contentLength - manifestBytes > MAX_GROUP_BYTES) {
      throw new DfsError("PAYLOAD_TOO_LARGE", `a chunk group carries at most ${MAX_GROUP_BYTES} bytes`);
    }
    const downstream = this.deps.pipeline.parsePipeline(headers.pipeline);
    const reader = body[Symbol.asyncIterator]();
    const { head, rest } = await readHead(reader, manifestBytes);
    const manifest = parseManifest(head, contentLength - manifestBytes, this.opts.chunkSizeBytes);
    const slots = await this.open(manifest, downstream);
    const [next, ...after] = downstream;
    const down = next
      ? this.deps.pipeline.forwardTo(next, {
          path: DATA_ROUTES.chunkGroup,
          headers: {
            "content-length": String(contentLength),
            [GROUP_MANIFEST_BYTES_HEADER]: String(manifestBytes),
            [PIPELINE_HEADER]: JSON.stringify(after),
          },
          accept: acceptResults(slots.map((s) => s.id)),
        })
      : null;
    try {
      try {
        await down?.write(head);
        await this.feed(slots, reader, rest, down);
      } catch (err) {
        down?.abort(`the upstream body broke off: ${(err as Error)?.message ?? String(err)}`);
        throw err;
      }
      down?.end();
      await this.makeDurable(slots);
      const outcome = down ? await down.result : null;
      return { chunks: slots.map((s, i) => this.result(s, i, next, outcome)) };
    } finally {
      // A landing still under way (the body broke off after its chunk) ends first: an abort beside it
      // would close the file it is syncing. Landings never reject (they record their error).
      await Promise.all(slots.map((s) => s.landing));
      await Promise.all(slots.map((s) => s.writer?.abort()));
    }
  }

  /** Checks each chunk's ticket and opens its temp file; a chunk refused here keeps its error. */
  private async open(manifest: GroupManifest, downstream: NodeAddress[]): Promise<Slot[]> {
    return Promise.all(
      manifest.chunks.map(async (c): Promise<Slot> => {
        const slot: Slot = { id: c.id, sizeBytes: c.sizeBytes, writer: null, error: null, landing: null };
        try {
          const claims = this.deps.pipeline.verifyChunkTicket({
            chunkId: c.id,
            sizeBytes: c.sizeBytes,
            ticket: c.ticket,
          });
          checkDownstream(c.id, claims, downstream);
          slot.writer = await this.deps.store.beginWrite(c.id, c.sizeBytes);
        } catch (err) {
          slot.error = asDfsError(err, c.id);
        }
        return slot;
      }),
    );
  }

  /**
   * Cuts the body at the chunks' bounds: each piece goes to its chunk's writer (none for a refused
   * chunk) and, whole, downstream. A chunk's landing starts as soon as its last byte is in.
   */
  private async feed(
    slots: Slot[],
    reader: AsyncIterator<Uint8Array>,
    first: Uint8Array | null,
    down: Downstream<GroupChunkResult[]> | null,
  ): Promise<void> {
    let index = 0;
    let filled = 0;
    const landFull = () => {
      while (index < slots.length && filled === slots[index]!.sizeBytes) {
        const slot = slots[index]!;
        const writer = slot.writer;
        if (writer !== null && slot.error === null) {
          slot.landing = writer.land().catch((err: unknown) => {
            slot.error = asDfsError(err, slot.id);
          });
        }
        index++;
        filled = 0;
      }
    };
    landFull(); // chunks of 0 bytes
    let piece = first;
    for (;;) {
      if (piece === null) {
        const next = await reader.next();
        if (next.done) break;
        piece = next.value;
      }
      const forwarded = down?.write(piece);
      let offset = 0;
      while (offset < piece.byteLength) {
        const slot = slots[index];
        if (slot === undefined) throw new DfsError("BAD_REQUEST", "the body is longer than its manifest");
        const take = Math.min(slot.sizeBytes - filled, piece.byteLength - offset);
        const part = piece.subarray(offset, offset + take);
        if (slot.writer !== null && slot.error === null) {
          try {
            await slot.writer.write(part);
          } catch (err) {
            slot.error = asDfsError(err, slot.id);
          }
        }
        offset += take;
        filled += take;
        landFull();
      }
      await forwarded;
      piece = null;
    }
    if (index < slots.length) throw new DfsError("BAD_REQUEST", "the body ended before its last chunk");
  }

  /** Waits for every landing, fsyncs each folder they landed in once, then counts the chunks stored. */
  private async makeDurable(slots: Slot[]): Promise<void> {
    await Promise.all(slots.map((s) => s.landing));
    const byFolder = new Map<string, Slot[]>();
    for (const s of slots) {
      if (s.error !== null || s.writer === null) continue;
      const list = byFolder.get(s.writer.folder);
      if (list) list.push(s);
      else byFolder.set(s.writer.folder, [s]);
    }
    await Promise.all(
      [...byFolder].map(async ([folder, landed]) => {
        try {
          await syncDir(folder);
          for (const s of landed) s.writer!.settle();
        } catch (err) {
          for (const s of landed) s.error = asDfsError(err, s.id);
        }
      }),
    );
  }

  private result(
    slot: Slot,
    index: number,
    next: NodeAddress | undefined,
    outcome:
      | { ok: true; value: GroupChunkResult[] }
      | { ok: false; failedNode: number; message: string }
      | null,
  ): GroupChunkResult {
    if (slot.error !== null) return errorResult(slot.id, slot.error);
    if (outcome === null || next === undefined) {
      return { id: slot.id, sizeBytes: slot.sizeBytes, stored: [this.opts.nodeId] };
    }
    const failed = (failedNode: number, message: string) =>
      errorResult(
        slot.id,
        new DfsError("UNAVAILABLE", `pipeline failed: ${message}`, {
          failedNode,
          storedOn: [this.opts.nodeId],
          chunkId: slot.id,
        }),
      );
    if (!outcome.ok) return failed(outcome.failedNode, outcome.message);
    const theirs = outcome.value[index]!;
    if ("error" in theirs) {
      // As for a single chunk: a failure further down names the node that really failed; any other
      // refusal downstream is that node's failure (this node checked the same bytes and ticket).
      const err = DfsError.fromBody(theirs.error);
      const deeper = err.code === "UNAVAILABLE" ? err.details.failedNode : undefined;
      const failedNode = typeof deeper === "number" && Number.isSafeInteger(deeper) ? deeper : next.id;
      return failed(failedNode, `node ${next.id} answered ${err.code} for chunk ${slot.id}: ${err.message}`);
    }
    return { id: slot.id, sizeBytes: slot.sizeBytes, stored: [this.opts.nodeId, ...theirs.stored] };
  }
}
