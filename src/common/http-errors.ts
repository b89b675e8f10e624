/**
 * What went wrong with one HTTP request, as a `DfsError`: an error body from one of our servers keeps
 * its wire code; a failure to reach a server becomes UNAVAILABLE (or TIMEOUT) marked
 * `transport: true`, which callers retry elsewhere. Shared by the client library and by the
 * metadata server where it writes chunks itself (the dashboard's upload).
 */
import { DfsError, type ErrorCode, isErrorCode } from "./errors.js";

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

/** Combines the caller's signal with this attempt's timeout. */
export function attemptSignal(timeoutMs: number, signal?: AbortSignal): AbortSignal {
  const timeout = AbortSignal.timeout(Math.max(1, timeoutMs));
  return signal ? AbortSignal.any([signal, timeout]) : timeout;
}
