/**
 * Storing one chunk, HDFS style, as the client library and the metadata server (for a dashboard
 * page's upload) both do it: name the chunk by its SHA-256, get a placement, stream the bytes to the
 * first node with the rest of the placement as its pipeline, and take the 201 as "every replica
 * holds it durably". A node that fails is left out of the next placement, a bounded number of times.
 * Where the placement comes from (an HTTP call to the leader, or the leader's own tracker) and how
 * long to wait between attempts are the caller's: they are the only parts the two writers differ in.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { DfsError } from "./errors.js";
import { attemptSignal, errorFromResponse, isTransportError, transportError } from "./http-errors.js";
import {
  DATA_ROUTES,
  GROUP_MANIFEST_BYTES_HEADER,
  type GroupChunkResult,
  type GroupManifest,
  type NodeAddress,
  PIPELINE_HEADER,
  type PutChunkGroupResponse,
  type PutChunkResponse,
  TICKET_HEADER,
  type WireChunkRef,
} from "./protocol/index.js";

/** A chunk's id: the SHA-256 of its bytes in lowercase hex. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** One PUT to the head of a pipeline: its answer, or a DfsError (transport failures marked as such). */
export async function putChunk(
  dispatcher: Dispatcher,
  target: NodeAddress,
  put: { id: string; data: Buffer; ticket: string; pipeline: NodeAddress[]; timeoutMs: number },
  signal?: AbortSignal,
): Promise<PutChunkResponse> {
  let status: number;
  let text: string;
  try {
    const res = await dispatcher.request({
      origin: target.url,
      path: DATA_ROUTES.chunk.replace(":id", put.id),
      method: "PUT",
      body: put.data,
      headers: {
        "content-type": "application/octet-stream",
        [TICKET_HEADER]: put.ticket,
        [PIPELINE_HEADER]: JSON.stringify(put.pipeline),
      },
      headersTimeout: put.timeoutMs,
      bodyTimeout: put.timeoutMs,
      signal: attemptSignal(put.timeoutMs * 2, signal),
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const mapped = transportError(err, target.url);
    if (mapped === null) throw err;
    throw mapped;
  }
  if (status !== 201) throw errorFromResponse(status, text, target.url);
  return JSON.parse(text) as PutChunkResponse;
}

/**
 * One PUT of several chunks to the head of a pipeline (DATA_ROUTES.chunkGroup): one result per chunk,
 * in order, or a DfsError for the whole group (transport failures marked as such). The body is the
 * manifest and then the chunks' own buffers, sent as they are (no copy into one buffer).
 */
export async function putChunkGroup(
  dispatcher: Dispatcher,
  target: NodeAddress,
  put: {
    chunks: { id: string; data: Buffer; ticket: string }[];
    pipeline: NodeAddress[];
    timeoutMs: number;
  },
  signal?: AbortSignal,
): Promise<GroupChunkResult[]> {
  const manifest: GroupManifest = {
    chunks: put.chunks.map((c) => ({ id: c.id, sizeBytes: c.data.byteLength, ticket: c.ticket })),
  };
  const head = Buffer.from(JSON.stringify(manifest));
  const bodyBytes = put.chunks.reduce((n, c) => n + c.data.byteLength, head.byteLength);
  let status: number;
  let text: string;
  try {
    const res = await dispatcher.request({
      origin: target.url,
      path: DATA_ROUTES.chunkGroup,
      method: "PUT",
      // One stream per group over the buffers as they are: no copy of the chunks into one body.
      body: Readable.from([head, ...put.chunks.map((c) => c.data)]),
      headers: {
        "content-type": "application/octet-stream",
        "content-length": String(bodyBytes),
        [GROUP_MANIFEST_BYTES_HEADER]: String(head.byteLength),
        [PIPELINE_HEADER]: JSON.stringify(put.pipeline),
      },
      headersTimeout: put.timeoutMs,
      bodyTimeout: put.timeoutMs,
      signal: attemptSignal(put.timeoutMs * 2, signal),
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    if (signal?.aborted) throw signal.reason;
    const mapped = transportError(err, target.url);
    if (mapped === null) throw err;
    throw mapped;
  }
  if (status !== 201) throw errorFromResponse(status, text, target.url);
  const chunks = (JSON.parse(text) as PutChunkGroupResponse).chunks;
  if (chunks.length !== put.chunks.length || chunks.some((r, i) => r.id !== put.chunks[i]!.id)) {
    throw new DfsError("INTERNAL", `node ${target.id} answered a chunk group with other chunks`);
  }
  return chunks;
}

/**
 * Which node to leave out next time: the one the pipeline named, or the head we could not reach.
 * `undefined` = retry as is (damage in transit); `null` = not retryable.
 */
export function failedNodeOf(err: DfsError, headId: number): number | undefined | null {
  if (err.code === "UNAVAILABLE" && typeof err.details.failedNode === "number") return err.details.failedNode;
  if (isTransportError(err)) return headId;
  switch (err.code) {
    case "UNAVAILABLE":
    case "TIMEOUT":
    case "NO_SPACE":
    case "INTERNAL":
      return headId;
    case "CHECKSUM_MISMATCH":
      return undefined;
    default:
      return null;
  }
}

/** Where a chunk goes: the nodes in pipeline order and the leader's ticket for them. */
export interface ChunkPlacement {
  nodes: NodeAddress[];
  ticket: string;
}

/** The writer's own parts of storing a chunk. */
export interface PipelineSteps {
  /**
   * R nodes for the chunk, none of them in `exclude`. Throws UNAVAILABLE when too few nodes are
   * left: with exclusions, the exclusions are then forgotten and the next attempt asks again.
   */
  place(req: { id: string; sizeBytes: number; exclude: ReadonlySet<number> }): Promise<ChunkPlacement>;
  /** Stores the chunk at the head of `placement` (usually `putChunk`); throws a DfsError on failure. */
  put(
    head: NodeAddress,
    put: { id: string; data: Buffer; ticket: string; pipeline: NodeAddress[] },
  ): Promise<void>;
  /** Runs before each attempt after the first (a backoff); false ends the attempts (a deadline passed). */
  pause(attempt: number): Promise<boolean>;
}

/**
 * Stores `data` (one chunk) on the nodes `steps` place it on; returns its reference for the commit.
 * `opts.id`: the chunk's SHA-256 when the caller already computed it (an upload hashes each chunk to
 * find equal ones), so a chunk is hashed once; it must be `sha256Hex(data)` (the data nodes check).
 */
export async function storeOnPipeline(
  data: Buffer,
  steps: PipelineSteps,
  opts: { attemptsMax: number; id?: string },
): Promise<WireChunkRef> {
  const id = opts.id ?? sha256Hex(data);
  const exclude = new Set<number>();
  let last: DfsError | null = null;
  for (let attempt = 0; attempt < opts.attemptsMax; attempt++) {
    if (attempt > 0 && !(await steps.pause(attempt))) break;
    let placement: ChunkPlacement;
    try {
      placement = await steps.place({ id, sizeBytes: data.byteLength, exclude });
    } catch (err) {
      // Too few nodes once the failed ones are left out: better any live node than none.
      if (!(err instanceof DfsError) || err.code !== "UNAVAILABLE" || exclude.size === 0) throw err;
      last = err;
      exclude.clear();
      continue;
    }
    const [head, ...rest] = placement.nodes;
    if (head === undefined) throw new DfsError("UNAVAILABLE", `no data node was placed for chunk ${id}`);
    try {
      await steps.put(head, { id, data, ticket: placement.ticket, pipeline: rest });
      return { id, sizeBytes: data.byteLength };
    } catch (err) {
      if (!(err instanceof DfsError)) throw err;
      last = err;
      const failed = failedNodeOf(err, head.id);
      if (failed === null) throw err;
      if (failed !== undefined) exclude.add(failed);
    }
  }
  throw new DfsError(
    "UNAVAILABLE",
    `could not store chunk ${id.slice(0, 12)}… on the data nodes${last ? `: ${last.message}` : ""}`,
    { chunkId: id, lastCode: last?.code ?? null },
    { cause: last ?? undefined },
  );
}
