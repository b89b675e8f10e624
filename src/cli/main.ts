#!/usr/bin/env node
/**
 * The `raftfs` executable: wires the real process (streams, environment, signals) into `run()`.
 * Ctrl-C during a file command aborts it (exit 130); a second Ctrl-C exits at once.
 */
import { InterruptedError } from "./errors.js";
import { type CliIo, exitQuietlyOnBrokenPipe, flushed } from "./io.js";
import { run } from "./program.js";

const interrupt = new AbortController();
const io: CliIo = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  env: process.env,
  stderrIsTTY: process.stderr.isTTY === true,
  signal: interrupt.signal,
};

exitQuietlyOnBrokenPipe(process.stdout, (code) => process.exit(code));

const onSigint = () => {
  if (interrupt.signal.aborted) process.exit(130);
  interrupt.abort(new InterruptedError());
};

const code = await run(process.argv.slice(2), io, {
  beforeFileCommand: () => process.on("SIGINT", onSigint),
});
await flushed(process.stdout);
process.exit(code);
