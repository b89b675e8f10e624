/**
 * `Range: bytes=a-b` for chunk reads (RFC 9110 §14). One range only: a header this node does not
 * understand (other units, several ranges, bad syntax) is ignored and the whole chunk is served, as the
 * RFC allows; a well-formed range that starts past the end is refused.
 */
import { DfsError } from "../common/errors.js";

/** Inclusive byte positions. */
export interface ByteRange {
  start: number;
  end: number;
}

const SINGLE_RANGE = /^bytes=(\d{0,15})-(\d{0,15})$/;

/** The range to serve, or null for the whole chunk. Throws BAD_REQUEST when it cannot be satisfied. */
export function parseRange(header: string | undefined, sizeBytes: number): ByteRange | null {
  if (header === undefined) return null;
  const m = SINGLE_RANGE.exec(header.trim());
  if (!m) return null;
  const [, a = "", b = ""] = m;
  if (a === "" && b === "") return null;
  // An empty chunk has no byte to point at; serving it whole is the only useful answer.
  if (sizeBytes === 0) return null;
  if (a === "") {
    // Suffix form: the last b bytes.
    const n = Number(b);
    if (n === 0) throw unsatisfiable(header, sizeBytes);
    return { start: Math.max(0, sizeBytes - n), end: sizeBytes - 1 };
  }
  const start = Number(a);
  const end = b === "" ? sizeBytes - 1 : Number(b);
  if (b !== "" && end < start) return null;
  if (start >= sizeBytes) throw unsatisfiable(header, sizeBytes);
  return { start, end: Math.min(end, sizeBytes - 1) };
}

function unsatisfiable(header: string, sizeBytes: number): DfsError {
  return new DfsError(
    "BAD_REQUEST",
    `range ${JSON.stringify(header)} is outside the ${sizeBytes}-byte chunk`,
    {
      sizeBytes,
    },
  );
}
