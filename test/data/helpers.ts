/**
 * Real data nodes in the test process: each on 127.0.0.1:0 with its store in a temp folder, plus small
 * HTTP helpers that send what a client (or the leader) would.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { type AddressInfo, createServer as createNetServer, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import { Agent, request } from "undici";
import { PIPELINE_HEADER, SECRET_HEADER, TICKET_HEADER } from "../../src/common/protocol/index.js";
import { signReadTicket, signTicket } from "../../src/common/tickets.js";
import { ChunkStore, type DiskSpace } from "../../src/data/chunk-store.js";
import { Pipeline } from "../../src/data/pipeline.js";
import { buildDataServer } from "../../src/data/server.js";

export const SECRET = "test-secret-0123456789";
export const CHUNK_SIZE = 4 * 1024 * 1024;

export const agent = new Agent({ connectTimeout: 2000, headersTimeout: 20_000, bodyTimeout: 20_000 });

export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

export function randomChunk(sizeBytes: number): { id: string; data: Buffer } {
  const data = randomBytes(sizeBytes);
  return { id: sha256(data), data };
}

export function ticketFor(
  chunkId: string,
  sizeBytes: number,
  nodeIds: number[],
  opts: { secret?: string; ttlMs?: number } = {},
): string {
  return signTicket(opts.secret ?? SECRET, {
    chunkId,
    sizeBytes,
    nodeIds,
    expiresAtMs: Date.now() + (opts.ttlMs ?? 60_000),
  });
}

/** A read ticket for one chunk, as a metadata replica would hand out. */
export function readTicketFor(chunkId: string, opts: { secret?: string; ttlMs?: number } = {}): string {
  return signReadTicket(opts.secret ?? SECRET, { chunkId, expiresAtMs: Date.now() + (opts.ttlMs ?? 60_000) });
}

export async function tempDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "raftfs-data-"));
  // A chunk PUT cut off by a test's teardown (closeAllConnections) still settles after close()
  // returns: its temp file is unlinked or renamed into place while rm walks the folders (ENOTEMPTY,
  // seen in upload-faults). rm's own retries wait that out.
  return { dir, remove: () => rm(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 50 }) };
}

export interface TestNode {
  id: number;
  url: string;
  app: FastifyInstance;
  store: ChunkStore;
  pipeline: Pipeline;
  close(): Promise<void>;
}

export async function startNode(o: {
  id: number;
  dir: string;
  chunkSizeBytes?: number;
  freeSpaceReserveBytes?: number;
  space?: (dir: string) => Promise<DiskSpace>;
  /** Silence allowed on a forward or copy before it fails (default 5 s). */
  downstreamTimeoutMs?: number;
}): Promise<TestNode> {
  const chunkSizeBytes = o.chunkSizeBytes ?? CHUNK_SIZE;
  const store = await ChunkStore.open(
    { dir: join(o.dir, `data-${o.id}`), chunkSizeBytes, freeSpaceReserveBytes: o.freeSpaceReserveBytes ?? 0 },
    o.space ? { space: o.space } : {},
  );
  const pipeline = new Pipeline(
    { nodeId: o.id, secret: SECRET, chunkSizeBytes, downstreamTimeoutMs: o.downstreamTimeoutMs ?? 5000 },
    { store, dispatcher: agent, now: Date.now },
  );
  const app = buildDataServer(
    { nodeId: o.id, url: "http://127.0.0.1:0", zone: "z", secret: SECRET, chunkSizeBytes },
    { store, pipeline },
  );
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  return { id: o.id, url, app, store, pipeline, close: () => app.close() };
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
  // biome-ignore lint/suspicious/noExplicitAny: tests read answers field by field with expect().
  json(): any;
}

async function answer(res: Awaited<ReturnType<typeof request>>): Promise<Answer> {
  const body = Buffer.from(await res.body.arrayBuffer());
  return {
    status: res.statusCode,
    headers: res.headers,
    body,
    json: () => (body.length ? JSON.parse(body.toString("utf8")) : null),
  };
}

export async function putChunk(
  url: string,
  chunkId: string,
  data: Uint8Array,
  headers: Record<string, string> = {},
): Promise<Answer> {
  const res = await request(`${url}/v1/chunks/${chunkId}`, {
    method: "PUT",
    body: data,
    headers: { "content-type": "application/octet-stream", ...headers },
    dispatcher: agent,
  });
  return answer(res);
}

export function pipelineHeaders(ticket: string, downstream: { id: number; url: string }[] = []) {
  return { [TICKET_HEADER]: ticket, [PIPELINE_HEADER]: JSON.stringify(downstream) };
}

/** A GET with a valid read ticket (unless `headers` brings its own TICKET_HEADER). */
export async function getChunk(url: string, chunkId: string, headers: Record<string, string> = {}) {
  return getChunkRaw(url, chunkId, { [TICKET_HEADER]: readTicketFor(chunkId), ...headers });
}

/** A GET with exactly these headers. */
export async function getChunkRaw(url: string, chunkId: string, headers: Record<string, string> = {}) {
  return answer(await request(`${url}/v1/chunks/${chunkId}`, { headers, dispatcher: agent }));
}

export async function send(
  method: "GET" | "POST" | "HEAD" | "PUT",
  url: string,
  opts: { body?: unknown; headers?: Record<string, string>; secret?: boolean } = {},
): Promise<Answer> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.body !== undefined) headers["content-type"] ??= "application/json";
  if (opts.secret) headers[SECRET_HEADER] = SECRET;
  const body =
    opts.body === undefined
      ? undefined
      : typeof opts.body === "string"
        ? opts.body
        : JSON.stringify(opts.body);
  return answer(
    await request(url, { method, headers, dispatcher: agent, ...(body !== undefined ? { body } : {}) }),
  );
}

export { waitFor } from "../support/wait.js";

/**
 * A peer that accepts connections and never answers: a pulled cable as a sender sees it once its
 * bytes fit in the socket buffers. `connections` counts what reached it; `close` drops them.
 */
export async function startSilentPeer(): Promise<{
  url: string;
  connections(): number;
  close(): Promise<void>;
}> {
  const sockets: Socket[] = [];
  const server = createNetServer((s) => sockets.push(s));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => sockets.length,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}
