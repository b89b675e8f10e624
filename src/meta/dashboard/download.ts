/**
 * A version's bytes for the dashboard's download button. The browser cannot fetch chunks itself (data
 * nodes serve no cross-origin pages, and their tickets are the replica's to sign), so the leader,
 * which knows the holders, fetches each chunk in turn, checks its SHA-256 against its id, and streams
 * it on: one chunk in memory at a time, whatever the file's size.
 */
import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { DfsError } from "../../common/errors.js";
import { DATA_ROUTES, TICKET_HEADER } from "../../common/protocol/index.js";
import { READ_TICKET_TTL_MS, signReadTicket } from "../../common/tickets.js";
import type { ReplicaApi } from "../replica-api.js";
import type { ChunkRef } from "../state/index.js";

const CHUNK_TIMEOUT_MS = 10_000;

async function fetchChunk(
  deps: { replica: ReplicaApi; dispatcher: Dispatcher; secret: string },
  chunk: ChunkRef,
): Promise<Buffer> {
  const tracker = deps.replica.tracker;
  if (tracker === null) throw deps.replica.notLeader();
  const ticket = signReadTicket(deps.secret, {
    chunkId: chunk.id,
    expiresAtMs: Date.now() + READ_TICKET_TTL_MS,
  });
  const tried: string[] = [];
  // Any holder will do; the next one is tried when one fails or sends bytes that are not the chunk.
  for (const node of tracker.locations(chunk.id)) {
    try {
      const res = await deps.dispatcher.request({
        origin: node.url,
        path: DATA_ROUTES.chunk.replace(":id", chunk.id),
        method: "GET",
        headers: { [TICKET_HEADER]: ticket },
        headersTimeout: CHUNK_TIMEOUT_MS,
        bodyTimeout: CHUNK_TIMEOUT_MS,
      });
      const data = Buffer.from(await res.body.arrayBuffer());
      if (res.statusCode !== 200) {
        tried.push(`node ${node.id}: HTTP ${res.statusCode}`);
        continue;
      }
      if (createHash("sha256").update(data).digest("hex") !== chunk.id) {
        tried.push(`node ${node.id}: bytes do not match the chunk id`);
        continue;
      }
      return data;
    } catch (err) {
      tried.push(`node ${node.id}: ${(err as Error).message}`);
    }
  }
  throw new DfsError(
    "UNAVAILABLE",
    `no holder served chunk ${chunk.id} (${tried.join("; ") || "no holders"})`,
  );
}

/** The bytes of one version (the latest when `version` is undefined), as a stream. */
export async function versionBytes(
  deps: { replica: ReplicaApi; dispatcher: Dispatcher; secret: string },
  path: string,
  version: number | undefined,
  stale: boolean,
): Promise<{ version: number; sizeBytes: number; body: Readable | Buffer }> {
  const r = await deps.replica.read(stale, (fs) => fs.readVersion(path, version));
  const v = r.value;
  if (v.content.kind === "inline") {
    return { version: v.version, sizeBytes: v.sizeBytes, body: Buffer.from(v.content.data) };
  }
  // Only the leader knows where chunks are: a follower sends the page there (NOT_LEADER, 421).
  if (deps.replica.tracker === null) throw deps.replica.notLeader();
  const chunks = v.content.chunks;
  // The first chunk is fetched before answering, so a missing chunk is an error status, not a cut stream.
  const first = chunks.length > 0 ? await fetchChunk(deps, chunks[0] as ChunkRef) : null;
  async function* all(): AsyncGenerator<Buffer> {
    if (first) yield first;
    for (const c of chunks.slice(1)) yield await fetchChunk(deps, c);
  }
  return { version: v.version, sizeBytes: v.sizeBytes, body: Readable.from(all()) };
}
