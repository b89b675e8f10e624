/**
 * TLS on every listener: a 3-replica, 3-data-node cluster serving a self-signed cert. Raft peers,
 * data-node ↔ leader and data-node ↔ data-node traffic all ride https (the cluster only becomes ready
 * if they work); the client library puts and gets an inline and a chunked file; plain http to a TLS
 * port fails, and a client that does not trust the cert is refused with a certificate error.
 */
import { randomBytes } from "node:crypto";
import { Agent, request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect } from "../../src/index.js";
import { selfSignedCert } from "../support/certs.js";
import { runCli, TestCluster } from "../support/cluster-harness.js";

let c: TestCluster;
/** The cluster's self-signed cert. */
let ca: string;

beforeAll(async () => {
  // 40 ms ticks: TLS handshakes on a loaded machine must not look like a dead leader.
  c = await TestCluster.start({ tls: true, overrides: { raft: { tickIntervalMs: 40 } } });
  ca = c.certPath ?? "";
}, 90_000);
afterAll(async () => {
  await c?.stop();
});

describe("a cluster with TLS on every listener", () => {
  test("the client library round-trips an inline and a chunked file over https", async () => {
    const fs = await connect({ config: c.configPath });
    try {
      const small = Buffer.from("hello over tls");
      const big = randomBytes(3 * 64 * 1024 + 123); // four chunks, three replicas each (pipeline)
      await fs.writeFile("/tls/small.txt", small, { createParents: true });
      await fs.writeFile("/tls/big.bin", big);
      expect((await fs.readFile("/tls/small.txt")).equals(small)).toBe(true);
      expect((await fs.readFile("/tls/big.bin")).equals(big)).toBe(true);
      const s = await fs.status();
      expect(s.meta.every((m) => m.url.startsWith("https://"))).toBe(true);
      expect(s.data.every((d) => d.url.startsWith("https://") && d.alive)).toBe(true);
    } finally {
      await fs.close();
    }
  });

  test("the CLI trusts the config's cert, or --ca", async () => {
    const put = await runCli(["put", "-", "/tls/cli.txt", "--config", c.configPath], { input: "via cli" });
    expect(put.code, put.stderr).toBe(0);
    const cat = await runCli(["cat", "/tls/cli.txt", "--config", c.configPath, "--ca", ca]);
    expect(cat.code).toBe(0);
    expect(cat.stdout).toBe("via cli");
    // A CA that did not sign the cluster's cert: refused, exit 5 (unavailable), the reason named.
    const stranger = selfSignedCert(c.dir, "cli-stranger");
    const refused = await runCli(["cat", "/tls/cli.txt", "--config", c.configPath, "--deadline", "1500"], {
      env: { RAFTFS_CA: stranger.certPath },
    });
    expect(refused.code).toBe(5);
    expect(refused.stderr).toMatch(/TLS handshake .* failed/);
  });

  test("plain http to a TLS port gets no answer", async () => {
    for (const url of [c.url("meta", 1), c.url("data", 1)]) {
      const plain = url.replace("https://", "http://");
      const err = await request(`${plain}/status`, { headersTimeout: 2000, bodyTimeout: 2000 }).then(
        async (res) => {
          await res.body.dump();
          return null;
        },
        (e: unknown) => e as { code?: string },
      );
      expect(err, `${plain} answered plain http`).not.toBeNull();
    }
  });

  test("a client that does not trust the cert is refused with a certificate error", async () => {
    // Node's own CAs: the self-signed cert is not among them.
    const untrusting = new Agent({ connectTimeout: 2000 });
    try {
      for (const url of [c.url("meta", 1), c.url("data", 2)]) {
        const err = (await request(`${url}/status`, { dispatcher: untrusting }).then(
          () => null,
          (e: unknown) => e,
        )) as { code?: string } | null;
        expect(String(err?.code)).toMatch(/SELF_SIGNED|UNABLE_TO_VERIFY|CERT/);
      }
    } finally {
      await untrusting.close();
    }
    // The library with another cert as its CA: the handshake fails, reported as UNAVAILABLE.
    const other = selfSignedCert(c.dir, "stranger");
    const fs = await connect({
      endpoints: [c.url("meta", 1)],
      caPath: other.certPath,
      deadlineMs: 1500,
      backoff: { baseMs: 50, maxMs: 200 },
    });
    try {
      const err = (await fs.stat("/tls/small.txt").then(
        () => null,
        (e: unknown) => e,
      )) as { code?: string; message?: string; cause?: { code?: string } } | null;
      expect(err).not.toBeNull();
      expect(JSON.stringify({ m: err?.message, c: err?.cause?.code })).toMatch(/cert|CERT|signature/i);
    } finally {
      await fs.close();
    }
  });

  test("the cluster's own traffic is https: replicas and data nodes report https peers", async () => {
    const s = await c.ready();
    expect(s.meta.filter((m) => m.alive)).toHaveLength(3);
    expect(s.meta.every((m) => m.url.startsWith("https://"))).toBe(true);
    // Replicas answer each other over https (the leader fetched every /status for this view).
    expect(s.meta.every((m) => m.role !== null)).toBe(true);
  });
});
