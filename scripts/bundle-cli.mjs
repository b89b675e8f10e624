/**
 * Bundles the CLI's file commands (dist/src/cli/entry.js and what it imports, npm packages included)
 * into dist/src/cli/entry.bundle.mjs plus lazily loaded chunks beside it, after `tsc` built dist/.
 * Why: Node 20 has no compile cache, and loading the client as ~750 small modules (typebox alone is
 * ~680) took most of `raftfs stat`'s start; one file per lazy import parses in a fraction of that.
 * File commands load no server code: `./processes.js` and `./launcher.js` stay imports of the files
 * beside the bundle. The metafile beside it says which sources each output holds
 * (test/cli/startup.test.ts reads it).
 *
 * A second bundle, dist/src/cli/server.bundle.mjs, is the same entry with the servers in it, for
 * `raftfs meta` and `raftfs data` (issue 15: a restarted replica's start was mostly module loading,
 * ~1,100 modules, 0.8–2.5 s of a 1.2–3 s start under load; the bundle parses in about a third of that).
 * A process loads one of the two bundles or the plain build, never two of them, so each module has
 * one copy in it (`instanceof` across modules holds). Packages with native parts stay outside
 * (`classic-level`, `msgpackr`: they find their compiled addons relative to their own folders), as do
 * `./launcher.js` (`cluster up` runs the plain build) and the mount (a worker thread by file path).
 *
 *   node scripts/bundle-cli.mjs      (run by `npm run build`)
 */
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

// Chunk names carry a hash: drop the last build's, or they pile up in dist/.
for (const f of readdirSync("dist/src/cli")) {
  if (f.startsWith("entry.bundle") || f.startsWith("server.bundle")) rmSync(`dist/src/cli/${f}`);
}

/** One bundle of dist/src/cli/entry.js named `name`, leaving `external` as imports. */
function bundle(name, external) {
  return build({
    entryPoints: { [name]: "dist/src/cli/entry.js" },
    outdir: "dist/src/cli",
    bundle: true,
    splitting: true,
    format: "esm",
    platform: "node",
    target: "node20",
    outExtension: { ".js": ".mjs" },
    chunkNames: `${name}-[hash]`,
    external,
    // Bundled CommonJS packages (undici, commander, fastify) call require() for node: built-ins.
    banner: {
      js: "import { createRequire as __raftfsRequire } from 'node:module'; const require = __raftfsRequire(import.meta.url);",
    },
    minify: true,
    keepNames: true,
    legalComments: "none",
    metafile: true,
    logLevel: "warning",
  });
}

const result = await bundle("entry.bundle", ["./processes.js", "./launcher.js"]);
writeFileSync("dist/src/cli/entry.bundle.meta.json", JSON.stringify(result.metafile));
const server = await bundle("server.bundle", [
  "./launcher.js",
  "../mount/index.js",
  "classic-level",
  "msgpackr",
  "msgpackr-extract",
]);
writeFileSync("dist/src/cli/server.bundle.meta.json", JSON.stringify(server.metafile));
