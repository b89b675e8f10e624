/**
 * The CLI's view of its process: streams, environment, terminal. Commands take it as a parameter so
 * that tests drive them with in-memory streams, and so that stdout's rules live in one place: data
 * only, written with back-pressure, and a closed pipe ends the command quietly.
 */
import { once } from "node:events";
import type { Readable, Writable } from "node:stream";

export interface CliIo {
  stdout: Writable;
  stderr: Writable;
  stdin: Readable;
  env: NodeJS.ProcessEnv;
  /** Progress bars only on a terminal. */
  stderrIsTTY: boolean;
  /** Aborted on Ctrl-C (SIGINT) while a file command runs. */
  signal: AbortSignal;
}

/** Writes with back-pressure; rejects (EPIPE) if the reader went away. */
export async function writeOut(out: Writable, data: string | Uint8Array): Promise<void> {
  if (out.destroyed || out.writableEnded) {
    throw Object.assign(new Error("stdout is closed"), { code: "EPIPE" });
  }
  if (out.write(data)) return;
  await new Promise<void>((resolve, reject) => {
    const done = (err?: Error) => {
      out.off("drain", done);
      out.off("error", done);
      if (err) reject(err);
      else resolve();
    };
    out.on("drain", done);
    out.on("error", done);
  });
}

export function line(io: CliIo, text: string): Promise<void> {
  return writeOut(io.stdout, `${text}\n`);
}

/** A diagnostic line on stderr (never blocks, never fails the command). */
export function note(io: CliIo, text: string): void {
  io.stderr.write(`${text}\n`);
}

/**
 * A broken stdout pipe surfaces as an 'error' event on process.stdout, possibly after the command
 * finished writing: exit quietly with success, as `head` and friends expect.
 */
export function exitQuietlyOnBrokenPipe(stream: Writable, exit: (code: number) => void): void {
  stream.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") exit(0);
    else throw err;
  });
}

/** Resolves once everything written to `out` has been handed to the OS. */
export async function flushed(out: Writable): Promise<void> {
  if (!out.writableNeedDrain) return;
  await once(out, "drain");
}
