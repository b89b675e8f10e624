/**
 * One logger type (src/common/log.ts): no other module declares its own slice of pino, so a component
 * built with the process's logger never needs an adapter, and a test's recorder fits every component.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "../..");

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? sources(p) : p.endsWith(".ts") ? [p] : [];
  });
}

/** A logging method as pino's are called: structured fields, then the message. */
const LOG_METHOD =
  /\b(?:debug|info|warn|error)\s*\(\s*\w+\s*:\s*object\s*,\s*\w+\s*:\s*string\s*\)\s*:\s*void/;

describe("the logger type", () => {
  it("is declared once, in src/common/log.ts", () => {
    const declaring = sources(join(ROOT, "src"))
      .filter((f) => LOG_METHOD.test(readFileSync(f, "utf8")))
      .map((f) => relative(ROOT, f));
    expect(declaring).toEqual(["src/common/log.ts"]);
  });

  it("recognises a second declaration (the check itself can fail)", () => {
    expect(LOG_METHOD.test("export interface LinkLogger {\n  warn(obj: object, msg: string): void;\n}")).toBe(
      true,
    );
  });
});
