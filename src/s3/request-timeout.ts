/**
 * S3's `RequestTimeout` (400, "your socket connection to the server was not read from or written to
 * within the timeout period") for a client that stops sending: its headers (node's header timeout,
 * seen in the server's client-error handler) or its body (the socket's idle timeout while the gateway
 * waits for the next bytes). Without this, node answered slow headers as an unparsable request and
 * dropped a silent body's socket without a word, so the client could not tell a stall from a crash.
 */
import type { IncomingMessage } from "node:http";
import { S3Error } from "./errors.js";

/** The error node raises when a request's headers did not arrive within `headersTimeout`. */
export function isHeadersTimeout(err: Error & { code?: string }): boolean {
  return err.code === "ERR_HTTP_REQUEST_TIMEOUT";
}

export function requestTimeoutError(): S3Error {
  return new S3Error(
    "RequestTimeout",
    "your socket connection to the server was not read from or written to within the timeout period",
    // The rest of the body may still come: the answer closes the connection rather than wait for it.
    { connection: "close" },
  );
}

/**
 * The request body as an async iterable that throws `RequestTimeout` when the socket's idle timeout
 * fires while the gateway is waiting for bytes. A timeout while the gateway is busy with the bytes it
 * has (a slow data node: it is not reading, so the client cannot send) is not the client's silence: the
 * timer is re-armed instead. The request stream is never destroyed here, since that would close the
 * socket before the error answer is written.
 */
export function bodyBoundedBySilence(req: IncomingMessage): AsyncIterable<Buffer> {
  return {
    async *[Symbol.asyncIterator]() {
      const chunks = req[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
      // Set only while waiting for the next bytes. Each wait is its own short-lived promise: racing
      // every read against one long-lived timeout promise (Promise.race) would leave a reaction on it
      // per read, each holding that read's chunk, and so keep the whole body in memory.
      let failWait: ((err: S3Error) => void) | null = null;
      const onTimeout = () => {
        if (failWait !== null) failWait(requestTimeoutError());
        else req.socket.setTimeout(req.socket.timeout ?? 0);
      };
      // A listener on the request keeps node from destroying the socket when it idles mid-body.
      req.on("timeout", onTimeout);
      let ended = false;
      try {
        for (;;) {
          const next = await new Promise<IteratorResult<Buffer>>((resolve, reject) => {
            failWait = reject;
            chunks.next().then(resolve, reject);
          });
          failWait = null;
          if (next.done) {
            ended = true;
            return;
          }
          yield next.value;
        }
      } catch (err) {
        ended = true; // timed out (the answer closes the socket) or the stream failed (already destroyed)
        throw err;
      } finally {
        failWait = null;
        req.off("timeout", onTimeout);
        // A consumer that stopped early (a refused body): drop the rest as iterating the request would.
        if (!ended) await chunks.return?.();
      }
    },
  };
}
