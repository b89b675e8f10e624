/**
 * The map in DESIGN.md, checked: the import graph of src/ has no cycle (type-only imports count: a
 * cycle of types still ties two modules into one), and every import follows the arrows between the
 * rooms. Imports are read from the source text, so the test needs no compiler and no build.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = resolve(import.meta.dirname, "..");
const SRC = join(ROOT, "src");
/** The house rule: small files with one job. */
const MAX_FILE_LINES = 600;

/** Static `import`/`export … from` (with or without `type`, over several lines) and dynamic `import()`. */
const STATIC_IMPORT =
  /(?:^|[\n;])\s*(?:import|export)\s+(?:type\s+)?(?:[\w*{}\s,$]*?\s+from\s+)?["']([^"']+)["']/g;
const DYNAMIC_IMPORT = /\bimport\s*\(\s*["']([^"']+)["']\s*\)/g;

function importSpecifiers(source: string): string[] {
  // Comments may quote imports; they are not edges.
  const code = source.replace(/\/\*[\s\S]*?\*\//g, "").replace(/(^|[^:"'`])\/\/.*$/gm, "$1");
  const out: string[] = [];
  for (const re of [STATIC_IMPORT, DYNAMIC_IMPORT]) {
    for (const m of code.matchAll(re)) out.push(m[1]!);
  }
  return out;
}

function sourceFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p));
    else if (name.endsWith(".ts") && !name.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** Resolves a relative specifier the way NodeNext does for our sources ("./x.js" is ./x.ts). */
function resolveImport(from: string, spec: string): string {
  const base = resolve(dirname(from), spec);
  const candidates = [base.replace(/\.js$/, ".ts"), `${base}.ts`, join(base, "index.ts")];
  const hit = candidates.find((c) => existsSync(c) && statSync(c).isFile());
  if (!hit) throw new Error(`${relative(ROOT, from)}: import "${spec}" resolves to no source file`);
  return hit;
}

type Graph = Map<string, Set<string>>;

function importGraph(): Graph {
  const graph: Graph = new Map();
  for (const file of sourceFiles(SRC)) {
    const edges = new Set<string>();
    for (const spec of importSpecifiers(readFileSync(file, "utf8"))) {
      if (spec.startsWith(".")) edges.add(relative(ROOT, resolveImport(file, spec)));
    }
    graph.set(relative(ROOT, file), edges);
  }
  return graph;
}

/** Every cycle's members (Tarjan's strongly connected components of size > 1, or a self-import). */
function cycles(graph: Graph): string[][] {
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, counter);
    low.set(v, counter);
    counter++;
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) {
        low.set(v, Math.min(low.get(v)!, index.get(w)!));
      }
    }
    if (low.get(v) !== index.get(v)) return;
    const scc: string[] = [];
    let w: string;
    do {
      w = stack.pop()!;
      onStack.delete(w);
      scc.push(w);
    } while (w !== v);
    if (scc.length > 1 || graph.get(v)?.has(v)) found.push(scc.sort());
  };
  for (const v of [...graph.keys()].sort()) if (!index.has(v)) visit(v);
  return found;
}

/**
 * The rooms and what each may import (DESIGN.md: `cli → mount|s3 → client → common`,
 * `meta → raft → common`, `data → common`; the pure folders see only themselves and common).
 * The most specific room wins: src/raft/core is its own room, not part of src/raft.
 */
const ROOMS: Record<string, readonly string[]> = {
  common: ["common"],
  "raft/core": ["raft/core", "common"],
  raft: ["raft", "raft/core", "common"],
  "meta/state": ["meta/state", "common"],
  meta: ["meta", "meta/state", "raft", "raft/core", "common"],
  data: ["data", "common"],
  client: ["client", "common"],
  mount: ["mount", "client", "common"],
  s3: ["s3", "client", "common"],
  cli: ["cli", "mount", "s3", "client", "meta", "meta/state", "data", "raft", "raft/core", "common"],
  // src/index.ts: the package's public face re-exports the rooms.
  "": ["common", "raft", "raft/core", "meta", "meta/state", "data", "client", "cli", "mount", "s3"],
};

function roomOf(file: string): string {
  const rel = relative("src", file).replaceAll("\\", "/");
  const parts = rel.split("/").slice(0, -1);
  for (let n = Math.min(parts.length, 2); n > 0; n--) {
    const room = parts.slice(0, n).join("/");
    if (room in ROOMS) return room;
  }
  return "";
}

function arrowViolations(graph: Graph): string[] {
  const out: string[] = [];
  for (const [file, edges] of graph) {
    const from = roomOf(file);
    const allowed = ROOMS[from];
    if (!allowed) {
      out.push(`${file}: in no room of DESIGN.md`);
      continue;
    }
    for (const target of edges) {
      const to = roomOf(target);
      if (!allowed.includes(to)) out.push(`${file} (${from || "src"}) imports ${target} (${to || "src"})`);
    }
  }
  return out.sort();
}

describe("the import graph of src/", () => {
  const graph = importGraph();

  it("reads imports of every form, type-only and re-exports included", () => {
    const src = [
      'import { a } from "./a.js";',
      'import type { B } from "./b.js";',
      "import {\n  c,\n  type D,\n} from './c.js';",
      'export { e } from "./e.js";',
      'export type { F } from "./f.js";',
      'export * from "./g.js";',
      'import "./h.js";',
      'const i = await import("./i.js");',
      '// import { z } from "./commented.js";',
    ].join("\n");
    expect(importSpecifiers(src)).toEqual([
      "./a.js",
      "./b.js",
      "./c.js",
      "./e.js",
      "./f.js",
      "./g.js",
      "./h.js",
      "./i.js",
    ]);
  });

  it("finds a cycle when there is one (the detector itself can fail)", () => {
    const g: Graph = new Map([
      ["a", new Set(["b"])],
      ["b", new Set(["c"])],
      ["c", new Set(["a"])],
      ["d", new Set(["a"])],
    ]);
    expect(cycles(g)).toEqual([["a", "b", "c"]]);
    expect(arrowViolations(new Map([["src/raft/core/x.ts", new Set(["src/meta/y.ts"])]]))).toHaveLength(1);
  });

  it("has no import cycle", () => {
    expect(graph.size).toBeGreaterThan(50);
    expect(cycles(graph)).toEqual([]);
  });

  it("follows DESIGN.md's arrows between the rooms", () => {
    expect(arrowViolations(graph)).toEqual([]);
  });

  // A file past the limit is a seam waiting to be cut.
  it(`keeps every source, test and bench file at or under ${MAX_FILE_LINES} lines`, () => {
    const files = ["src", "test", "bench"].flatMap((d) => sourceFiles(join(ROOT, d)));
    expect(files.length).toBeGreaterThan(100);
    expect(overLong(files)).toEqual([]);
  });

  it("reports a file one line past the limit (the check itself can fail)", () => {
    const text = `${"x\n".repeat(MAX_FILE_LINES)}y`;
    expect(lineCount(text)).toBe(MAX_FILE_LINES + 1);
    expect(lineCount(`${"x\n".repeat(MAX_FILE_LINES)}`)).toBe(MAX_FILE_LINES);
  });
});

/** Lines as `wc -l` plus a last line without its newline. */
function lineCount(text: string): number {
  const newlines = text.split("\n").length - 1;
  return text.endsWith("\n") || text === "" ? newlines : newlines + 1;
}

function overLong(files: string[]): string[] {
  return files
    .map((f) => ({ file: relative(ROOT, f), lines: lineCount(readFileSync(f, "utf8")) }))
    .filter((f) => f.lines > MAX_FILE_LINES)
    .map((f) => `${f.file}: ${f.lines} lines`);
}
