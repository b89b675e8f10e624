/**
 * A lab of network namespaces on one machine (run as root), laid out as test/support/netns-plan.ts
 * describes: one bridge in its own namespace, a namespace per host with a veth into it, a delaying
 * relay in front of each host's service, nft rules for loss and partitions, and processes started
 * inside a host with `ip netns exec`. Cleanup always: `destroy()` (call it in a finally), the
 * process's exit and signal handlers, and `sweepStale()` at start removes what a crashed run left.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { createInterface } from "node:readline";
import {
  HOST_ADDRESS,
  type LabPlan,
  type LinkOf,
  RELAY_PORT,
  type RelayMode,
  relayRules,
  renderNft,
  SUBNET_PREFIX_BITS,
} from "./netns-plan.js";

const RELAY_SCRIPT = resolve("test/support/delay-relay.ts");

export interface LabOptions {
  /** Another build of the relay program (bench/netns-relay.ts compares one against this one). */
  relayScript?: string;
  /** Which connections go through the relays (default `delayed`: those on a link with a delay). */
  relay?: RelayMode;
}

function ip(args: string[], input?: string): string {
  const r = spawnSync("ip", args, { encoding: "utf8", input });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`ip ${args.join(" ")} failed: ${r.stderr.trim()}`);
  return r.stdout;
}

function nft(netns: string, ruleset: string): void {
  const r = spawnSync("ip", ["netns", "exec", netns, "nft", "-f", "-"], { encoding: "utf8", input: ruleset });
  if (r.status !== 0) throw new Error(`nft in ${netns} failed: ${r.stderr.trim()}\n${ruleset}`);
}

/** Why namespaces cannot be made here, or null when they can (root, `ip` and `nft` present). */
export function whyNoNamespaces(): string | null {
  if (process.getuid?.() !== 0) return "not root";
  for (const tool of ["ip", "nft"]) {
    const r = spawnSync(tool, ["-V"], { encoding: "utf8" });
    if (r.error) return `no \`${tool}\` (${String(r.error)})`;
  }
  const probe = `rfs-${process.pid}-probe`;
  const add = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (add.status !== 0) return `\`ip netns add\` refused: ${add.stderr.trim()}`;
  spawnSync("ip", ["netns", "del", probe]);
  return null;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes the namespaces (and the processes still in them) and root-namespace veths of earlier runs
 * whose test process is gone. The run id is the test's pid, so a run still going is left alone.
 */
export function sweepStale(log: (line: string) => void = () => undefined): void {
  const names = ip(["netns", "list"])
    .split("\n")
    .map((l) => l.split(" ")[0] ?? "")
    .filter((n) => /^rfs-\d+-/.test(n));
  for (const ns of names) {
    const owner = Number(ns.split("-")[1]);
    if (pidAlive(owner)) continue;
    for (const pid of ip(["netns", "pids", ns]).split("\n").filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGKILL");
      } catch {
        // Gone already: the namespace goes next either way.
      }
    }
    spawnSync("ip", ["netns", "del", ns]);
    log(`swept stale namespace ${ns}`);
  }
  for (const line of ip(["-o", "link", "show"]).split("\n")) {
    const m = /^\d+: (rfs(\d+)h)[@:]/.exec(line);
    if (m?.[1] && !pidAlive(Number(m[2]))) {
      spawnSync("ip", ["link", "del", m[1]]);
      log(`swept stale link ${m[1]}`);
    }
  }
}

type Host = LabPlan["hosts"][number];

export class NetnsLab {
  private readonly children = new Set<ChildProcess>();
  private readonly relays = new Map<string, ChildProcess>();
  private blocked: (readonly [string, string])[] = [];
  private destroyed = false;
  private readonly onExit = () => this.destroySync();
  private readonly onSignal = (sig: NodeJS.Signals) => {
    this.destroySync();
    process.exit(sig === "SIGINT" ? 130 : 143);
  };

  private constructor(
    readonly plan: LabPlan,
    private link: LinkOf,
    /** The zone whose links the test process (root namespace) has. */
    readonly clientZone: string,
    private readonly relayScript: string,
    private relayMode: RelayMode,
  ) {}

  /** Builds the namespaces, bridge, veths, addresses, nft rules and relays. */
  static async create(
    plan: LabPlan,
    link: LinkOf,
    clientZone: string,
    opts: LabOptions = {},
  ): Promise<NetnsLab> {
    const lab = new NetnsLab(
      plan,
      link,
      clientZone,
      opts.relayScript ?? RELAY_SCRIPT,
      opts.relay ?? "delayed",
    );
    process.once("exit", lab.onExit);
    process.once("SIGINT", lab.onSignal);
    process.once("SIGTERM", lab.onSignal);
    try {
      lab.build();
      await lab.startRelays();
    } catch (err) {
      lab.destroySync();
      throw err;
    }
    return lab;
  }

  host(name: string): Host {
    const h = this.plan.hosts.find((x) => x.name === name);
    if (!h) throw new Error(`no host ${name}`);
    return h;
  }

  private build(): void {
    const br = this.plan.bridgeNetns;
    ip(["netns", "add", br]);
    ip(["-n", br, "link", "set", "lo", "up"]);
    ip(["-n", br, "link", "add", "br0", "type", "bridge"]);
    ip(["-n", br, "link", "set", "br0", "up"]);
    for (const h of this.plan.hosts) {
      ip(["netns", "add", h.netns]);
      ip(["-n", br, "link", "add", h.bridgePort, "type", "veth", "peer", "name", "eth0", "netns", h.netns]);
      ip(["-n", br, "link", "set", h.bridgePort, "master", "br0", "up"]);
      ip(["-n", h.netns, "addr", "add", `${h.address}/${SUBNET_PREFIX_BITS}`, "dev", "eth0"]);
      ip(["-n", h.netns, "link", "set", "eth0", "up"]);
      ip(["-n", h.netns, "link", "set", "lo", "up"]);
      this.applyNft(h);
    }
    // The root namespace's one way in: an address on the private subnet only (no route elsewhere).
    ip(["link", "add", this.plan.hostVeth, "type", "veth", "peer", "name", "v-root", "netns", br]);
    ip(["-n", br, "link", "set", "v-root", "master", "br0", "up"]);
    ip(["addr", "add", `${HOST_ADDRESS}/${SUBNET_PREFIX_BITS}`, "dev", this.plan.hostVeth]);
    ip(["link", "set", this.plan.hostVeth, "up"]);
  }

  private applyNft(h: Host): void {
    nft(h.netns, renderNft(this.plan, h, this.link, this.blocked, this.clientZone, this.relayMode));
  }

  private async startRelays(): Promise<void> {
    await Promise.all(
      this.plan.hosts.map(async (h) => {
        const opts = {
          listenHost: h.address,
          listenPort: RELAY_PORT,
          targetHost: h.address,
          targetPort: h.servicePort,
          delays: relayRules(this.plan, h.zone, this.link, this.clientZone),
        };
        const child = this.spawnIn(
          h.name,
          process.execPath,
          ["--import", "tsx", this.relayScript, JSON.stringify(opts)],
          {
            stdin: true,
          },
        );
        this.relays.set(h.name, child);
        const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
        await new Promise<void>((ok, fail) => {
          const t = setTimeout(() => fail(new Error(`relay in ${h.netns} did not start`)), 30_000);
          lines.once("line", (l) => {
            clearTimeout(t);
            if (l.startsWith("ready")) ok();
            else fail(new Error(`relay in ${h.netns}: ${l}`));
          });
          child.once("exit", (code) => fail(new Error(`relay in ${h.netns} exited ${code}`)));
        });
      }),
    );
  }

  /** Starts a process inside a host's namespace; it is killed by `destroy()` at the latest. */
  spawnIn(
    name: string,
    cmd: string,
    args: string[],
    opts: { env?: Record<string, string>; stdin?: boolean } = {},
  ): ChildProcess {
    const child = spawn("ip", ["netns", "exec", this.host(name).netns, cmd, ...args], {
      stdio: [opts.stdin ? "pipe" : "ignore", "pipe", "pipe"],
      env: { ...process.env, ...opts.env },
    });
    this.children.add(child);
    child.once("exit", () => this.children.delete(child));
    return child;
  }

  /** Sends a command line (`cut`, `reset`, `delays …`) to the relay in front of a host. */
  relay(name: string, command: string): void {
    this.relays.get(name)?.stdin?.write(`${command}\n`);
  }

  /** Drops every packet from `from` zone to `to` zone (pairs listed both ways for a full cut). */
  setBlocked(pairs: (readonly [string, string])[]): void {
    this.blocked = pairs;
    for (const h of this.plan.hosts) this.applyNft(h);
  }

  /** Changes latency and loss: new nft rules now, new relay delays for every chunk from now on. */
  setLinks(link: LinkOf): void {
    this.link = link;
    for (const h of this.plan.hosts) {
      this.applyNft(h);
      this.relay(h.name, `delays ${JSON.stringify(relayRules(this.plan, h.zone, link, this.clientZone))}`);
    }
  }

  /**
   * From now on, connections go straight to the services, with no relay and so no delay: the direct
   * path that the relays' own cost is measured against. One way only: a connection opened without
   * the redirect keeps its path, so there is no going back in the same lab. The relays reset the
   * connections they hold, and the processes reconnect directly.
   */
  goDirect(): void {
    this.relayMode = "none";
    for (const h of this.plan.hosts) {
      this.applyNft(h);
      this.relay(h.name, "reset");
    }
  }

  /** Takes a host's veth down (its cable pulled) or up again, on the bridge's side. */
  setLink(name: string, up: boolean): void {
    ip(["-n", this.plan.bridgeNetns, "link", "set", this.host(name).bridgePort, up ? "up" : "down"]);
  }

  async destroy(): Promise<void> {
    const exits = [...this.children].map((c) => new Promise((ok) => c.once("exit", ok)));
    this.destroySync();
    await Promise.race([Promise.all(exits), new Promise((ok) => setTimeout(ok, 5000))]);
  }

  /** Kills every process this lab started, then deletes its namespaces (the veths go with them). */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    process.off("exit", this.onExit);
    process.off("SIGINT", this.onSignal);
    process.off("SIGTERM", this.onSignal);
    for (const c of this.children) {
      if (c.exitCode === null && c.signalCode === null) {
        c.kill("SIGCONT");
        c.kill("SIGKILL");
      }
    }
    for (const ns of [...this.plan.hosts.map((h) => h.netns), this.plan.bridgeNetns]) {
      // A process that escaped our list would keep its namespace alive: kill what is left inside.
      const pids = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" }).stdout ?? "";
      for (const pid of pids.split("\n").filter(Boolean)) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // Already gone.
        }
      }
      spawnSync("ip", ["netns", "del", ns]);
    }
    spawnSync("ip", ["link", "del", this.plan.hostVeth]);
  }
}
