/**
 * A version's bytes for the dashboard's download button. The browser cannot fetch chunks itself (data
 * nodes serve no cross-origin pages, and their tickets are the replica's to sign), so the leader,
 * which knows the holders, fetches each chunk in turn as the library does (common/chunk-get.ts),
 * checks its SHA-256 against its id, and streams it on: one chunk in memory at a time, whatever the
 * file's size.
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import { Readable } from "node:stream";
import type { Dispatcher } from "undici";
import { getChunk } from "../../common/chunk-get.js";
import { spreadByChunk } from "../../common/chunk-spread.js";
import { DfsError } from "../../common/errors.js";
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
  for (const node of spreadByChunk(chunk.id, tracker.locations(chunk.id))) {
    try {
      const got = await getChunk(deps.dispatcher, node, chunk, null, { timeoutMs: CHUNK_TIMEOUT_MS, ticket });
      if (got.partial || got.data.byteLength !== chunk.sizeBytes || got.sha256Hex !== chunk.id) {
        tried.push(`node ${node.id}: bytes do not match the chunk id`);
        continue;
      }
      return got.data;
    } catch (err) {
      // Whatever went wrong with this holder, the next may serve the chunk.
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

/**
 * Download links: a browser saves a plain link's answer straight to disk, but a link carries no
 * `authorization` header. So a caller who may read asks for a link, and the link carries a ticket —
 * `<expiresAtMs>.<version>.<path, base64url>.<mac>` — that grants reading that one version until it
 * expires, on any replica (all share the secret). The MAC's input starts with "download|", which no
 * chunk ticket's does, so neither kind passes for the other. A link is short-lived because it lands
 * in browser history and access logs.
 */
export const DOWNLOAD_LINK_TTL_MS = 5 * 60_000;

function downloadMac(secret: string, c: { path: string; version: number; expiresAtMs: number }): string {
  return createHmac("sha256", secret)
    .update(`download|${c.expiresAtMs}|${c.version}|${c.path}`)
    .digest("base64url");
}

export function signDownloadTicket(
  secret: string,
  claims: { path: string; version: number; expiresAtMs: number },
): string {
  const path = Buffer.from(claims.path, "utf8").toString("base64url");
  return `${claims.expiresAtMs}.${claims.version}.${path}.${downloadMac(secret, claims)}`;
}

const DOWNLOAD_TICKET = /^(\d{1,16})\.(\d{1,16})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

/** The version a download ticket grants, or why it grants nothing. */
export function verifyDownloadTicket(
  secret: string,
  ticket: string,
  nowMs: number,
): { ok: true; path: string; version: number } | { ok: false; reason: string } {
  const m = DOWNLOAD_TICKET.exec(ticket);
  if (!m) return { ok: false, reason: "malformed download link" };
  const claims = {
    expiresAtMs: Number(m[1]),
    version: Number(m[2]),
    path: Buffer.from(m[3] ?? "", "base64url").toString("utf8"),
  };
  // Base64 leaves spare bits in its last character: only the one spelling signed is accepted.
  if (Buffer.from(claims.path, "utf8").toString("base64url") !== m[3]) {
    return { ok: false, reason: "malformed download link" };
  }
  const want = Buffer.from(downloadMac(secret, claims));
  const got = Buffer.from(m[4] ?? "");
  if (want.length !== got.length || !timingSafeEqual(want, got)) {
    return { ok: false, reason: "bad signature on the download link" };
  }
  if (claims.expiresAtMs < nowMs)
    return { ok: false, reason: "the download link has expired: ask the page for a new one" };
  return { ok: true, path: claims.path, version: claims.version };
}
