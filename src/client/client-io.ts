/**
 * The client's connections and chunk I/O, built from its resolved options: one agent for the metadata
 * replicas and one for the data nodes, and the chunk writer and reader over them.
 */
import type { ChunkCache } from "./chunk-cache.js";
import { ChunkReader } from "./chunk-reader.js";
import { ChunkWriter } from "./chunk-writer.js";
import { DEAD_NODE_WATCH_DEFAULTS, DeadNodeWatch } from "./dead-nodes.js";
import { createAgent } from "./http.js";
import type { MetaConnection } from "./meta-connection.js";
import type { ResolvedOptions } from "./options.js";

/** Just over the data nodes' downstream timeout (src/data/main.ts): see the writer below. */
const PIPELINE_BLAME_MS = 35_000;
/** Attempts to store one chunk: at the default 1 s backoff cap, about a minute of them. */
const CHUNK_STORE_ATTEMPTS = 64;

export function createClientAgents(o: ResolvedOptions) {
  const meta = createAgent({
    connectTimeoutMs: o.connectTimeoutMs,
    requestTimeoutMs: o.requestTimeoutMs,
    keepAliveTimeoutMs: 10_000,
    connectionsPerOrigin: o.maxMetaConnections,
    maxResponseBytes: 256 * 1024 * 1024,
    ca: o.ca,
  });
  const data = createAgent({
    connectTimeoutMs: o.connectTimeoutMs,
    requestTimeoutMs: Math.max(PIPELINE_BLAME_MS, o.requestTimeoutMs),
    keepAliveTimeoutMs: 10_000,
    connectionsPerOrigin: o.maxDataConnections,
    maxResponseBytes: 64 * 1024 * 1024 + 4096,
    ca: o.ca,
  });
  return { meta, data };
}

export function createChunkIo(
  o: ResolvedOptions,
  deps: { meta: MetaConnection; dispatcher: ReturnType<typeof createAgent>; cache: ChunkCache },
): { writer: ChunkWriter; reader: ChunkReader } {
  // Requests to a node gone silent are given up once the leader judges it dead, not at their timeout.
  const deadNodes = new DeadNodeWatch(DEAD_NODE_WATCH_DEFAULTS, { meta: deps.meta });
  const writer = new ChunkWriter(
    {
      chunkDeadlineMs: o.chunkDeadlineMs,
      // A PUT is answered once the whole pipeline stored the chunk; a data node gives up on its
      // downstream after 30 s and then names it. Waiting longer than that lets the head tell us
      // *which* node failed instead of being blamed itself. A head that went silent itself is given
      // up sooner, once the leader judges it dead (dead-nodes.ts).
      chunkTimeoutMs: Math.max(PIPELINE_BLAME_MS, o.requestTimeoutMs),
      // The chunk deadline bounds the retries; the count only backs it up. Six attempts were over
      // in half a second of backoff, while a data node killed and restarted stays "alive" to the
      // leader for a heartbeat timeout and takes a second or two to listen again: with R = the
      // number of nodes, every write in that window failed instead of waiting for it.
      maxAttempts: CHUNK_STORE_ATTEMPTS,
      backoff: o.backoff,
    },
    { meta: deps.meta, dispatcher: deps.dispatcher, deadNodes },
  );
  // A GET is answered by one node: silence for two request timeouts means try the next holder.
  const readOpts = {
    chunkDeadlineMs: o.chunkDeadlineMs,
    chunkTimeoutMs: o.requestTimeoutMs * 2,
    backoff: o.backoff,
  };
  const reader = new ChunkReader(readOpts, { ...deps, deadNodes });
  return { writer, reader };
}
