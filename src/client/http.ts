/**
 * HTTP for the client: one undici Agent per kind of traffic (metadata JSON, chunk bytes), with every
 * timeout set explicitly, and the translation of everything that can go wrong into a `DfsError`:
 * an error body from a server keeps its wire code; a failure to reach a server becomes UNAVAILABLE
 * (or TIMEOUT) marked `transport: true`, which the callers retry elsewhere.
 */
import { Agent, type Dispatcher } from "undici";
import { DfsError } from "../common/errors.js";
import { errorFromResponse, transportError } from "../common/http-errors.js";

// Defined in common/ so the metadata server's own chunk writes (the dashboard's upload) judge
// answers the same way; re-exported for the library's modules and tests.
export { attemptSignal, errorFromResponse, isTransportError, transportError } from "../common/http-errors.js";

export interface AgentOptions {
  connectTimeoutMs: number;
  /** Silence allowed before the response headers, and between body bytes. */
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
  connectionsPerOrigin: number;
  maxResponseBytes: number;
  /** PEM trusted for https servers (the cluster's CA or self-signed cert); default: the system's CAs. */
  ca?: string | Buffer | undefined;
}

export function createAgent(opts: AgentOptions): Agent {
  return new Agent({
    ...(opts.ca !== undefined ? { connect: { ca: opts.ca } } : {}),
    connectTimeout: opts.connectTimeoutMs,
    headersTimeout: opts.requestTimeoutMs,
    bodyTimeout: opts.requestTimeoutMs,
    keepAliveTimeout: opts.keepAliveTimeoutMs,
    keepAliveMaxTimeout: Math.max(opts.keepAliveTimeoutMs, 60_000),
    connections: opts.connectionsPerOrigin,
    maxResponseSize: opts.maxResponseBytes,
  });
}

/** A body already serialized (the batcher joins items it measured): sent as it is. */
export class JsonText {
  constructor(readonly text: string) {}
}

/** A body in another encoding (the batch route's msgpack), sent as it is; the answer is still JSON. */
export class BinaryBody {
  constructor(
    readonly bytes: Uint8Array,
    readonly contentType: string,
  ) {}
}

export interface JsonRequest {
  method: "GET" | "POST";
  path: string;
  query?: Record<string, string | number | boolean | undefined>;
  body?: unknown;
  headers?: Record<string, string>;
  /** This attempt's budget: headers and body must arrive within it. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export function withQuery(path: string, query: JsonRequest["query"]): string {
  if (!query) return path;
  // By hand rather than URLSearchParams: this runs on every metadata call, and the profile of a
  // 64-in-flight stat load showed the object's construction; the encoding is the same for our keys
  // and values (encodeURIComponent leaves fewer characters bare, which every server decodes alike).
  let qs = "";
  for (const k in query) {
    const v = query[k];
    if (v === undefined) continue;
    qs += `${qs === "" ? "?" : "&"}${encodeURIComponent(k)}=${encodeURIComponent(String(v))}`;
  }
  return path + qs;
}

const GET_HEADERS = { accept: "application/json" };
const POST_HEADERS = { accept: "application/json", "content-type": "application/json" };

/**
 * One JSON request to one server: the parsed answer, or a DfsError. No retries here.
 *
 * The attempt is bounded by undici's own timers (headers within `timeoutMs`, then no silence longer
 * than that in the body), not by an AbortSignal.timeout combined with the caller's signal: those two
 * signals per call were the largest items of the library's own CPU in a 64-in-flight profile, and a
 * metadata answer is a few hundred bytes, so the body bound adds nothing a user would notice.
 */
export async function requestJson<T>(dispatcher: Dispatcher, origin: string, req: JsonRequest): Promise<T> {
  const path = withQuery(req.path, req.query);
  const binary = req.body instanceof BinaryBody ? req.body : null;
  const base =
    binary !== null
      ? { accept: "application/json", "content-type": binary.contentType }
      : req.body !== undefined
        ? POST_HEADERS
        : GET_HEADERS;
  let status: number;
  let text: string;
  try {
    const res = await dispatcher.request({
      origin,
      path,
      method: req.method,
      headers: req.headers ? { ...base, ...req.headers } : base,
      body:
        req.body === undefined
          ? null
          : binary !== null
            ? binary.bytes
            : req.body instanceof JsonText
              ? req.body.text
              : JSON.stringify(req.body),
      headersTimeout: req.timeoutMs,
      bodyTimeout: req.timeoutMs,
      ...(req.signal ? { signal: req.signal } : {}),
    });
    status = res.statusCode;
    text = await res.body.text();
  } catch (err) {
    // The caller's own abort (close, Ctrl-C) is not a server failure: let it through as it is.
    if (req.signal?.aborted) throw req.signal.reason;
    const mapped = transportError(err, origin);
    if (mapped === null) throw err;
    throw mapped;
  }
  if (status < 200 || status >= 300) throw errorFromResponse(status, text, origin);
  if (text === "") return null as T;
  try {
    return JSON.parse(text) as T;
  } catch (err) {
    if (!(err instanceof SyntaxError)) throw err;
    throw new DfsError("INTERNAL", `${origin}${req.path} answered with invalid JSON`, { url: origin });
  }
}
