/**
 * A test-only HTTP proxy in front of one server that loses chosen answers: the request reaches the
 * server and takes effect, but the caller never hears of it, as when a connection dies after the
 * leader applied a write or an answer arrives after the caller's timeout. This is the fault that
 * exactly-once sessions exist for (Raft dissertation §6.3), played on real processes.
 *
 * Per request whose path a scheduled fault names, in arrival order (each fault is used once):
 * - `lost`: forwarded at once; the proxy waits for the server's whole answer, then resets the
 *   caller's connection instead of passing it on (the caller retries at once);
 * - `silent`: forwarded at once; the answer is withheld for `holdMs` (longer than the caller's
 *   per-attempt timeout, so the caller times out and retries), then the connection is reset;
 * - `late`: the request itself is held for `holdMs`, then forwarded: the caller's retry has been
 *   applied by then, and the first attempt arrives after it, a late duplicate.
 * Every other request passes through untouched. Listens on 127.0.0.1 only.
 */
import { createServer, Agent as HttpAgent, type IncomingMessage, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";

export type AnswerFault = { kind: "lost" } | { kind: "silent" | "late"; holdMs: number };

export class AnswerProxy {
  private readonly faults = new Map<string, AnswerFault[]>();
  private readonly agent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
  /** Requests whose answer this proxy kept from the caller, by path (what a test checks happened). */
  readonly dropped: string[] = [];
  /** Held requests still to be forwarded: `close` waits for them so nothing outlives the test. */
  private readonly pending = new Set<Promise<void>>();

  private constructor(
    private readonly server: Server,
    private readonly target: URL,
  ) {}

  static async start(targetUrl: string): Promise<AnswerProxy> {
    let proxy: AnswerProxy | null = null;
    const server = createServer((req, res) => {
      const body: Buffer[] = [];
      req.on("data", (b: Buffer) => body.push(b));
      req.on("end", () => proxy!.handle(req, Buffer.concat(body), res));
    });
    proxy = new AnswerProxy(server, new URL(targetUrl));
    await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
    return proxy;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** The next request to `path` not yet faulted meets `fault` (faults on one path apply in order). */
  schedule(path: string, fault: AnswerFault): void {
    const list = this.faults.get(path) ?? [];
    list.push(fault);
    this.faults.set(path, list);
  }

  /** Forgets the faults not yet met (a step that did not send what it expected to). */
  clear(): void {
    this.faults.clear();
  }

  /** Faults scheduled and not yet met. */
  get unmet(): number {
    let n = 0;
    for (const list of this.faults.values()) n += list.length;
    return n;
  }

  private handle(req: IncomingMessage, body: Buffer, res: import("node:http").ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0]!;
    const fault = this.faults.get(path)?.shift();
    if (fault === undefined) {
      this.forward(req, body).then(
        (answer) => {
          res.writeHead(answer.status, answer.headers);
          res.end(answer.body);
        },
        () => res.destroy(),
      );
      return;
    }
    this.dropped.push(path);
    const done = (async () => {
      // The caller times out and retries while this request waits; it arrives after the retry.
      if (fault.kind === "late") await sleep(fault.holdMs);
      await this.forward(req, body).catch(() => undefined);
      if (fault.kind === "silent") await sleep(fault.holdMs);
      // The write took effect (or was refused) on the server; its answer goes nowhere.
      res.destroy();
    })();
    this.pending.add(done);
    void done.finally(() => this.pending.delete(done));
  }

  private forward(
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string | string[]>; body: Buffer }> {
    return new Promise((ok, fail) => {
      const headers = { ...req.headers, host: this.target.host };
      const up = request(
        {
          agent: this.agent,
          host: this.target.hostname,
          port: this.target.port,
          method: req.method,
          path: req.url,
          headers,
          timeout: 30_000,
        },
        (upRes) => {
          const parts: Buffer[] = [];
          upRes.on("data", (b: Buffer) => parts.push(b));
          upRes.on("end", () => {
            const h: Record<string, string | string[]> = {};
            for (const [k, v] of Object.entries(upRes.headers)) {
              // The proxy answers with its own framing.
              if (v !== undefined && k !== "connection" && k !== "keep-alive" && k !== "transfer-encoding") {
                h[k] = v;
              }
            }
            ok({ status: upRes.statusCode ?? 502, headers: h, body: Buffer.concat(parts) });
          });
          upRes.on("error", fail);
        },
      );
      up.on("timeout", () => up.destroy(new Error("upstream timeout")));
      up.on("error", fail);
      up.end(body);
    });
  }

  /** Resolves once every held request has been forwarded and its answer dropped. */
  async drain(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  async close(): Promise<void> {
    await this.drain();
    this.agent.destroy();
    this.server.closeAllConnections();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}
