import { describe, expect, test } from "vitest";
import { type EnsureChromiumDeps, ensureChromium } from "./ensure-chromium.js";

/** A machine without the browser: records the commands, and "installs" it when apt-get install runs. */
function machine(opts: { root: boolean; apt: boolean; failing?: string }) {
  const present = new Set<string>();
  const ran: string[] = [];
  const logged: string[] = [];
  const deps: EnsureChromiumDeps = {
    exists: (p) => present.has(p),
    isRoot: () => opts.root,
    run: (cmd, args, env) => {
      ran.push([...Object.entries(env).map(([k, v]) => `${k}=${v}`), cmd, ...args].join(" "));
      if (!opts.apt) return 127;
      if (opts.failing && args[0] === opts.failing) return 100;
      if (args[0] === "install") present.add("/usr/bin/chromium");
      return 0;
    },
    log: (l) => logged.push(l),
  };
  return { deps, ran, logged, present };
}

describe("ensure chromium (run by npm test before the suite)", () => {
  test("present: nothing runs", () => {
    const m = machine({ root: true, apt: true });
    m.present.add("/usr/bin/chromium");
    expect(ensureChromium("/usr/bin/chromium", m.deps)).toEqual({ ok: true, installed: false });
    expect(m.ran).toEqual([]);
  });

  test("missing, as root with apt: updates, then installs quietly and noninteractively", () => {
    const m = machine({ root: true, apt: true });
    expect(ensureChromium("/usr/bin/chromium", m.deps)).toEqual({ ok: true, installed: true });
    expect(m.ran).toEqual([
      "apt-get --version",
      "DEBIAN_FRONTEND=noninteractive apt-get update -qq",
      "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium",
    ]);
  });

  test("missing, not root: one line saying how, and no apt-get", () => {
    const m = machine({ root: false, apt: true });
    const r = ensureChromium("/usr/bin/chromium", m.deps);
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
      const r = ensureChromium("/usr/bin/chromium", m.deps);
      expect(!r.ok && r.message).toContain("sudo apt-get install chromium");
    }
  });
});
