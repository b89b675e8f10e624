/**
 * One GET of a chunk from one data node, as the client library and the metadata server (for a
 * dashboard download) both fetch them: bounded to the chunk's size, hashed as it arrives, and a
 * node's mid-stream verdict (a bad block it found while serving) turned into a CORRUPT error.
 */
import { createHash } from "node:crypto";
import type { Dispatcher } from "undici";
import { DfsError } from "./errors.js";
import { attemptSignal, errorFromResponse, transportError } from "./http-errors.js";
import { DATA_ROUTES, type NodeAddress, TICKET_HEADER, VERIFIED_TRAILER } from "./protocol/index.js";

/** What one GET brought: a range (206), or a whole chunk (200) with its SHA-256 taken as it arrived. */
export type GotChunk = { data: Buffer; partial: true } | { data: Buffer; partial: false; sha256Hex: string };

/**
 * The same, with a whole chunk left as the pieces the socket delivered (16–64 KiB each, in order).
 * Gathering them into one chunk-sized buffer cost a fresh 4 MiB allocation per chunk, first-touch page
 * faults in the copy and the collector's work on top: a reader that passes bytes on (a stream, a
 * file) has no use for it.
 */
export type GotChunkPieces =
  | { data: Buffer; partial: true }
  | { pieces: Buffer[]; byteLength: number; partial: false; sha256Hex: string };

type ChunkGetArgs = [
  dispatcher: Dispatcher,
  node: NodeAddress,
  chunk: { id: string; sizeBytes: number },
  part: { from: number; to: number } | null,
  opts: { timeoutMs: number; ticket: string | undefined },
  signal?: AbortSignal,
];

/** One GET of a chunk (or of a range of it) into one buffer: see getChunkPieces. */
export async function getChunk(...args: ChunkGetArgs): Promise<GotChunk> {
  const got = await getChunkPieces(...args);
  if (got.partial) return got;
  return { data: Buffer.concat(got.pieces, got.byteLength), partial: false, sha256Hex: got.sha256Hex };
}

/**
 * One GET of a chunk (`sizeBytes` long), or of bytes [from, to) of it. A whole chunk is hashed as it
 * arrives, piece by piece, so the hash overlaps the transfer instead of following it; more bytes than
 * the chunk has are refused at once. A node that found a bad block while streaming says so in the
 * VERIFIED_TRAILER: that error (usually CORRUPT) is thrown, naming the node and where it stopped.
 */
export async function getChunkPieces(
  ...[dispatcher, node, chunk, part, opts, signal]: ChunkGetArgs
): Promise<GotChunkPieces> {
  const { timeoutMs } = opts;
  const { id } = chunk;
  const headers: Record<string, string> = part ? { range: `bytes=${part.from}-${part.to - 1}` } : {};
  if (opts.ticket !== undefined) headers[TICKET_HEADER] = opts.ticket;
  try {
    const res = await dispatcher.request({
      origin: node.url,
      path: DATA_ROUTES.chunk.replace(":id", id),
      method: "GET",
      headers,
      headersTimeout: timeoutMs,
      bodyTimeout: timeoutMs,
      signal: attemptSignal(timeoutMs * 2, signal),
    });
    if (res.statusCode === 206) return { data: Buffer.from(await res.body.arrayBuffer()), partial: true };
    if (res.statusCode !== 200) {
      const text = Buffer.from(await res.body.arrayBuffer()).toString("utf8");
      throw errorFromResponse(res.statusCode, text, node.url);
    }
    const pieces: Buffer[] = [];
    const hash = createHash("sha256");
    let got = 0;
    for await (const piece of res.body as AsyncIterable<Buffer>) {
      if (got + piece.byteLength > chunk.sizeBytes) {
        res.body.destroy();
        throw new DfsError(
          "CORRUPT",
          `node ${node.id} sent more than the ${chunk.sizeBytes} bytes of chunk ${id}`,
          {
            chunkId: id,
            node: node.id,
          },
        );
      }
      pieces.push(piece);
      hash.update(piece);
      got += piece.byteLength;
    }
    const verdict = res.trailers[VERIFIED_TRAILER];
    if (verdict !== undefined && verdict !== "ok") throw stoppedByNode(verdict, node, id, got);
    return { pieces, byteLength: got, partial: false, sha256Hex: hash.digest("hex") };
  } catch (err) {
    if (err instanceof DfsError) throw err;
    if (signal?.aborted) throw signal.reason;
    const mapped = transportError(err, node.url);
    if (mapped === null) throw err;
    throw mapped;
  }
}

/** The error a node put in the trailer when it stopped a stream at a bad block. */
function stoppedByNode(verdict: string, node: NodeAddress, id: string, got: number): DfsError {
  let body: unknown = null;
  try {
    body = JSON.parse(verdict);
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
  }
  const said = DfsError.fromBody(body, 500);
  return new DfsError(
    said.code === "INTERNAL" ? "INTERNAL" : "CORRUPT",
    `node ${node.id} stopped sending chunk ${id} after ${got} bytes: ${said.message}`,
    { chunkId: id, node: node.id, bytesReceived: got },
    { cause: said },
  );
}
