/**
 * Transfer progress on stderr: a bar when stderr is a terminal and the user did not ask for quiet
 * or JSON output; nothing otherwise (a bar in a log file or a pipe is noise).
 */
import { SingleBar } from "cli-progress";
import { humanBytes } from "./format.js";
import type { CliIo } from "./io.js";

export interface Progress {
  /** False for the silent stand-in: callers may skip counting altogether. */
  readonly enabled: boolean;
  add(bytes: number): void;
  setTotal(bytes: number): void;
  stop(): void;
}

const NONE: Progress = {
  enabled: false,
  add: () => undefined,
  setTotal: () => undefined,
  stop: () => undefined,
};

export function progressEnabled(io: CliIo, opts: { quiet?: boolean; json?: boolean }): boolean {
  return io.stderrIsTTY && !opts.quiet && !opts.json;
}

export function startProgress(
  io: CliIo,
  label: string,
  totalBytes: number | null,
  enabled: boolean,
): Progress {
  if (!enabled) return NONE;
  let total = totalBytes ?? 0;
  let done = 0;
  const bar = new SingleBar({
    stream: io.stderr as NodeJS.WritableStream,
    format: `${label} [{bar}] {percentage}% {doneH}/{totalH}`,
    hideCursor: true,
    clearOnComplete: true,
    barsize: 30,
    fps: 10,
  });
  const payload = () => ({ doneH: humanBytes(done), totalH: total > 0 ? humanBytes(total) : "?" });
  bar.start(Math.max(1, total), 0, payload());
  return {
    enabled: true,
    add(bytes) {
      done += bytes;
      bar.update(Math.min(done, Math.max(1, total)), payload());
    },
    setTotal(bytes) {
      total = bytes;
      bar.setTotal(Math.max(1, bytes));
      bar.update(Math.min(done, Math.max(1, total)), payload());
    },
    stop() {
      bar.stop();
    },
  };
}
