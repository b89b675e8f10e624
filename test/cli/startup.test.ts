/**
 * What the built `raftfs` loads at start. Start-up time is measured in bench/cli-start.ts; this test
 * guards its cause without timing anything: a module-load hook (run in the spawned CLI through
 * `node --import`) appends every module URL to a file before the module is loaded, and the test
 * reads the list. `--help` must load the command definitions and commander only; a file command
 * must load the client library but no server code (fastify, LevelDB, the Raft and metadata and
 * data-node folders), which only `raftfs meta|data|cluster` need.
 *
 * When the build bundled the file commands (scripts/bundle-cli.mjs), a loaded bundle file stands
 * for the sources its metafile says it holds, so the same lists apply to both builds. A replica and
 * a data node run from the server bundle: their start loads it and the packages with native parts,
 * not the ~1,100 modules of the plain build (issue 15: a restarted replica's start).
 *
 * Needs `npm run build` (it runs dist/).
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, describe, expect, test } from "vitest";
import { CLI, freePort } from "../support/cluster-harness.js";

// Runs in the loader-hooks thread; a synchronous append lands before the module itself runs.
const HOOKS = `
import { appendFileSync } from "node:fs";
export async function load(url, context, next) {
  appendFileSync(process.env.RAFTFS_TEST_LOAD_LOG, url + "\\n");
  return next(url, context);
}`;
const REGISTER = `import { register } from "node:module";
register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(HOOKS)}`)});`;

const dir = mkdtempSync(join(tmpdir(), "raftfs-startup-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Bundle output URL → the URLs of the sources in it (none when the build made no bundle). */
function bundleSources(): Map<string, string[]> {
  const metaPath = join(dirname(CLI), "entry.bundle.meta.json");
  const map = new Map<string, string[]>();
  if (!existsSync(metaPath)) return map;
  const meta = JSON.parse(readFileSync(metaPath, "utf8")) as {
    outputs: Record<string, { inputs: Record<string, unknown> }>;
  };
  for (const [out, { inputs }] of Object.entries(meta.outputs)) {
    map.set(
      pathToFileURL(resolve(out)).href,
      Object.keys(inputs).map((i) => pathToFileURL(resolve(i)).href),
    );
  }
  return map;
}
const BUNDLED = bundleSources();

/** Runs the built CLI; returns its exit code and the URLs of the modules it loaded. */
function loadedBy(args: string[]): { code: number | null; stderr: string; modules: string[] } {
  const log = join(dir, `load-${Math.random().toString(36).slice(2)}.log`);
  writeFileSync(log, "");
  const r = spawnSync(
    process.execPath,
    ["--import", `data:text/javascript,${encodeURIComponent(REGISTER)}`, CLI, ...args],
    { env: { ...process.env, RAFTFS_TEST_LOAD_LOG: log }, encoding: "utf8", timeout: 60_000 },
  );
  const modules = readFileSync(log, "utf8")
    .split("\n")
    .filter(Boolean)
    .flatMap((url) => [url, ...(BUNDLED.get(url) ?? [])]);
  return { code: r.status, stderr: r.stderr, modules };
}

/** Server code: fastify, LevelDB, prom-client, and the server folders of dist/. */
const SERVER = [
  /\/node_modules\/fastify\//,
  /\/node_modules\/classic-level\//,
  /\/node_modules\/@fastify\//,
  /\/node_modules\/prom-client\//,
  /\/dist\/src\/(meta|data|raft)\//,
];

function matching(modules: string[], patterns: RegExp[]): string[] {
  return modules.filter((m) => patterns.some((p) => p.test(m)));
}

/** A config of one replica (at `port`) and one data node (the port after it), written to `name`. */
function oneReplicaConfig(name: string, port: number): string {
  const config = join(dir, name);
  writeFileSync(
    config,
    JSON.stringify({
      clusterName: "startup-test",
      dataDir: join(dir, "data"),
      secret: "startup-test-secret-0123456789",
      replication: 1,
      meta: [{ id: 1, host: "127.0.0.1", port }],
      data: [{ id: 1, host: "127.0.0.1", port: port + 1, zone: "a" }],
    }),
  );
  return config;
}

describe("raftfs meta runs from the server bundle", () => {
  test("a replica's start loads the bundle, none of dist/'s modules one by one, and few modules in all", () => {
    const config = oneReplicaConfig("server-bundle.config.json", 9);
    // No replica 2 in the config: the server's code is loaded, then its start fails on the config.
    const r = loadedBy(["--config", config, "meta", "--id", "2"]);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toContain("no replica with id 2");
    expect(r.modules.some((m) => /\/dist\/src\/cli\/server\.bundle\.mjs$/.test(m))).toBe(true);
    // main.js and commands.js pick the bundle; every other module of dist/ comes inside it.
    expect(matching(r.modules, [/\/dist\/src\/(?!cli\/(main|commands)\.js$).*\.js$/])).toEqual([]);
    // The plain build loaded ~1,100 (typebox alone ~680); what is left is native packages' loaders.
    expect(r.modules.filter((m) => !m.startsWith("node:")).length).toBeLessThan(150);
  });
});

describe("raftfs start-up loads only what the command needs", () => {
  test("--help loads commander and the command definitions, nothing of the client or servers", () => {
    const r = loadedBy(["--help"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.modules.some((m) => m.endsWith("/dist/src/cli/program.js"))).toBe(true); // the hook works
    expect(matching(r.modules, SERVER)).toEqual([]);
    // The client library, its HTTP stack and the schema library are what made --help slow.
    expect(
      matching(r.modules, [/\/dist\/src\/client\//, /\/node_modules\/(undici|typebox|cli-progress)\//]),
    ).toEqual([]);
    expect(matching(r.modules, [/\/dist\/src\/cli\/(files|launcher|lock-command|processes)\.js$/])).toEqual(
      [],
    );
  });

  test("a usage error loads no more than --help", () => {
    const r = loadedBy(["stat"]);
    expect(r.code).toBe(2);
    expect(matching(r.modules, [...SERVER, /\/dist\/src\/client\//, /\/node_modules\/typebox\//])).toEqual(
      [],
    );
  });

  test("stat loads the client library and no server code", async () => {
    const port = await freePort(); // nothing listens there: stat fails fast, after loading what it needs
    const config = oneReplicaConfig("cluster.config.json", port);
    const r = loadedBy(["--config", config, "--deadline", "300", "stat", "/x"]);
    expect(r.code, r.stderr).toBe(5); // UNAVAILABLE: no replica answered
    expect(r.modules.some((m) => m.includes("/dist/src/client/"))).toBe(true);
    expect(matching(r.modules, SERVER)).toEqual([]);
    expect(matching(r.modules, [/\/dist\/src\/cli\/(launcher|lock-command|processes)\.js$/])).toEqual([]);
  });
});
