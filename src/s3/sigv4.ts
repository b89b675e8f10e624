/**
 * AWS Signature Version 4, checked as S3 checks it: the `Authorization` header form and the presigned
 * URL form (`X-Amz-Signature` in the query). The canonical request is built from the request as it
 * arrived — the raw path exactly as sent (S3 does not normalize or re-encode it) and the raw query,
 * each parameter decoded and re-encoded the one way SigV4 prescribes — never from a framework's parsed
 * URL, which would lose `%2F` against `/` and `+` against space.
 *
 * Refusals carry S3's codes: unknown key → InvalidAccessKeyId, wrong signature →
 * SignatureDoesNotMatch, a clock more than 15 minutes off → RequestTimeTooSkewed, an expired
 * presigned URL → AccessDenied, no credentials at all → AccessDenied (anonymous access is off).
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import { LRUCache } from "lru-cache";
import { S3Error } from "./errors.js";

export const MAX_SKEW_MS = 15 * 60 * 1000;
/** Presigned URLs live at most 7 days, as in S3. */
const MAX_EXPIRES_S = 7 * 24 * 3600;

export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

export interface SignedRequest {
  method: string;
  /** The request target as sent: path and query, still percent-encoded. */
  rawUrl: string;
  /** Node's `rawHeaders`: name, value, name, value... */
  rawHeaders: string[];
}

export interface AuthResult {
  accessKeyId: string;
  /**
   * What the signature says about the body: a SHA-256 hex the body must hash to, or one of the
   * `UNSIGNED-PAYLOAD` / `STREAMING-*` markers.
   */
  payloadHash: string;
  /** The request's query, decoded (parsed once here, for the signature and for the router). */
  query: [string, string][];
}

/** RFC 3986 unreserved characters stay; everything else is %XX of its UTF-8 bytes (uppercase). */
export function uriEncode(s: string): string {
  return encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    throw new S3Error("InvalidArgument", "the query holds an invalid percent-encoding");
  }
}

/** The query as (name, value) pairs, decoded. A bare name (`?uploads`) has the value "". */
export function parseRawQuery(query: string): [string, string][] {
  if (query === "") return [];
  return query
    .split("&")
    .filter((p) => p !== "")
    .map((p) => {
      const eq = p.indexOf("=");
      return eq < 0 ? [safeDecode(p), ""] : [safeDecode(p.slice(0, eq)), safeDecode(p.slice(eq + 1))];
    });
}

function canonicalQuery(pairs: [string, string][]): string {
  return pairs
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([ak, av], [bk, bv]) => (ak < bk ? -1 : ak > bk ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** Lowercase name → values joined by "," (in arrival order), each trimmed with inner runs of spaces folded. */
function headerMap(rawHeaders: string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toLowerCase();
    // Only ASCII spaces and tabs: trim() would also take a byte 0xA0 (latin1 NBSP) ending a UTF-8 sequence.
    const value = rawHeaders[i + 1]!.replace(/^[ \t]+|[ \t]+$/g, "").replace(/ +/g, " ");
    const prev = m.get(name);
    m.set(name, prev === undefined ? value : `${prev},${value}`);
  }
  return m;
}

const sha256Hex = (s: string | Buffer) => createHash("sha256").update(s).digest("hex");
const hmac = (key: Buffer | string, data: string) => createHmac("sha256", key).update(data).digest();

/** `20260102T030405Z` → ms since the epoch, or NaN. */
function parseAmzDate(s: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(s);
  if (m === null) return Number.NaN;
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

export function signingKey(secret: string, date: string, region: string, service: string): Buffer {
  return hmac(hmac(hmac(hmac(`AWS4${secret}`, date), region), service), "aws4_request");
}

/** Signing keys by secret and scope: a key serves a whole day of requests, four HMACs saved on each. */
export const MAX_SIGNING_KEYS = 256;

/**
 * The derived signing keys one gateway keeps (each server owns one: no state shared through the
 * module). Least recently used first out, bounded whatever scopes clients send; keyed by the secret
 * too, so a rotated secret never finds its predecessor's key.
 */
export class SigningKeyCache {
  private readonly keys = new LRUCache<string, Buffer>({ max: MAX_SIGNING_KEYS });

  get size(): number {
    return this.keys.size;
  }

  get(secret: string, date: string, region: string, service: string): Buffer {
    const id = `${date}/${region}/${service}/${secret}`;
    let key = this.keys.get(id);
    if (key === undefined) {
      key = signingKey(secret, date, region, service);
      this.keys.set(id, key);
    }
    return key;
  }
}

interface Parsed {
  accessKeyId: string;
  scope: string;
  scopeDate: string;
  region: string;
  service: string;
  signedHeaders: string[];
  signature: string;
  amzDate: string;
  payloadHash: string;
  queryPairs: [string, string][];
  /** Every query parameter as sent (the signature's own too, for a presigned URL). */
  allPairs: [string, string][];
  presigned: { expiresS: number } | null;
}

function parseCredential(
  cred: string,
  malformed: () => S3Error,
): Omit<
  Parsed,
  "signedHeaders" | "signature" | "amzDate" | "payloadHash" | "queryPairs" | "allPairs" | "presigned"
> {
  const parts = cred.split("/");
  if (parts.length !== 5 || parts[4] !== "aws4_request" || !/^\d{8}$/.test(parts[1]!)) throw malformed();
  const [accessKeyId, scopeDate, region, service] = parts as [string, string, string, string];
  return { accessKeyId, scopeDate, region, service, scope: parts.slice(1).join("/") };
}

function parse(req: SignedRequest, headers: Map<string, string>): Parsed {
  const q = req.rawUrl.indexOf("?");
  const pairs = parseRawQuery(q < 0 ? "" : req.rawUrl.slice(q + 1));
  const auth = headers.get("authorization");
  const qsAlgo = pairs.find(([k]) => k === "X-Amz-Algorithm");
  if (auth !== undefined && qsAlgo !== undefined) {
    throw new S3Error("InvalidArgument", "only one auth mechanism allowed: header or query");
  }
  if (auth !== undefined) {
    // Made only when thrown: an Error's stack capture is not free on every request.
    const malformed = () =>
      new S3Error("AuthorizationHeaderMalformed", "the authorization header is malformed");
    if (!auth.startsWith("AWS4-HMAC-SHA256 ")) {
      throw new S3Error("InvalidArgument", "only AWS4-HMAC-SHA256 (SigV4) authorization is supported");
    }
    const fields = new Map<string, string>();
    for (const part of auth.slice("AWS4-HMAC-SHA256 ".length).split(",")) {
      const eq = part.indexOf("=");
      if (eq < 0) throw malformed();
      fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
    }
    const cred = fields.get("Credential");
    const signed = fields.get("SignedHeaders");
    const signature = fields.get("Signature");
    if (cred === undefined || signed === undefined || signature === undefined) throw malformed();
    const amzDate = headers.get("x-amz-date") ?? "";
    const payloadHash = headers.get("x-amz-content-sha256");
    if (payloadHash === undefined) throw new S3Error("InvalidRequest", "missing x-amz-content-sha256");
    return {
      ...parseCredential(cred, malformed),
      signedHeaders: signed.split(";"),
      signature,
      amzDate,
      payloadHash,
      queryPairs: pairs,
      allPairs: pairs,
      presigned: null,
    };
  }
  if (qsAlgo !== undefined) {
    const get = (k: string) => pairs.find(([n]) => n === k)?.[1];
    const malformed = () =>
      new S3Error(
        "AuthorizationQueryParametersError",
        "the presigned URL's X-Amz-* parameters are malformed",
      );
    if (qsAlgo[1] !== "AWS4-HMAC-SHA256") throw malformed();
    const cred = get("X-Amz-Credential");
    const signed = get("X-Amz-SignedHeaders");
    const signature = get("X-Amz-Signature");
    const amzDate = get("X-Amz-Date");
    const expires = Number(get("X-Amz-Expires"));
    if (cred === undefined || signed === undefined || signature === undefined || amzDate === undefined) {
      throw malformed();
    }
    if (!Number.isSafeInteger(expires) || expires < 1 || expires > MAX_EXPIRES_S) throw malformed();
    return {
      ...parseCredential(cred, malformed),
      signedHeaders: signed.split(";"),
      signature,
      amzDate,
      payloadHash: headers.get("x-amz-content-sha256") ?? get("X-Amz-Content-Sha256") ?? UNSIGNED_PAYLOAD,
      queryPairs: pairs.filter(([k]) => k !== "X-Amz-Signature"),
      allPairs: pairs,
      presigned: { expiresS: expires },
    };
  }
  throw new S3Error("AccessDenied", "anonymous access is off: sign the request (SigV4)");
}

/**
 * Checks the request's signature. `secretOf` returns the secret of an access key, or undefined for
 * an unknown key. `nowMs` is the gateway's clock; `signingKeys` the server's cache of derived keys.
 */
export function verifySigV4(
  req: SignedRequest,
  opts: {
    secretOf: (accessKeyId: string) => string | undefined;
    nowMs: number;
    signingKeys: SigningKeyCache;
  },
): AuthResult {
  const headers = headerMap(req.rawHeaders);
  const p = parse(req, headers);
  const secret = opts.secretOf(p.accessKeyId);
  if (secret === undefined) {
    throw new S3Error("InvalidAccessKeyId", "the access key id you provided does not exist in our records");
  }
  const signedAtMs = parseAmzDate(p.amzDate);
  if (Number.isNaN(signedAtMs)) throw new S3Error("AccessDenied", "the request has no valid X-Amz-Date");
  if (!p.amzDate.startsWith(p.scopeDate)) {
    throw new S3Error("SignatureDoesNotMatch", "the credential scope's date is not the request's date");
  }
  if (p.presigned === null) {
    if (Math.abs(opts.nowMs - signedAtMs) > MAX_SKEW_MS) {
      throw new S3Error(
        "RequestTimeTooSkewed",
        "the difference between the request time and the server's time is too large",
      );
    }
  } else {
    if (signedAtMs - opts.nowMs > MAX_SKEW_MS) {
      throw new S3Error("AccessDenied", "the presigned URL is dated in the future");
    }
    if (opts.nowMs > signedAtMs + p.presigned.expiresS * 1000) {
      throw new S3Error("AccessDenied", "request has expired");
    }
  }
  if (!p.signedHeaders.includes("host")) {
    throw new S3Error("AccessDenied", "the signature must cover the host header");
  }
  const q = req.rawUrl.indexOf("?");
  const rawPath = q < 0 ? req.rawUrl : req.rawUrl.slice(0, q);
  const canonicalHeaders = p.signedHeaders.map((h) => `${h}:${headers.get(h) ?? ""}\n`).join("");
  const canonical = [
    req.method,
    rawPath,
    canonicalQuery(p.queryPairs),
    canonicalHeaders,
    p.signedHeaders.join(";"),
    p.payloadHash,
  ].join("\n");
  // Node decodes the request line and header values as latin1: latin1 gives back the bytes sent, and the
  // client signed those bytes (UTF-8 for a non-ASCII metadata value), not their UTF-8 re-encoding.
  const toSign = ["AWS4-HMAC-SHA256", p.amzDate, p.scope, sha256Hex(Buffer.from(canonical, "latin1"))].join(
    "\n",
  );
  const expected = hmac(opts.signingKeys.get(secret, p.scopeDate, p.region, p.service), toSign);
  const given = Buffer.from(p.signature, "hex");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw new S3Error(
      "SignatureDoesNotMatch",
      "the request signature we calculated does not match the signature you provided",
    );
  }
  return { accessKeyId: p.accessKeyId, payloadHash: p.payloadHash, query: p.allPairs };
}
