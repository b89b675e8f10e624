import { describe, expect, test } from "vitest";
import { type EnsureDeps, ensurePackages, requiredPackages } from "./ensure-system-packages.js";

const PACKAGES = requiredPackages("/usr/bin/chromium");
const ALL_PATHS = PACKAGES.map((p) => p.path);

/** A machine missing some packages: records the commands, and "installs" them when apt-get install runs. */
function machine(opts: { root: boolean; apt: boolean; failing?: string; present?: string[] }) {
  const present = new Set<string>(opts.present ?? []);
  const ran: string[] = [];
  const logged: string[] = [];
  const deps: EnsureDeps = {
    exists: (p) => present.has(p),
    isRoot: () => opts.root,
    run: (cmd, args, env) => {
      ran.push([...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args].join(" "));
      if (!opts.apt) return 127;
      if (opts.failing && args[0] === opts.failing) return 100;
      if (args[0] === "install") for (const p of PACKAGES) if (args.includes(p.name)) present.add(p.path);
      return 0;
    },
    log: (l) => logged.push(l),
  };
  return { deps, ran, logged, present };
}

describe("ensure system packages (run by npm test before the suite)", () => {
  test("all present: nothing runs", () => {
    const m = machine({ root: true, apt: true, present: ALL_PATHS });
    expect(ensurePackages(PACKAGES, m.deps)).toEqual({ ok: true, installed: [] });
    expect(m.ran).toEqual([]);
  });

  test("missing, as root with apt: updates, then installs only what is missing, in one call", () => {
    const m = machine({ root: true, apt: true, present: ["/lib/x86_64-linux-gnu/libfuse.so.2"] });
    expect(ensurePackages(PACKAGES, m.deps)).toEqual({ ok: true, installed: ["chromium", "fuse"] });
    expect(m.ran).toEqual([
      "apt-get --version",
      "DEBIAN_FRONTEND=noninteractive apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fuse",
    ]);
  });

  test("missing, not root: one line saying how, and no apt-get", () => {
    const m = machine({ root: false, apt: true, present: ALL_PATHS.slice(1) });
    const r = ensurePackages(PACKAGES, m.deps);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.message).toContain("sudo apt-get install chromium");
    expect(!r.ok && r.message).not.toContain("\n");
    expect(m.ran).toEqual([]);
  });

  test("missing, root without apt, or apt failing: the same line", () => {
    for (const m of [
      machine({ root: true, apt: false }),
      machine({ root: true, apt: true, failing: "update" }),
      machine({ root: true, apt: true, failing: "install" }),
    ]) {
      const r = ensurePackages(PACKAGES, m.deps);
      expect(!r.ok && r.message).toContain("sudo apt-get install chromium libfuse2 fuse");
    }
  });
});
