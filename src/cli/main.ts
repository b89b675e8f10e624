#!/usr/bin/env node
/**
 * The `raftfs` executable: wires the real process (streams, environment, signals) into `run()`.
 * Ctrl-C during a file command aborts it (exit 130); a second Ctrl-C exits at once.
 *
 * File commands (and help) run from one bundled file when the build made it (scripts/bundle-cli.mjs):
 * loading the client library as hundreds of small modules (the schema library alone is ~680) cost
 * most of a command's start. Server commands always run the plain build, so a replica or data node
 * is exactly the code that the tests and the launcher run, with one copy of every module.
 */
import { existsSync } from "node:fs";
import { commandOf, SERVER_COMMANDS } from "./commands.js";

const args = process.argv.slice(2);
const bundle = new URL("./entry.bundle.mjs", import.meta.url);
const command = commandOf(args);
const cli: typeof import("./entry.js") =
  (command === undefined || !SERVER_COMMANDS.has(command)) && existsSync(bundle)
    ? await import(bundle.href)
    : await import("./entry.js");

const interrupt = new AbortController();
const io: import("./entry.js").CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  stderrIsTTY: process.stderr.isTTY === true,
  signal: interrupt.signal,
};

cli.exitQuietlyOnBrokenPipe(process.stdout, (code) => process.exit(code));

const onSigint = () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort(new cli.InterruptedError());
};

const code = await cli.run(args, io, {
  beforeFileCommand: () => process.on("SIGINT", onSigint),
});
await cli.flushed(process.stdout);
process.exit(code);
