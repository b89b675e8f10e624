/**
 * What a mutation's wire body becomes before it is proposed, shared by its own route (app.ts) and the
 * batch route (batch-route.ts): inline content decoded and bounded, and every secret a client presents
 * replaced by its SHA-256, so the log never holds one.
 */
import { DfsError } from "../common/errors.js";
import type { WireCommitContent, WireContent, WireSession } from "../common/protocol/index.js";
import { hashSessionSecret } from "./session-secrets.js";
import type { FileContent } from "./state/index.js";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export function wireContent(c: WireContent | WireCommitContent, inlineThresholdBytes: number): FileContent {
  if (c?.kind === "inline") {
    let data: Uint8Array;
    // Bytes as they are (a msgpack body), or base64 (JSON).
    if ("data" in c && c.data instanceof Uint8Array) data = c.data;
    else if (!("dataBase64" in c) || typeof c.dataBase64 !== "string" || !BASE64.test(c.dataBase64)) {
      throw new DfsError("BAD_REQUEST", "content.dataBase64 must be base64");
    } else data = Buffer.from(c.dataBase64, "base64");
    if (data.byteLength > inlineThresholdBytes) {
      throw new DfsError(
        "PAYLOAD_TOO_LARGE",
        `inline content of ${data.byteLength} bytes exceeds the ${inlineThresholdBytes}-byte threshold: store it in chunks`,
      );
    }
    return { kind: "inline", data };
  }
  return c as FileContent;
}

/**
 * The session of a mutation, as the state machine takes it: the secret the client presents becomes its
 * SHA-256 here, so the log never holds a secret (a missing one is refused by the state machine).
 */
export function sessionOf(body: { session?: WireSession }): Record<string, unknown> {
  if (typeof body?.session !== "object" || body.session === null) {
    throw new DfsError("BAD_REQUEST", "a mutation needs session {id, seq, ackedSeq, secret}");
  }
  const { secret, ...rest } = body.session as Partial<WireSession>;
  return { ...rest, ...(typeof secret === "string" ? { secretHash: hashSessionSecret(secret) } : {}) };
}

/**
 * A request's `lockSecret` (the lock's own secret, delegating writes under it) becomes `lockSecretHash`,
 * and an acquire's `secret` becomes `secretHash`: like session secrets, only hashes reach the log.
 */
export function hashLockSecrets(b: Record<string, unknown>): Record<string, unknown> {
  const { lockSecret, secret, ...rest } = b;
  return {
    ...rest,
    ...(typeof lockSecret === "string" ? { lockSecretHash: hashSessionSecret(lockSecret) } : {}),
    ...(typeof secret === "string" ? { secretHash: hashSessionSecret(secret) } : {}),
  };
}

/** A commit's body (the commit route's, or a batch item's) as the command the state machine parses. */
export function commitCommand(
  b: Record<string, unknown>,
  inlineThresholdBytes: number,
): Record<string, unknown> {
  const hashed = hashLockSecrets(b);
  const content = wireContent(hashed.content as WireCommitContent, inlineThresholdBytes);
  return { ...hashed, type: "commit", content, session: sessionOf(hashed) };
}
