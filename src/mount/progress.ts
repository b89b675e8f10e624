/**
 * How long a data request (a close that uploads, a read, a write held back by its upload) may take.
 * A fixed deadline fails a large file on a slow but working cluster: a 1 GiB close at 4 MiB/s needs
 * four minutes, and a flat two-minute budget answered it EIO while every chunk was still being
 * stored. HDFS and NFS judge a transfer by its headway instead, and so does this: the budget restarts
 * whenever the mount's client moved at least `PROGRESS_BYTES` over the network since the last look,
 * and a request gets EIO only after a whole budget with less than that (the cluster unreachable or
 * stalled). The bytes are the chunk bodies counted from undici's diagnostics channels, which see every
 * chunk the library sends or fetches, whatever path the upload took (spool, stream, patch).
 */
import { subscribe, unsubscribe } from "node:diagnostics_channel";
import { DATA_ROUTES } from "../common/protocol/index.js";

/** Less than this in a whole budget is no headway. */
export const PROGRESS_BYTES = 1024 * 1024;

/** Bytes moved by the client's HTTP bodies in either direction since the counter started. */
export class TransferProgress {
  bytes = 0;

  add(n: number): void {
    this.bytes += n;
  }
}

const BODY_CHANNELS = ["undici:request:bodyChunkSent", "undici:request:bodyChunkReceived"] as const;
/** Only chunk bodies count: the watch feed of a busy cluster must not keep a stalled upload alive. */
const CHUNK_PATH_PREFIX = DATA_ROUTES.chunk.slice(0, DATA_ROUTES.chunk.indexOf(":"));

/** Counts the chunk bytes undici sends or receives in this process; returns the stop function. */
export function countTransfers(progress: TransferProgress): () => void {
  const onChunk = (message: unknown) => {
    const { request, chunk } = message as {
      request?: { path?: string };
      chunk?: { byteLength?: number; length?: number };
    };
    if (!request?.path?.startsWith(CHUNK_PATH_PREFIX)) return;
    progress.add(chunk?.byteLength ?? chunk?.length ?? 0);
  };
  for (const name of BODY_CHANNELS) subscribe(name, onChunk);
  return () => {
    for (const name of BODY_CHANNELS) unsubscribe(name, onChunk);
  };
}

/**
 * Calls `onExpire` once `budgetMs` pass without `PROGRESS_BYTES` of headway in `progress` (at once
 * after the first budget when `progress` is null). Returns the cancel function.
 */
export function armDeadline(
  budgetMs: number,
  progress: TransferProgress | null,
  onExpire: (waitedMs: number) => void,
): () => void {
  const started = Date.now();
  let seen = progress?.bytes ?? 0;
  let timer: NodeJS.Timeout;
  const check = () => {
    if (progress !== null && progress.bytes - seen >= PROGRESS_BYTES) {
      seen = progress.bytes;
      timer = setTimeout(check, budgetMs);
      return;
    }
    onExpire(Date.now() - started);
  };
  timer = setTimeout(check, budgetMs);
  return () => clearTimeout(timer);
}
