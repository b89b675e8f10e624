/**
 * Chunk write tickets: the leader signs which chunk may be written, its size, on which nodes, until
 * when. Data nodes accept writes only with a valid ticket, so a client cannot place data on its own.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export interface TicketClaims {
  chunkId: string;
  sizeBytes: number;
  nodeIds: number[];
  expiresAtMs: number;
}

function mac(secret: string, c: TicketClaims): string {
  const payload = `${c.chunkId}|${c.sizeBytes}|${c.nodeIds.join(",")}|${c.expiresAtMs}`;
  return createHmac("sha256", secret).update(payload).digest("base64url");
}

export function signTicket(secret: string, claims: TicketClaims): string {
  const body = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${body}.${mac(secret, claims)}`;
}

export type TicketCheck = { ok: true; claims: TicketClaims } | { ok: false; reason: string };

/** Verifies signature, expiry, and that it covers this chunk, size and node. */
export function verifyTicket(
  secret: string,
  ticket: string,
  expect: { chunkId: string; sizeBytes: number; nodeId: number; nowMs: number },
): TicketCheck {
  const [body, sig] = ticket.split(".");
  if (!body || !sig) return { ok: false, reason: "malformed ticket" };
  let claims: TicketClaims;
  try {
    claims = JSON.parse(Buffer.from(body, "base64url").toString("utf8")) as TicketClaims;
  } catch {
    return { ok: false, reason: "malformed ticket" };
  }
  if (
    typeof claims?.chunkId !== "string" ||
    !Number.isInteger(claims.sizeBytes) ||
    !Array.isArray(claims.nodeIds) ||
    !Number.isInteger(claims.expiresAtMs)
  ) {
    return { ok: false, reason: "malformed ticket" };
  }
  const want = Buffer.from(mac(secret, claims));
  const got = Buffer.from(sig);
  if (want.length !== got.length || !timingSafeEqual(want, got))
    return { ok: false, reason: "bad signature" };
  if (claims.expiresAtMs < expect.nowMs) return { ok: false, reason: "ticket expired" };
  if (claims.chunkId !== expect.chunkId) return { ok: false, reason: "ticket is for another chunk" };
  if (claims.sizeBytes !== expect.sizeBytes) return { ok: false, reason: "ticket is for another size" };
  if (!claims.nodeIds.includes(expect.nodeId)) return { ok: false, reason: "ticket does not name this node" };
  return { ok: true, claims };
}
