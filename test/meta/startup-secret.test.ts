/**
 * Start-up and the cluster secret: the secrets anyone can read in this repository are refused as
 * soon as any address of the cluster is not loopback (one line on stderr, exit 2, for both process
 * kinds), and only warned about on loopback; `RAFTFS_SECRET` obeys the config's length rule.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import fc from "fast-check";
import { afterAll, afterEach, describe, expect, test } from "vitest";
import {
  ConfigError,
  isLoopbackHost,
  PUBLIC_SECRETS,
  parseConfig,
  publicSecretVerdict,
} from "../../src/common/config.js";
import { freePort, runCli } from "../support/cluster-harness.js";
import { CLUSTER_UP_TEST_TIMEOUT_MS, launchClusterUp, waitForEndpoints } from "../support/cluster-up.js";

const dir = mkdtempSync(join(tmpdir(), "raftfs-secret-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const loopback = fc.oneof(
  fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255)).map(([a, b, c]) => `127.${a}.${b}.${c}`),
  fc.constantFrom("localhost", "LOCALHOST", "::1", "[::1]", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1"),
);
const exposed = fc.oneof(
  fc.ipV4().filter((ip) => !ip.startsWith("127.")),
  fc.constantFrom("0.0.0.0", "::", "[::]", "example.com", "fs.internal", "::ffff:10.0.0.1", "fe80::1"),
);

function config(secret: string | undefined, hosts: { meta: string[]; data: string[] }) {
  return parseConfig({
    ...(secret === undefined ? {} : { secret }),
    meta: hosts.meta.map((host, i) => ({ id: i + 1, host, port: 7100 + i })),
    data: hosts.data.map((host, i) => ({ id: i + 1, host, port: 7200 + i })),
    replication: 1,
  });
}

describe("the public secrets", () => {
  test("the shipped cluster.config.json's secret is one of them", () => {
    const shipped = JSON.parse(readFileSync(resolve("cluster.config.json"), "utf8")) as { secret: string };
    expect(PUBLIC_SECRETS).toContain(shipped.secret);
    expect(PUBLIC_SECRETS).toContain(config(undefined, { meta: ["127.0.0.1"], data: [] }).secret);
  });

  test("loopback addresses are told apart from the others", () => {
    fc.assert(fc.property(loopback, (h) => isLoopbackHost(h)));
    fc.assert(fc.property(exposed, (h) => !isLoopbackHost(h)));
  });

  test("refused when any address (own listener or any node) is not loopback; warned on loopback", () => {
    const secret = fc.option(fc.constantFrom(...PUBLIC_SECRETS), { nil: undefined });
    fc.assert(
      fc.property(
        secret,
        fc.array(loopback, { minLength: 1, maxLength: 4 }),
        fc.array(loopback, { maxLength: 4 }),
        exposed,
        fc.nat(),
        (s, meta, data, bad, where) => {
          const own = meta[0]!;
          expect(publicSecretVerdict(config(s, { meta, data }), own)).toMatchObject({
            ok: true,
            warning: expect.stringContaining("default secret"),
          });
          // One exposed address anywhere: the own listener, a replica or a data node.
          const spot = where % 3;
          const hosts = {
            meta: spot === 1 ? [...meta, bad] : meta,
            data: spot === 2 ? [...data, bad] : data,
          };
          const v = publicSecretVerdict(config(s, hosts), spot === 0 ? bad : own);
          expect(v.ok).toBe(false);
          if (!v.ok) expect(v.problem).toContain(bad);
        },
      ),
    );
  });

  test("a secret of the user's own is fine anywhere, without a warning", () => {
    fc.assert(
      fc.property(fc.string({ minLength: 8 }), exposed, (s, host) => {
        fc.pre(!PUBLIC_SECRETS.includes(s));
        expect(publicSecretVerdict(config(s, { meta: [host], data: [] }), host)).toEqual({
          ok: true,
          warning: null,
        });
      }),
    );
  });
});

describe("RAFTFS_SECRET", () => {
  afterEach(() => {
    delete process.env.RAFTFS_SECRET;
  });

  test("is held to the config's length rule", () => {
    process.env.RAFTFS_SECRET = "short";
    expect(() => config("a-long-enough-secret", { meta: ["127.0.0.1"], data: [] })).toThrow(ConfigError);
    try {
      config("a-long-enough-secret", { meta: ["127.0.0.1"], data: [] });
    } catch (err) {
      expect((err as ConfigError).problems).toEqual(["RAFTFS_SECRET: must NOT have fewer than 8 characters"]);
    }
  });

  test("a long enough one replaces the file's secret", () => {
    process.env.RAFTFS_SECRET = "from-the-environment-0123";
    expect(config("a-long-enough-secret", { meta: ["127.0.0.1"], data: [] }).secret).toBe(
      "from-the-environment-0123",
    );
  });
});

describe("the processes", () => {
  async function writeConfig(name: string, host: string, secret?: string): Promise<string> {
    const path = join(dir, `${name}.json`);
    const port = await freePort();
    writeFileSync(
      path,
      JSON.stringify({
        dataDir: join(dir, name),
        ...(secret ? { secret } : {}),
        replication: 1,
        meta: [{ id: 1, host, port }],
        data: [{ id: 1, host, port: await freePort() }],
      }),
    );
    return path;
  }

  for (const kind of ["meta", "data"] as const) {
    test(`raftfs ${kind} refuses the default secret on a non-loopback address: one line, exit 2`, async () => {
      const path = await writeConfig(`exposed-${kind}`, "0.0.0.0");
      const r = await runCli([kind, "--id", "1", "--config", path], {
        env: { RAFTFS_LOG_LEVEL: "silent" },
        timeoutMs: 30_000,
      });
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/default secret is refused on the non-loopback address 0\.0\.0\.0/);
    });
  }

  test(
    "the shipped cluster.config.json starts under `cluster up` on loopback, each process warning once",
    async () => {
      const shipped = JSON.parse(readFileSync(resolve("cluster.config.json"), "utf8")) as {
        meta: { port: number }[];
        data: { port: number }[];
      };
      for (const n of [...shipped.meta, ...shipped.data]) n.port = await freePort();
      const path = join(dir, "shipped.json");
      writeFileSync(path, JSON.stringify({ ...shipped, dataDir: join(dir, "shipped") }));
      const up = launchClusterUp(path);
      try {
        await waitForEndpoints(up);
        const warned = up
          .err()
          .split("\n")
          .filter((l) => l.includes("shipped default secret"));
        const who = warned.map((l) => /^\[(\w+-\d)\]/.exec(l)?.[1]).sort();
        expect(who).toEqual(["data-1", "data-2", "data-3", "meta-1", "meta-2", "meta-3"]);
      } finally {
        up.child.kill("SIGINT");
        await up.exit;
      }
    },
    CLUSTER_UP_TEST_TIMEOUT_MS,
  );
});
