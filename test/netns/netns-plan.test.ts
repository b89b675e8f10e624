/**
 * The lab's address plan and nft rules, without root: zones are address prefixes, a partition drops
 * by source zone at the receiver only (one direction for an asymmetric cut), the test's own address
 * is never cut off, and loss is per zone pair.
 */
import { describe, expect, test } from "vitest";
import { HOST_ADDRESS, type LinkOf, planLab, relayRules, renderNft } from "../support/netns-plan.js";

const plan = planLab(
  "123",
  ["a", "b", "c"],
  [
    { name: "m1", zone: "a", servicePort: 7100 },
    { name: "m2", zone: "b", servicePort: 7100 },
    { name: "d1", zone: "a", servicePort: 7200 },
  ],
);
const link: LinkOf = (x, y) =>
  x === y ? { rttMs: 1, jitterMs: 0, lossPerMille: 0 } : { rttMs: 10, jitterMs: 2, lossPerMille: 5 };

describe("netns plan", () => {
  test("each zone is its own /24; hosts are numbered inside their zone", () => {
    expect(plan.hosts.map((h) => h.address)).toEqual(["10.77.1.11", "10.77.2.11", "10.77.1.12"]);
    expect(plan.hosts[0]?.netns).toBe("rfs-123-m1");
    expect(plan.hostVeth.length).toBeLessThanOrEqual(15);
  });

  test("the relay in front of a host delays each direction by half its caller's zone RTT", () => {
    const rules = relayRules(plan, "a", link, "a");
    expect(rules[0]).toEqual({ prefix: HOST_ADDRESS, delayMs: 0.5, jitterMs: 0 });
    expect(rules.find((r) => r.prefix === "10.77.2.")).toEqual({
      prefix: "10.77.2.",
      delayMs: 5,
      jitterMs: 1,
    });
  });

  test("a one-way cut b→a drops at a's hosts only; the test's address is only ever subject to loss", () => {
    const [m1, m2] = plan.hosts;
    const atA = renderNft(plan, m1!, link, [["b", "a"]], "a");
    const atB = renderNft(plan, m2!, link, [["b", "a"]], "a");
    expect(atA).toContain("ip saddr 10.77.2.0/24 drop");
    expect(atB).not.toMatch(/ip saddr 10\.77\.1\.0\/24 drop/);
    expect(atA).toContain("tcp dport 7100 redirect to :17000");
    expect(atB).toContain(`ip saddr ${HOST_ADDRESS}/32 numgen random mod 1000 < 5 drop`);
    expect(atA).not.toMatch(new RegExp(`${HOST_ADDRESS}/32 drop`));
  });

  test("the direct path leaves out the relay's redirect but keeps the partitions and the loss", () => {
    const [m1] = plan.hosts;
    const direct = renderNft(plan, m1!, link, [["b", "a"]], "a", "none");
    expect(direct).not.toContain("redirect");
    expect(direct).toContain("ip saddr 10.77.2.0/24 drop");
    expect(direct).toContain("ip saddr 10.77.2.0/24 numgen random mod 1000 < 5 drop");
  });

  test("only callers on a delayed link go through the relay; a direct connection from one is reset", () => {
    const [m1] = plan.hosts;
    // Zone a to itself and the test's address: 0 ms; zone b: 10 ms; zone c: jitter only.
    const mixed: LinkOf = (x, y) =>
      x === y || x === "client" || y === "client"
        ? { rttMs: 0, jitterMs: 0, lossPerMille: 0 }
        : x === "c" || y === "c"
          ? { rttMs: 0, jitterMs: 1, lossPerMille: 0 }
          : { rttMs: 10, jitterMs: 0, lossPerMille: 0 };
    const rules = renderNft(plan, m1!, mixed, [], "client");
    expect(rules).toContain(
      'iifname "eth0" ip saddr { 10.77.2.0/24, 10.77.3.0/24 } tcp dport 7100 redirect to :17000',
    );
    expect(rules).toContain(
      'iifname "eth0" ip saddr { 10.77.2.0/24, 10.77.3.0/24 } tcp dport 7100 reject with tcp reset',
    );
    expect(rules).not.toMatch(/10\.77\.1\.0\/24[^\n]*redirect/);
    expect(rules).not.toMatch(new RegExp(`${HOST_ADDRESS}[^\\n]*redirect`));
    // Every caller relayed, whatever its delay, when the lab relays all.
    expect(renderNft(plan, m1!, mixed, [], "client", "all")).toContain(
      'iifname "eth0" tcp dport 7100 redirect to :17000',
    );
    // No 0 ms link at all: everything is redirected, nothing left direct.
    expect(renderNft(plan, m1!, () => ({ rttMs: 5, jitterMs: 0, lossPerMille: 0 }), [], "a")).toContain(
      `ip saddr { ${HOST_ADDRESS}/32, 10.77.1.0/24, 10.77.2.0/24, 10.77.3.0/24 } tcp dport 7100 redirect`,
    );
  });
});
