/**
 * One chunk of a page's upload, stored by the leader on the page's behalf. A browser cannot take the
 * library's path itself: data nodes serve no cross-origin pages, and a page outside a secure context
 * has no SHA-256 to name a chunk by. So the page sends the file one chunk per request (never the whole
 * file, on either side), the leader names each by its hash, places it and streams it down the
 * pipeline as the library does, and the page commits the list through the ordinary commit route with
 * its session — the commit, as always, is the moment the file becomes visible.
 */
import { createHash } from "node:crypto";
import type { Dispatcher } from "undici";
import { DfsError } from "../../common/errors.js";
import { DATA_ROUTES, PIPELINE_HEADER, TICKET_HEADER } from "../../common/protocol/index.js";
import type { ReplicaApi } from "../replica-api.js";

/** Placements tried for one chunk before the page is told to try again. */
const ATTEMPTS_MAX = 3;
/** Silence allowed on one PUT: its answer comes after the whole pipeline holds the chunk. */
const PUT_TIMEOUT_MS = 30_000;

export interface ChunkUploadDeps {
  replica: ReplicaApi;
  dispatcher: Dispatcher;
  replication: number;
}

/** Why a PUT failed, and which node to leave out of the next placement (null: none, retry as is). */
async function putOnce(
  deps: ChunkUploadDeps,
  put: { id: string; data: Buffer; ticket: string; nodes: { id: number; url: string }[] },
): Promise<{ ok: true } | { ok: false; why: string; exclude: number | null }> {
  const [head, ...rest] = put.nodes;
  if (head === undefined) return { ok: false, why: "no node placed", exclude: null };
  try {
    const res = await deps.dispatcher.request({
      origin: head.url,
      path: DATA_ROUTES.chunk.replace(":id", put.id),
      method: "PUT",
      body: put.data,
      headers: {
        "content-type": "application/octet-stream",
        [TICKET_HEADER]: put.ticket,
        [PIPELINE_HEADER]: JSON.stringify(rest),
      },
      headersTimeout: PUT_TIMEOUT_MS,
      bodyTimeout: PUT_TIMEOUT_MS,
    });
    const text = await res.body.text();
    if (res.statusCode === 201) return { ok: true };
    let body: { code?: unknown; message?: unknown; failedNode?: unknown } = {};
    try {
      body = JSON.parse(text) as typeof body;
    } catch {
      // A non-JSON answer (a proxy's page) is reported by its status alone.
    }
    const why = `node ${head.id}: HTTP ${res.statusCode} ${typeof body.message === "string" ? body.message : ""}`;
    // Damage in transit is retried as is; a node further down the pipeline is named by the head.
    if (body.code === "CHECKSUM_MISMATCH") return { ok: false, why, exclude: null };
    return { ok: false, why, exclude: typeof body.failedNode === "number" ? body.failedNode : head.id };
  } catch (err) {
    return { ok: false, why: `node ${head.id}: ${(err as Error).message}`, exclude: head.id };
  }
}

/** Stores `data` (at most one chunk) on `replication` data nodes; returns its reference for the commit. */
export async function storeChunk(
  deps: ChunkUploadDeps,
  data: Buffer,
): Promise<{ id: string; sizeBytes: number }> {
  const tracker = deps.replica.tracker;
  if (!deps.replica.isLeader() || tracker === null) throw deps.replica.notLeader();
  const id = createHash("sha256").update(data).digest("hex");
  const exclude = new Set<number>();
  const tried: string[] = [];
  for (let attempt = 0; attempt < ATTEMPTS_MAX; attempt++) {
    let nodes = tracker.choose(data.byteLength, deps.replication, exclude);
    // Excluding too much leaves too few nodes: forget the exclusions rather than fail at once.
    if (nodes.length < deps.replication && exclude.size > 0) {
      exclude.clear();
      nodes = tracker.choose(data.byteLength, deps.replication, exclude);
    }
    if (nodes.length < deps.replication) {
      throw new DfsError(
        "UNAVAILABLE",
        `only ${nodes.length} live data nodes with room for ${deps.replication} replicas`,
        { available: nodes.length },
      );
    }
    tracker.recordPlacement(id, nodes);
    const addrs = nodes.map((n) => ({ id: n.id, url: n.url }));
    const r = await putOnce(deps, {
      id,
      data,
      ticket: tracker.ticket(id, data.byteLength, nodes),
      nodes: addrs,
    });
    if (r.ok) return { id, sizeBytes: data.byteLength };
    tried.push(r.why);
    if (r.exclude !== null) exclude.add(r.exclude);
  }
  throw new DfsError("UNAVAILABLE", `could not store chunk ${id.slice(0, 12)}…: ${tried.join("; ")}`, {
    chunkId: id,
  });
}

/** The body of a chunk PUT: a buffer of 1..chunkSizeBytes bytes (the parser already refused a larger one). */
export function assertChunkBody(body: unknown, chunkSizeBytes: number): Buffer {
  if (!Buffer.isBuffer(body)) {
    throw new DfsError("BAD_REQUEST", "the body must be the chunk's bytes (application/octet-stream)");
  }
  if (body.byteLength === 0 || body.byteLength > chunkSizeBytes) {
    throw new DfsError("BAD_REQUEST", `a chunk is 1..${chunkSizeBytes} bytes, not ${body.byteLength}`);
  }
  return body;
}
