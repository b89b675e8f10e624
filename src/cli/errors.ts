/**
 * How a failure ends the command: one line on stderr, `raftfs: <message> (<CODE>)`, and the exit code
 * of the shared table (common/errors.ts). Failures that are not DfsErrors (config, usage, local files)
 * get the code their meaning has in that table.
 */
import type { ConfigError } from "../common/config.js";
import { DfsError, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE } from "../common/errors.js";

/** A mistake in the command line itself (commander's errors are turned into these). */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

/** Ctrl-C: the command stopped because it was asked to. */
export class InterruptedError extends Error {
  constructor() {
    super("interrupted");
    this.name = "InterruptedError";
  }
}

/** A command that wants a specific exit code without an error line (a child's code, `status`). */
export class ExitCode extends Error {
  constructor(readonly code: number) {
    super(`exit ${code}`);
    this.name = "ExitCode";
  }
}

/** A process of `cluster up` (or a server command) could not start. */
export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StartupError";
  }
}

/**
 * By name, not `instanceof`: importing config.ts would load its schema library into every command,
 * `--help` included, and only the config loader throws errors of this name.
 */
function isConfigError(err: unknown): err is ConfigError {
  return err instanceof Error && err.name === "ConfigError" && Array.isArray((err as ConfigError).problems);
}

/** Local file-system errors, by errno, onto the table's meanings. */
const ERRNO_EXIT: Record<string, number> = {
  ENOENT: 3,
  ENOTDIR: 3,
  EEXIST: 4,
  ENOTEMPTY: 4,
};

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "not a directory",
  EEXIST: "already exists",
  ENOSPC: "no space left on the local disk",
};

function errno(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/** A closed stdout pipe (`raftfs ls / | head`): the reader has what it wanted. */
export function isBrokenPipe(err: unknown): boolean {
  return errno(err) === "EPIPE";
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ExitCode) return err.code;
  if (err instanceof DfsError) return err.exitCode;
  if (isConfigError(err) || err instanceof UsageError) return EXIT_USAGE;
  if (err instanceof InterruptedError) return EXIT_INTERRUPTED;
  if (isBrokenPipe(err)) return EXIT_OK;
  const code = errno(err);
  return code !== undefined ? (ERRNO_EXIT[code] ?? 1) : 1;
}

/** The one line to print, or null when the exit is quiet (broken pipe, a child's exit code). */
export function errorLine(err: unknown): string | null {
  if (err instanceof ExitCode || isBrokenPipe(err)) return null;
  if (err instanceof InterruptedError) return "raftfs: interrupted";
  if (err instanceof DfsError) return `raftfs: ${err.message} (${err.code})`;
  if (isConfigError(err)) {
    return `raftfs: invalid config ${err.source}: ${err.problems.join("; ")} (CONFIG)`;
  }
  if (err instanceof UsageError) return `raftfs: ${err.message} (USAGE)`;
  if (err instanceof StartupError) return `raftfs: ${err.message} (STARTUP)`;
  const code = errno(err);
  const e = err as { message?: unknown; path?: unknown } | null;
  if (code !== undefined) {
    const what = typeof e?.path === "string" ? `${e.path}: ` : "";
    const text = ERRNO_TEXT[code] ?? (typeof e?.message === "string" ? e.message : code);
    return `raftfs: ${what}${text} (${code})`;
  }
  const message = typeof e?.message === "string" ? e.message : String(err);
  return `raftfs: ${message.split("\n")[0]} (INTERNAL)`;
}
