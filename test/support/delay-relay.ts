/**
 * A test-only TCP relay in the manner of Toxiproxy: it accepts connections on one address, forwards
 * each to a target, and delays every byte in each direction by a one-way delay chosen from the
 * connecting peer's address (so one relay in front of a process gives each zone pair its own
 * latency), with jitter that never reorders bytes. On command it cuts (FIN) or resets (RST) every
 * connection, or changes the delays. The kernel here has no netem, so this is where latency comes from.
 *
 * As a program (started inside a network namespace by test/support/netns.ts):
 *   tsx test/support/delay-relay.ts '<RelayOptions as JSON>'
 * prints `ready <port>` on stdout once listening, and reads commands, one per line, on stdin:
 *   cut | reset | delays '<DelayRule[] as JSON>'
 */
import { createServer, type Server, Socket } from "node:net";
import { createInterface } from "node:readline";
import { pathToFileURL } from "node:url";

/** Connections from addresses starting with `prefix` (a string prefix of the dotted address). */
export interface DelayRule {
  prefix: string;
  /** One-way delay added to each direction: a round trip through the relay gains twice this. */
  delayMs: number;
  /** Each chunk's delay is `delayMs ± jitterMs` (uniform), but never earlier than the chunk before. */
  jitterMs: number;
}

export interface RelayOptions {
  listenHost: string;
  /** 0: any free port. */
  listenPort: number;
  targetHost: string;
  targetPort: number;
  /** First match wins; a peer no rule matches gets no delay. */
  delays: DelayRule[];
  /** Bytes one direction may hold in its delay line before it stops reading its source (backpressure). */
  maxQueuedBytes?: number;
}

const DEFAULT_MAX_QUEUED_BYTES = 4 * 1024 * 1024;

/**
 * One direction of one connection: chunks leave in arrival order, each at its own release time. The
 * release time is max(now + delay ± jitter, previous release): jitter spreads arrivals without
 * reordering the byte stream, as a real path's queueing does.
 */
class DelayLine {
  private readonly queue: { at: number; data: Buffer }[] = [];
  private queuedBytes = 0;
  private lastAt = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly from: Socket,
    private readonly to: Socket,
    private readonly delay: () => number,
    private readonly maxQueuedBytes: number,
    /** Called once the end of the stream has been passed on. */
    private readonly onDone: () => void,
  ) {
    from.on("data", (data: Buffer) => this.push(data));
    from.on("end", () => this.push(null));
  }

  private ended = false;

  private push(data: Buffer | null): void {
    const now = Date.now();
    const at = Math.max(now + this.delay(), this.lastAt);
    this.lastAt = at;
    // Nothing to wait for: a timer would add Node's 1 ms minimum to every chunk of a 0 ms link.
    if (at <= now && this.queue.length === 0) {
      if (data !== null) {
        if (!this.to.destroyed) this.to.write(data);
      } else {
        this.ended = true;
        if (!this.to.destroyed) this.to.end();
        this.onDone();
      }
      return;
    }
    if (data === null) this.ended = true;
    this.queue.push({ at, data: data ?? Buffer.alloc(0) });
    this.queuedBytes += data?.byteLength ?? 0;
    if (this.queuedBytes > this.maxQueuedBytes) this.from.pause();
    this.schedule();
  }

  private schedule(): void {
    if (this.timer !== null) return;
    const head = this.queue[0];
    if (head === undefined) return;
    this.timer = setTimeout(() => this.release(), Math.max(0, head.at - Date.now()));
  }

  private release(): void {
    this.timer = null;
    const now = Date.now();
    while (this.queue.length > 0 && (this.queue[0]?.at ?? Number.POSITIVE_INFINITY) <= now) {
      const item = this.queue.shift() as { at: number; data: Buffer };
      this.queuedBytes -= item.data.byteLength;
      if (item.data.byteLength > 0 && !this.to.destroyed) this.to.write(item.data);
      // The end of the stream is the last item: the half-close travels with the same delay.
      if (this.queue.length === 0 && this.ended) {
        if (!this.to.destroyed) this.to.end();
        this.onDone();
      }
    }
    if (this.queuedBytes <= this.maxQueuedBytes && this.from.isPaused()) this.from.resume();
    this.schedule();
  }

  stop(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.queue.length = 0;
  }
}

export class DelayRelay {
  private readonly server: Server;
  private readonly conns = new Set<{ a: Socket; b: Socket; lines: DelayLine[]; close(): void }>();
  private delays: DelayRule[];
  /** Connections accepted since start (for tests and the measurement). */
  accepted = 0;

  private constructor(private readonly opts: RelayOptions) {
    this.delays = opts.delays;
    this.server = createServer({ allowHalfOpen: true }, (a) => this.accept(a));
  }

  static async start(opts: RelayOptions): Promise<DelayRelay> {
    const r = new DelayRelay(opts);
    await new Promise<void>((ok, fail) => {
      r.server.once("error", fail);
      r.server.listen(opts.listenPort, opts.listenHost, () => ok());
    });
    return r;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === "object" && a !== null ? a.port : 0;
  }

  setDelays(delays: DelayRule[]): void {
    this.delays = delays;
  }

  /** The rule for a peer address (IPv4-mapped IPv6 addresses are read as IPv4). */
  ruleFor(address: string): DelayRule | undefined {
    const v4 = address.startsWith("::ffff:") ? address.slice(7) : address;
    return this.delays.find((d) => v4.startsWith(d.prefix));
  }

  private accept(a: Socket): void {
    this.accepted++;
    const rule = this.ruleFor(a.remoteAddress ?? "");
    // Read the rule at each chunk, so `delays` applies to open connections too.
    const delay = () => {
      const r = rule === undefined ? undefined : this.ruleFor(a.remoteAddress ?? "");
      if (r === undefined) return 0;
      return Math.max(0, r.delayMs + (Math.random() * 2 - 1) * r.jitterMs);
    };
    const b = new Socket({ allowHalfOpen: true });
    const max = this.opts.maxQueuedBytes ?? DEFAULT_MAX_QUEUED_BYTES;
    // Torn down once both directions have passed on their end (not at a socket's "close", which
    // comes while the other direction may still hold delayed bytes), or at once on an error.
    let done = 0;
    const lineDone = () => {
      if (++done === 2) close();
    };
    const conn = {
      a,
      b,
      lines: [new DelayLine(a, b, delay, max, lineDone), new DelayLine(b, a, delay, max, lineDone)],
      close: () => close(),
    };
    this.conns.add(conn);
    a.setNoDelay(true);
    b.setNoDelay(true);
    const close = () => {
      for (const l of conn.lines) l.stop();
      this.conns.delete(conn);
      a.destroy();
      b.destroy();
    };
    // A reset on one side resets the other: the peer sees what it would see on a real path.
    a.once("error", () => {
      b.resetAndDestroy();
      close();
    });
    b.once("error", () => {
      a.resetAndDestroy();
      close();
    });
    a.once("close", (hadError) => hadError && close());
    b.once("close", (hadError) => hadError && close());
    // No Nagle towards the target either, set once the socket exists: a request written in two
    // pieces (headers, body) would otherwise wait for the target's delayed ACK (40 ms on Linux).
    b.once("connect", () => b.setNoDelay(true));
    b.connect(this.opts.targetPort, this.opts.targetHost);
  }

  /** Ends every open connection with a FIN (both sides), as a peer that closed would. */
  cut(): void {
    for (const c of this.conns) {
      for (const l of c.lines) l.stop();
      c.a.end();
      c.b.end();
      c.a.destroySoon();
      c.b.destroySoon();
      this.conns.delete(c);
    }
  }

  /** Resets every open connection (RST both ways), as a middlebox that dropped its state would. */
  reset(): void {
    for (const c of [...this.conns]) {
      c.a.resetAndDestroy();
      c.b.resetAndDestroy();
      c.close();
    }
  }

  get openConnections(): number {
    return this.conns.size;
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((ok) => this.server.close(() => ok()));
  }
}

/** Applies one stdin command; returns what to print (an error for an unknown one). */
export function applyCommand(relay: DelayRelay, line: string): string {
  const [cmd, ...rest] = line.trim().split(" ");
  if (cmd === "cut") relay.cut();
  else if (cmd === "reset") relay.reset();
  else if (cmd === "delays") relay.setDelays(JSON.parse(rest.join(" ")) as DelayRule[]);
  else return `error unknown command ${JSON.stringify(line)}`;
  return `ok ${cmd}`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const opts = JSON.parse(process.argv[2] ?? "") as RelayOptions;
  const relay = await DelayRelay.start(opts);
  process.stdout.write(`ready ${relay.port}\n`);
  const rl = createInterface({ input: process.stdin });
  rl.on("line", (line) => process.stdout.write(`${applyCommand(relay, line)}\n`));
  // The harness ends stdin when it is done (or dies): the relay must not outlive it.
  rl.on("close", () => process.exit(0));
}
