/**
 * How command handlers report. Handlers are written as straight-line code that calls `fail(...)` on an
 * expected failure; `FsState.apply` is the one place that turns a `DfsError` into a `{ ok: false }`
 * value (after rolling the journal back). Anything else thrown is a bug and propagates.
 */
import { DfsError, type ErrorCode } from "../../common/errors.js";
import type { Change } from "./types.js";

export interface Outcome {
  value: unknown;
  changes: Change[];
}

export function fail(code: ErrorCode, message: string, details: Record<string, unknown> = {}): never {
  throw new DfsError(code, message, details);
}
