/**
 * FsState's options with their defaults: the bounds that keep every table of the state machine finite.
 * Every replica must resolve them alike (they shape what apply does), so they come from the config.
 */
import { assert } from "../../common/assert.js";
import type { FsStateOptions } from "./types.js";

const DEFAULT_MAX_SESSIONS = 10_000;
const DEFAULT_MAX_SESSIONS_PER_CLIENT = 1_000;
const DEFAULT_MAX_LOCK_HOLDINGS = 65_536;
const DEFAULT_MAX_DATA_NODES = 10_000;
export const DEFAULT_MAX_RENAME_ENTRIES = 10_000;

export type ResolvedOptions = Required<FsStateOptions>;

export function resolveOptions(opts: FsStateOptions): ResolvedOptions {
  const o: ResolvedOptions = {
    versionsRetained: opts.versionsRetained,
    sessionTimeoutMs: opts.sessionTimeoutMs,
    maxSessions: opts.maxSessions ?? DEFAULT_MAX_SESSIONS,
    maxSessionsPerClient: opts.maxSessionsPerClient ?? DEFAULT_MAX_SESSIONS_PER_CLIENT,
    maxLockHoldings: opts.maxLockHoldings ?? DEFAULT_MAX_LOCK_HOLDINGS,
    maxDataNodes: opts.maxDataNodes ?? DEFAULT_MAX_DATA_NODES,
    maxRenameEntries: opts.maxRenameEntries ?? DEFAULT_MAX_RENAME_ENTRIES,
  };
  for (const [k, v] of Object.entries(o))
    assert(Number.isSafeInteger(v) && v >= 1, `FsState option ${k} ≥ 1`);
  return o;
}
