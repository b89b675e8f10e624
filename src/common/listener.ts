/**
 * The limits every listener (metadata replica, data node) puts on its connections, from the config's
 * `listener` settings, as the options node's http(s) server and fastify take. Set explicitly rather
 * than trusting defaults: fastify's own turn the request timeout off, node's would drop an idle
 * keep-alive socket after 5 s and accept any number of connections.
 */
import type { ServerOptions } from "node:http";
import type { ListenerConfig } from "./config.js";

export interface ListenerOptions {
  /** For `Fastify({...})`: it applies these to the server after creating it. */
  fastify: { connectionTimeout: number; keepAliveTimeout: number; requestTimeout: number };
  /** For `http.createServer` / `https.createServer` (fastify's `http`, or merged into `https`). */
  node: ServerOptions;
}

export function listenerOptions(l: ListenerConfig): ListenerOptions {
  return {
    fastify: {
      connectionTimeout: l.idleTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
    },
    node: {
      headersTimeout: l.headersTimeoutMs,
      requestTimeout: l.requestTimeoutMs,
      keepAliveTimeout: l.keepAliveTimeoutMs,
      maxHeaderSize: l.maxHeaderBytes,
      connectionsCheckingInterval: l.timeoutCheckIntervalMs,
    },
  };
}
