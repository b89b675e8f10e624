/** Commands that run servers: they handle their own signals, never the file commands' Ctrl-C. */
export const SERVER_COMMANDS: ReadonlySet<string> = new Set(["meta", "data", "cluster", "mount", "s3"]);

/**
 * File commands that move a file's bytes (as many as the file holds): they keep V8's optimizing tier
 * for undici's WebAssembly parser (main.ts), which a long transfer pays back.
 */
export const BULK_COMMANDS: ReadonlySet<string> = new Set(["get", "put", "cat"]);

/** Server commands that run from the server bundle (scripts/bundle-cli.mjs), not the plain build. */
export const BUNDLED_SERVER_COMMANDS: ReadonlySet<string> = new Set(["meta", "data"]);

/** Global options that take a value as the next word (`--config x`; `--config=x` is one word). */
const GLOBALS_WITH_VALUE = new Set(["--config", "--token", "--ca", "--deadline"]);

/** The subcommand named in `args` (without node and script), or undefined (`--help`, nothing). */
export function commandOf(args: readonly string[]): string | undefined {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--") return args[i + 1];
    if (GLOBALS_WITH_VALUE.has(a)) i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}
