/**
 * Makes sure the Debian packages that tests drive are there, so that the README's `npm test` passes on
 * a fresh machine: chromium for the dashboard test, libfuse2 and fuse (fusermount) for the tests that
 * mount a FUSE file system. Whatever is missing is installed with one apt-get call if this process may
 * (root, apt present); otherwise it stops with one line saying how. The one place that does this:
 * `npm test` runs it first, and CI relies on it.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { pathToFileURL } from "node:url";

/** Where the dashboard test looks for the browser (RAFTFS_CHROMIUM overrides, as in that test). */
export const CHROMIUM_PATH = "/usr/bin/chromium";

export interface SystemPackage {
  /** Debian package name. */
  name: string;
  /** A file the package installs; present means installed. */
  path: string;
  /** Who needs it, for the message. */
  neededBy: string;
}

export function requiredPackages(chromiumPath: string): SystemPackage[] {
  return [
    { name: "chromium", path: chromiumPath, neededBy: "the dashboard test" },
    { name: "libfuse2", path: "/lib/x86_64-linux-gnu/libfuse.so.2", neededBy: "the FUSE tests" },
    { name: "fuse", path: "/bin/fusermount", neededBy: "the FUSE tests" },
  ];
}

export interface EnsureDeps {
  exists(path: string): boolean;
  isRoot(): boolean;
  /** Runs a command with its arguments; returns its exit status. */
  run(cmd: string, args: string[], env: Record<string, string>): number;
  log(line: string): void;
}

export type EnsureResult = { ok: true; installed: string[] } | { ok: false; message: string };

export function ensurePackages(packages: readonly SystemPackage[], deps: EnsureDeps): EnsureResult {
  const missing = packages.filter((p) => !deps.exists(p.path));
  if (missing.length === 0) return { ok: true, installed: [] };
  const names = missing.map((p) => p.name);
  const what = missing.map((p) => `${p.path} (${p.name}, for ${p.neededBy})`).join(", ");
  const how = `missing ${what}; run \`sudo apt-get install ${names.join(" ")}\``;
  if (!deps.isRoot() || deps.run("apt-get", ["--version"], {}) !== 0) return { ok: false, message: how };
  deps.log(`missing ${what}: installing with apt-get`);
  const env = { DEBIAN_FRONTEND: "noninteractive" };
  if (deps.run("apt-get", ["update", "-qq"], env) !== 0)
    return { ok: false, message: `apt-get update failed; ${how}` };
  const install = ["install", "-y", "-qq", "--no-install-recommends", ...names];
  if (deps.run("apt-get", install, env) !== 0)
    return { ok: false, message: `apt-get install failed; ${how}` };
  // A path the package does not provide (a different RAFTFS_CHROMIUM, say) must exist by itself.
  const still = missing.filter((p) => !deps.exists(p.path));
  if (still.length > 0)
    return { ok: false, message: `installed, but ${still.map((p) => p.path).join(", ")} still missing` };
  return { ok: true, installed: names };
}

export const realDeps: EnsureDeps = {
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
  const result = ensurePackages(requiredPackages(process.env.RAFTFS_CHROMIUM ?? CHROMIUM_PATH), realDeps);
  if (!result.ok) {
    process.stderr.write(`${result.message}\n`);
    process.exit(1);
  }
}
