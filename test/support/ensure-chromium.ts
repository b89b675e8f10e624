/**
 * Makes sure the browser the dashboard test drives is there, so that the README's `npm test` passes on
 * a fresh machine: when Debian's chromium is missing, installs it with apt-get if this process may
 * (root, apt present), and otherwise stops with one line saying how. The one place that does this:
 * `npm test` runs it first, and CI relies on it.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";

/** Where the dashboard test looks for the browser (RAFTFS_CHROMIUM overrides, as in that test). */
export const CHROMIUM_PATH = "/usr/bin/chromium";

export interface EnsureChromiumDeps {
  exists(path: string): boolean;
  isRoot(): boolean;
  /** Runs a command with its arguments; returns its exit status. */
  run(cmd: string, args: string[], env: Record<string, string>): number;
  log(line: string): void;
}

export type EnsureChromiumResult = { ok: true; installed: boolean } | { ok: false; message: string };

export function ensureChromium(path: string, deps: EnsureChromiumDeps): EnsureChromiumResult {
  if (deps.exists(path)) return { ok: true, installed: false };
  const how = `${path} is missing: the dashboard test needs Debian's chromium; run \`sudo apt-get install chromium\``;
  if (!deps.isRoot() || deps.run("apt-get", ["--version"], {}) !== 0) return { ok: false, message: how };
  deps.log(`${path} is missing: installing Debian's chromium with apt-get`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  if (deps.run("apt-get", ["update", "-qq"], env) !== 0)
    return { ok: false, message: `apt-get update failed; ${how}` };
  const install = ["install", "-y", "-qq", "--no-install-recommends", "chromium"];
  if (deps.run("apt-get", install, env) !== 0)
    return { ok: false, message: `apt-get install failed; ${how}` };
  // The package puts the browser at /usr/bin/chromium; a different RAFTFS_CHROMIUM must exist by itself.
  if (!deps.exists(path)) return { ok: false, message: `chromium installed, but ${path} is still missing` };
  return { ok: true, installed: true };
}

export const realDeps: EnsureChromiumDeps = {
  exists: existsSync,
  isRoot: () => process.getuid?.() === 0,
  run: (cmd, args, env) => {
    const r = spawnSync(cmd, args, {
      stdio: ["ignore", "ignore", "inherit"],
      env: { ...process.env, ...env },
    });
    return r.error ? 127 : (r.status ?? 1);
  },
  log: (line) => process.stderr.write(`${line}\n`),
};

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const result = ensureChromium(process.env.RAFTFS_CHROMIUM ?? CHROMIUM_PATH, realDeps);
  if (!result.ok) {
    process.stderr.write(`${result.message}\n`);
    process.exit(1);
  }
}
