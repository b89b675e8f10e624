/**
 * What main.ts needs from the CLI, in one module: the bundled file commands (scripts/bundle-cli.mjs
 * builds dist/src/cli/entry.bundle.mjs from this) and the plain build export the same names, so
 * main.ts can take either.
 */
export { InterruptedError } from "./errors.js";
export { type CliIo, exitQuietlyOnBrokenPipe, flushed } from "./io.js";
export { run } from "./program.js";
