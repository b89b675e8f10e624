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

/**
 * Chunk read tickets: a metadata replica hands one out with every chunk id it gives a client (the read
 * route's chunk list, the leader's locations), so a data node serves a chunk only to whoever was just
 * allowed to see it, not to anyone who learned its id. `<expiresAtMs>.<mac>`: the chunk id is the
 * URL's, so the ticket need not carry it; the MAC's input starts with "read|", which no write ticket's
 * does (those start with hex), so neither kind passes for the other.
 */
export const READ_TICKET_TTL_MS = 5 * 60_000;

function readMac(secret: string, chunkId: string, expiresAtMs: number): string {
  return createHmac("sha256", secret).update(`read|${chunkId}|${expiresAtMs}`).digest("base64url");
}

export function signReadTicket(secret: string, claims: { chunkId: string; expiresAtMs: number }): string {
  return `${claims.expiresAtMs}.${readMac(secret, claims.chunkId, claims.expiresAtMs)}`;
}

const READ_TICKET = /^(\d{1,16})\.([A-Za-z0-9_-]{43})$/;

/** When a read ticket expires (by its own claim, unchecked), or null if it is not one: for refreshing early. */
export function readTicketExpiry(ticket: string): number | null {
  const m = READ_TICKET.exec(ticket);
  return m ? Number(m[1]) : null;
}

/** Verifies a read ticket's signature, that it is for this chunk, and that it has not expired. */
export function verifyReadTicket(
  secret: string,
  ticket: string,
  expect: { chunkId: string; nowMs: number },
): { ok: true } | { ok: false; reason: string } {
  const m = READ_TICKET.exec(ticket);
  if (!m) return { ok: false, reason: "malformed read ticket" };
  const expiresAtMs = Number(m[1]);
  const want = Buffer.from(readMac(secret, expect.chunkId, expiresAtMs));
  const got = Buffer.from(m[2] ?? "");
  // Signed for another chunk reads the same as forged: the MAC covers the id.
  if (want.length !== got.length || !timingSafeEqual(want, got))
    return { ok: false, reason: "bad signature (or a ticket for another chunk)" };
  if (expiresAtMs < expect.nowMs) return { ok: false, reason: "read ticket expired" };
  return { ok: true };
}
