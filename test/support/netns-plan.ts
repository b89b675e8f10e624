/**
 * The pure half of the network-namespace lab (test/support/netns.ts does the `ip`/`nft` calls): the
 * address plan, the relays' delay rules and each namespace's nft ruleset, so they can be read and
 * tested without root.
 *
 * Layout. One bridge, in a namespace of its own; every host (one process each) in its own namespace
 * with a veth into the bridge. The private subnet is 10.77.0.0/16 and exists only inside those
 * namespaces (no default route anywhere), plus one address, 10.77.0.2, on a veth from the root
 * namespace into the bridge so that the test process can drive the client library itself. Zone i
 * (0-based) owns 10.77.<i+1>.0/24, so a zone is an address prefix for the relays and a CIDR for nft.
 *
 * Latency: every host's namespace redirects (nft, prerouting) TCP arriving on eth0 for its service
 * port to a delaying relay in the same namespace, which forwards to the service over lo. The relay
 * knows the caller's zone from the source address, so the one relay in front of each process gives
 * every zone pair its own delay (half the pair's RTT each way), and every delayed connection crosses
 * exactly one relay (a 0 ms link goes direct unless the lab relays all; `RelayMode`). Processes keep the real addresses in the config and bind them, as on separate machines.
 * Loss and partitions: nft drops in each namespace's input chain, by source zone.
 */
import type { DelayRule } from "./delay-relay.js";

export const SUBNET_PREFIX_BITS = 16;
/** The root namespace's address on the private subnet (the test process, in its own "zone"). */
export const HOST_ADDRESS = "10.77.0.2";
export const RELAY_PORT = 17_000;

export interface LabHost {
  /** Short name (letters and digits): part of the namespace's and veth's names. */
  name: string;
  zone: string;
  /** The port the host's process listens on: connections to it from outside go through the relay. */
  servicePort: number;
}

export interface ZoneLink {
  rttMs: number;
  jitterMs: number;
  /** Packets dropped at the receiver, per thousand. */
  lossPerMille: number;
}

export interface LabPlan {
  runId: string;
  zones: string[];
  hosts: (LabHost & { address: string; netns: string; bridgePort: string })[];
  bridgeNetns: string;
  /** The root namespace's end of its veth (≤ 15 characters, unique per run). */
  hostVeth: string;
}

export function zoneCidr(plan: { zones: string[] }, zone: string): string {
  const i = plan.zones.indexOf(zone);
  if (i < 0) throw new Error(`unknown zone ${zone}`);
  return `10.77.${i + 1}.0/24`;
}

function zonePrefix(plan: { zones: string[] }, zone: string): string {
  return `${zoneCidr(plan, zone).slice(0, -"0/24".length)}`;
}

export function planLab(runId: string, zones: string[], hosts: LabHost[]): LabPlan {
  if (!/^[a-z0-9]{1,8}$/.test(runId)) throw new Error(`run id must be 1-8 of [a-z0-9], not ${runId}`);
  const perZone = new Map<string, number>();
  return {
    runId,
    zones,
    bridgeNetns: `rfs-${runId}-br`,
    hostVeth: `rfs${runId}h`,
    hosts: hosts.map((h) => {
      if (!/^[a-z0-9]{1,10}$/.test(h.name)) throw new Error(`host name must be 1-10 of [a-z0-9]: ${h.name}`);
      const k = (perZone.get(h.zone) ?? 0) + 1;
      perZone.set(h.zone, k);
      return {
        ...h,
        address: `${zonePrefix({ zones }, h.zone)}${10 + k}`,
        netns: `rfs-${runId}-${h.name}`,
        bridgePort: `v-${h.name}`,
      };
    }),
  };
}

/** The zone an address belongs to (the root namespace's address counts as `clientZone`). */
export type LinkOf = (fromZone: string, toZone: string) => ZoneLink;

/** The delay rules of the relay in front of a host of zone `zone`: one per calling zone. */
export function relayRules(plan: LabPlan, zone: string, link: LinkOf, clientZone: string): DelayRule[] {
  const rule = (prefix: string, from: string): DelayRule => {
    const l = link(from, zone);
    return { prefix, delayMs: l.rttMs / 2, jitterMs: l.jitterMs / 2 };
  };
  return [rule(`${HOST_ADDRESS}`, clientZone), ...plan.zones.map((z) => rule(zonePrefix(plan, z), z))];
}

/**
 * Which connections go through the relays: `all` (every one, even on a 0 ms link: what the relay
 * itself costs), `delayed` (only a caller whose link to the host has a delay or jitter: a relay at
 * 0 ms emulates nothing and only takes CPU that separate machines would not share), `none` (the
 * direct path).
 */
export type RelayMode = "all" | "delayed" | "none";

/**
 * The nft ruleset of one host's namespace: the redirect to its relay, then drops by source zone —
 * `blocked` (from, to) zone pairs (a partition; one direction only for an asymmetric one) and each
 * pair's random loss. The root namespace's address is never blocked (the test must see the cluster),
 * only subject to its zone's loss.
 *
 * In `delayed` mode a caller whose link gained a delay may still hold a connection opened while it
 * had none (the redirect applies to a connection's first packet only): such a connection is reset,
 * and the caller's reconnect goes through the relay.
 */
export function renderNft(
  plan: LabPlan,
  host: LabPlan["hosts"][number],
  link: LinkOf,
  blocked: readonly (readonly [string, string])[],
  clientZone: string,
  relay: RelayMode = "delayed",
): string {
  const drops: string[] = [];
  for (const [from, to] of blocked) {
    if (to === host.zone) drops.push(`ip saddr ${zoneCidr(plan, from)} drop`);
  }
  const loss = (saddr: string, from: string) => {
    const n = link(from, host.zone).lossPerMille;
    if (n > 0) drops.push(`ip saddr ${saddr} numgen random mod 1000 < ${n} drop`);
  };
  loss(`${HOST_ADDRESS}/32`, clientZone);
  for (const z of plan.zones) loss(zoneCidr(plan, z), z);
  const callers: [string, string][] = [
    [`${HOST_ADDRESS}/32`, clientZone],
    ...plan.zones.map((z): [string, string] => [zoneCidr(plan, z), z]),
  ];
  const delayed = callers
    .filter(([, from]) => {
      const l = link(from, host.zone);
      return l.rttMs > 0 || l.jitterMs > 0;
    })
    .map(([saddr]) => saddr);
  const redirect = `tcp dport ${host.servicePort} redirect to :${RELAY_PORT}`;
  const pre: string[] = [];
  const resets: string[] = [];
  if (relay === "all") pre.push(`iifname "eth0" ${redirect}`);
  if (relay === "delayed" && delayed.length > 0) {
    const set = `{ ${delayed.join(", ")} }`;
    pre.push(`iifname "eth0" ip saddr ${set} ${redirect}`);
    // Redirected packets reach the input chain for the relay's port: one for the service's own port
    // from these callers belongs to a connection opened before their link had a delay.
    resets.push(`iifname "eth0" ip saddr ${set} tcp dport ${host.servicePort} reject with tcp reset`);
  }
  return [
    "flush ruleset",
    "table ip rfs {",
    "  chain pre {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    ...pre.map((r) => `    ${r}`),
    "  }",
    "  chain input {",
    "    type filter hook input priority filter; policy accept;",
    '    iifname "lo" accept',
    ...drops.map((d) => `    ${d}`),
    ...resets.map((r) => `    ${r}`),
    "  }",
    "}",
    "",
  ].join("\n");
}
