/**
 * Raw TCP clients for the listener-limit tests: a connection that sends what a test says (half a
 * request, nothing at all, a keep-alive request), and tells when the server closed it.
 */
import { connect, type Socket } from "node:net";
import { waitFor } from "./cluster-harness.js";

export interface RawConnection {
  socket: Socket;
  /** True once the server closed or reset the connection. */
  readonly closed: boolean;
  /**
   * Sends a complete keep-alive GET on this connection and resolves with the response's status, or 0
   * when the server closed the connection without answering.
   */
  get(path: string, headers?: Record<string, string>): Promise<number>;
  /** Everything received so far. */
  received(): string;
  destroy(): void;
}

/** Opens a TCP connection to 127.0.0.1:port; resolves once connected. */
export async function openRaw(port: number): Promise<RawConnection> {
  const socket = connect({ host: "127.0.0.1", port });
  let closed = false;
  let buf = "";
  socket.on("data", (b: Buffer) => {
    buf += b.toString("latin1");
  });
  socket.on("error", () => undefined); // a reset is what some tests wait for
  socket.on("close", () => {
    closed = true;
  });
  await new Promise<void>((ok, fail) => {
    socket.once("connect", ok);
    socket.once("error", fail);
  });
  return {
    socket,
    get closed() {
      return closed;
    },
    received: () => buf,
    destroy: () => socket.destroy(),
    async get(path, headers = {}) {
      const start = buf.length;
      const extra = Object.entries(headers)
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("");
      socket.write(`GET ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: keep-alive\r\n${extra}\r\n`);
      return waitFor(
        `an answer to GET ${path}`,
        async () => {
          const text = buf.slice(start);
          if (closed && !text.includes("\r\n\r\n")) return 0;
          const end = text.indexOf("\r\n\r\n");
          if (end < 0) return null;
          const length = Number(/content-length: *(\d+)/i.exec(text.slice(0, end))?.[1] ?? 0);
          if (text.length < end + 4 + length) return null;
          return Number(text.slice(9, 12));
        },
        10_000,
      );
    },
  };
}

/** Resolves once the server has closed `c`; fails after `timeoutMs`. */
export function closedByServer(c: RawConnection, what: string, timeoutMs = 15_000): Promise<true> {
  return waitFor(what, async () => (c.closed ? true : null), timeoutMs);
}
