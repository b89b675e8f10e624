#!/usr/bin/env node
/**
 * The `raftfs` executable: wires the real process (streams, environment, signals) into `run()`.
 * Ctrl-C during a file command aborts it (exit 130); a second Ctrl-C exits at once.
 *
 * File commands (and help) run from one bundled file when the build made it (scripts/bundle-cli.mjs):
 * loading the client library as hundreds of small modules (the schema library alone is ~680) cost
 * most of a command's start. A replica and a data node run from a second bundle that holds the
 * servers too: a restarted replica spent most of its start loading ~1,100 modules (issue 15).
 * `cluster`, `mount` and `s3` run the plain build. Each process loads one of the three, so every
 * module has one copy in it.
 */
import { existsSync } from "node:fs";
import { setFlagsFromString } from "node:v8";
import { BULK_COMMANDS, BUNDLED_SERVER_COMMANDS, commandOf, SERVER_COMMANDS } from "./commands.js";

const args = process.argv.slice(2);
const command = commandOf(args);
const fileCommand = command === undefined || !SERVER_COMMANDS.has(command);
if (fileCommand && !BULK_COMMANDS.has(command ?? "")) {
  // undici's HTTP parser is WebAssembly, and V8 compiles it twice: at once with its baseline
  // compiler (Liftoff), then again with its optimizing one on background threads. A metadata command
  // makes one request or a few, and that second compile was a third of `raftfs stat`'s time on two
  // cores (0.56–0.68 s against 0.37–0.42 s without it, bench/RESULTS.md). get, put and cat keep it:
  // with the baseline code a 512 MiB get cost the CLI ~0.85 ms more CPU per MiB. So do the servers
  // and the mount.
  setFlagsFromString("--liftoff-only");
}
const bundle =
  command !== undefined && BUNDLED_SERVER_COMMANDS.has(command)
    ? new URL("./server.bundle.mjs", import.meta.url)
    : fileCommand
      ? new URL("./entry.bundle.mjs", import.meta.url)
      : null;
const cli: typeof import("./entry.js") =
  bundle !== null && existsSync(bundle) ? await import(bundle.href) : await import("./entry.js");

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
