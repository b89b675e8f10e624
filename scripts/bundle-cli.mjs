/**
 * Bundles the CLI's file commands (dist/src/cli/entry.js and what it imports, npm packages included)
 * into dist/src/cli/entry.bundle.mjs plus lazily loaded chunks beside it, after `tsc` built dist/.
 * Why: Node 20 has no compile cache, and loading the client as ~750 small modules (typebox alone is
 * ~680) took most of `raftfs stat`'s start; one file per lazy import parses in a fraction of that.
 * Server commands are not bundled: main.ts runs them from the plain build (`./processes.js` and
 * `./launcher.js` stay imports of the files beside the bundle). The metafile beside it says which
 * sources each output holds (test/cli/startup.test.ts reads it).
 *
 *   node scripts/bundle-cli.mjs      (run by `npm run build`)
 */
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

// Chunk names carry a hash: drop the last build's, or they pile up in dist/.
for (const f of readdirSync("dist/src/cli")) if (f.startsWith("entry.bundle")) rmSync(`dist/src/cli/${f}`);

const result = await build({
  entryPoints: { "entry.bundle": "dist/src/cli/entry.js" },
  outdir: "dist/src/cli",
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node20",
  outExtension: { ".js": ".mjs" },
  chunkNames: "entry.bundle-[hash]",
  external: ["./processes.js", "./launcher.js"],
  // Bundled CommonJS packages (undici, commander) call require() for node: built-ins.
  banner: {
    js: "import { createRequire as __raftfsRequire } from 'node:module'; const require = __raftfsRequire(import.meta.url);",
  },
  minify: true,
  keepNames: true,
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
});
writeFileSync("dist/src/cli/entry.bundle.meta.json", JSON.stringify(result.metafile));
