/**
 * Session secrets: drawn here, in the shell, because the state machine must stay deterministic (every
 * replica applies the same entry, so randomness drawn inside `apply` would differ between them). Only
 * the SHA-256 of a secret is proposed; the secret itself goes back to the client that opened the
 * session and nowhere else (not the log, not a snapshot, not a listing).
 */
import { createHash, randomBytes } from "node:crypto";

/** 256 bits: well past guessing, and the same size as the hash that stands for it. */
const SECRET_BYTES = 32;

export function newSessionSecret(): string {
  return randomBytes(SECRET_BYTES).toString("base64url");
}

export function hashSessionSecret(secret: string): string {
  return createHash("sha256").update(secret, "utf8").digest("hex");
}
