/**
 * HTTP for the client: one undici Agent per kind of traffic (metadata JSON, chunk bytes), with every
 * timeout set explicitly, and the translation of everything that can go wrong into a `DfsError`:
 * an error body from a server keeps its wire code; a failure to reach a server becomes UNAVAILABLE
 * (or TIMEOUT) marked `transport: true`, which the callers retry elsewhere.
 */
import { Agent, type Dispatcher } from "undici";
import { DfsError, type ErrorCode, isErrorCode } from "../common/errors.js";

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

/** Error codes of sockets and undici that mean "this server could not be reached or went away". */
const UNREACHABLE = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ETIMEDOUT",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
]);
const TIMED_OUT = new Set(["UND_ERR_HEADERS_TIMEOUT", "UND_ERR_BODY_TIMEOUT"]);

/** A failed TLS handshake: an untrusted or mismatched certificate, or a server that does not speak TLS. */
function isTlsFailure(code: string): boolean {
  return (
    code.includes("CERT") ||
    code.includes("SELF_SIGNED") ||
    code.startsWith("UNABLE_TO_") ||
    code.startsWith("ERR_TLS_") ||
    code.startsWith("ERR_SSL_") ||
    code === "EPROTO"
  );
}

function errnoCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown } } | null;
  if (typeof e?.code === "string") return e.code;
  if (typeof e?.cause?.code === "string") return e.cause.code;
  return undefined;
}

/** True for errors made by `transportError`: the request may not have reached the server. */
export function isTransportError(err: unknown): boolean {
  return err instanceof DfsError && err.details.transport === true;
}

/**
 * Maps an exception of a request to `url` to a DfsError, or returns null when it is neither a network
 * failure nor a timeout (then it is a bug, or the caller's own abort, and must propagate unchanged).
 */
export function transportError(err: unknown, url: string): DfsError | null {
  if (err instanceof DfsError) return err;
  const code = errnoCode(err);
  const name = (err as { name?: unknown } | null)?.name;
  const message = (err as { message?: unknown } | null)?.message;
  const text = typeof message === "string" && message !== "" ? message : String(code ?? err);
  if (name === "TimeoutError" || (code !== undefined && TIMED_OUT.has(code))) {
    return new DfsError("TIMEOUT", `${url} did not answer in time`, { transport: true, url }, { cause: err });
  }
  if (code !== undefined && isTlsFailure(code)) {
    // Another replica may present a cert we trust: still a transport failure, with the reason named.
    return new DfsError(
      "UNAVAILABLE",
      `TLS handshake with ${url} failed (${code}: ${text}); is the cluster's CA trusted (--ca, RAFTFS_CA, tls.caPath)?`,
      { transport: true, url, tls: code },
      { cause: err },
    );
  }
  if (code !== undefined && (UNREACHABLE.has(code) || code.startsWith("UND_ERR_RES"))) {
    return new DfsError(
      "UNAVAILABLE",
      `cannot reach ${url}: ${text}`,
      { transport: true, url },
      { cause: err },
    );
  }
  return null;
}

const STATUS_FALLBACK: Record<number, ErrorCode> = {
  400: "BAD_REQUEST",
  401: "UNAUTHORIZED",
  403: "FORBIDDEN",
  404: "NOT_FOUND",
  409: "EXISTS",
  413: "PAYLOAD_TOO_LARGE",
  421: "NOT_LEADER",
  502: "UNAVAILABLE",
  503: "UNAVAILABLE",
  504: "TIMEOUT",
};

/**
 * The typed error of a non-2xx answer. Our servers always send `{code, message}`; anything else
 * (a proxy's page, a crash) is judged by its status alone, never by its text.
 */
export function errorFromResponse(status: number, text: string, url: string): DfsError {
  let body: unknown = null;
  if (text !== "") {
    try {
      body = JSON.parse(text);
    } catch (err) {
      if (!(err instanceof SyntaxError)) throw err;
    }
  }
  const code = (body as { code?: unknown } | null)?.code;
  if (isErrorCode(code)) return DfsError.fromBody(body, status);
  const fallback = STATUS_FALLBACK[status] ?? "INTERNAL";
  return new DfsError(fallback, `${url} answered HTTP ${status}`, { status, url });
}

/** A body already serialized (the batcher joins items it measured): sent as it is. */
export class JsonText {
  constructor(readonly text: string) {}
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

/** Combines the caller's signal with this attempt's timeout. */
export function attemptSignal(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, timeoutMs));
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
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
  const base = req.body !== undefined ? POST_HEADERS : GET_HEADERS;
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
