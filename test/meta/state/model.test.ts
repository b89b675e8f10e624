/**
 * Model-based test: mkdir/commit/rename/delete/list/stat against a reference model that is a flat Map
 * of paths (no children index, no journal; subtrees found by prefix scans).
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DfsError } from "../../../src/common/errors.js";
import { isAncestor, isAncestorOrSelf, parentOf } from "../../../src/common/paths.js";
import { FsState } from "../../../src/meta/state/index.js";
import { type OpSpec, opSpecArb, pathArb } from "./arbitraries.js";
import { hashOf } from "./helpers.js";

type MNode = { type: "dir" } | { type: "file"; version: number; sizeBytes: number };

class Model {
  readonly nodes = new Map<string, MNode>([["/", { type: "dir" }]]);

  /** Error code, or the missing ancestors (root-most first). */
  private ancestors(path: string, create: boolean): string | string[] {
    const missing: string[] = [];
    let p = parentOf(path);
    while (!this.nodes.has(p)) {
      missing.unshift(p);
      p = parentOf(p);
    }
    if (this.nodes.get(p)?.type === "file") return "NOT_A_DIRECTORY";
    if (missing.length > 0 && !create) return "NOT_FOUND";
    return missing;
  }

  apply(op: OpSpec & { content?: unknown }, sizeBytes: number): string | null {
    switch (op.type) {
      case "mkdir": {
        const n = this.nodes.get(op.path);
        if (n) return n.type === "dir" && op.parents ? null : "EXISTS";
        const a = this.ancestors(op.path, op.parents);
        if (typeof a === "string") return a;
        for (const p of [...a, op.path]) this.nodes.set(p, { type: "dir" });
        return null;
      }
      case "commit": {
        if (op.path === "/") return "IS_A_DIRECTORY";
        const a = this.ancestors(op.path, op.createParents);
        if (typeof a === "string") return a;
        const n = this.nodes.get(op.path);
        if (n?.type === "dir") return "IS_A_DIRECTORY";
        const current = n?.type === "file" ? n.version : 0;
        if (op.expectedVersion !== undefined && op.expectedVersion !== current) return "VERSION_MISMATCH";
        for (const p of a) this.nodes.set(p, { type: "dir" });
        this.nodes.set(op.path, { type: "file", version: current + 1, sizeBytes });
        return null;
      }
      case "rename": {
        if (op.from === "/") return "BAD_REQUEST";
        if (op.to === "/") return "EXISTS";
        if (isAncestor(op.from, op.to)) return "BAD_REQUEST";
        if (!this.nodes.has(op.from)) return "NOT_FOUND";
        const a = this.ancestors(op.to, false);
        if (typeof a === "string") return a;
        if (this.nodes.has(op.to)) return "EXISTS";
        const moved = [...this.nodes].filter(([p]) => isAncestorOrSelf(op.from, p));
        for (const [p] of moved) this.nodes.delete(p);
        for (const [p, n] of moved) this.nodes.set(op.to + p.slice(op.from.length), n);
        return null;
      }
      case "delete": {
        if (op.path === "/") return "BAD_REQUEST";
        const n = this.nodes.get(op.path);
        if (!n) return "NOT_FOUND";
        const below = [...this.nodes.keys()].filter((p) => isAncestor(op.path, p));
        if (below.length > 0 && !op.recursive) return "NOT_EMPTY";
        for (const p of [...below, op.path]) this.nodes.delete(p);
        return null;
      }
    }
  }
}

function sizeOf(content: unknown): number {
  const c = content as { kind: string; data?: Uint8Array; sizeBytes?: number };
  return c.kind === "inline" ? (c.data?.length ?? 0) : (c.sizeBytes ?? 0);
}

/** Everything the public queries show, as a Map shaped like the model's. */
function observe(fs: FsState): Map<string, MNode> {
  const out = new Map<string, MNode>([["/", { type: "dir" }]]);
  const walk = (dir: string): void => {
    const entries = fs.list(dir);
    const names = entries.map((e) => e.name);
    expect(names).toEqual([...names].sort());
    for (const e of entries) {
      const st = fs.stat(e.path);
      expect(st.type).toBe(e.type);
      if (e.type === "dir") {
        out.set(e.path, { type: "dir" });
        walk(e.path);
      } else {
        expect(st.version).toBe(e.version);
        out.set(e.path, { type: "file", version: e.version ?? -1, sizeBytes: e.sizeBytes ?? -1 });
      }
    }
  };
  walk("/");
  return out;
}

function codeOf(fn: () => unknown): string | null {
  try {
    fn();
    return null;
  } catch (err) {
    if (err instanceof DfsError) return err.code;
    throw err;
  }
}

describe("namespace against a reference model", () => {
  it("agrees on every outcome and on the whole visible tree (property)", () => {
    const paths = pathArb(["a", "b", "c"], 3);
    const noLocks = opSpecArb(paths).map((op) => ({ ...op, tokenRef: undefined, aim: undefined }));
    fc.assert(
      fc.property(
        fc.array(noLocks, { minLength: 1, maxLength: 40 }),
        fc.array(paths, { maxLength: 5 }),
        (ops, probes) => {
          const fs = new FsState({ versionsRetained: 2, sessionTimeoutMs: 1e9 });
          const model = new Model();
          let index = 0;
          const session = fs.apply({
            index: ++index,
            timestampMs: 1,
            command: { type: "openSession", secretHash: hashOf(1) },
          });
          const sessionId = (session.ok && (session.value as { sessionId: number }).sessionId) || 0;
          ops.forEach((op, i) => {
            const { tokenRef: _t, aim: _a, ...command } = op;
            const r = fs.apply({
              index: ++index,
              timestampMs: 1 + i,
              command: {
                ...command,
                session: { id: sessionId, seq: i + 1, ackedSeq: i, secretHash: hashOf(1) },
              } as never,
            });
            const expected = model.apply(op, "content" in op ? sizeOf(op.content) : 0);
            expect(r.ok ? null : r.error.code).toBe(expected);
            expect(observe(fs)).toEqual(model.nodes);
          });
          for (const p of probes) {
            expect(codeOf(() => fs.stat(p))).toBe(model.nodes.has(p) ? null : "NOT_FOUND");
          }
          fs.checkInvariants();
        },
      ),
      { numRuns: 1000 },
    );
  });
});
