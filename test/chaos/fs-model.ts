/**
 * A sequential specification of the file operations the chaos tests issue, for the linearizability
 * checker: files at a few fixed paths, each with content and a version; writes (plain and
 * compare-and-set), reads, deletes and renames (which move a file with its versions).
 */
import type { Model } from "../support/linearizability/index.js";

export type FsInput =
  | { kind: "write"; path: string; value: string }
  | { kind: "cas"; path: string; value: string; expected: number }
  | { kind: "read"; path: string }
  /** A read of the content only (the client library's readFile): no version in the answer. */
  | { kind: "readData"; path: string }
  | { kind: "delete"; path: string }
  | { kind: "rename"; from: string; to: string };

export type FsOutput =
  | { version: number }
  | { ok: false; code: string }
  | { value: string; version: number }
  | { value: string }
  | { missing: true }
  | { ok: true };

interface File {
  value: string;
  version: number;
}

export type FsModelState = ReadonlyMap<string, File>;

function set(state: FsModelState, path: string, f: File | null): FsModelState {
  const next = new Map(state);
  if (f === null) next.delete(path);
  else next.set(path, f);
  return next;
}

/** A commit refused because its chunks were collected meanwhile (CHUNK_GONE) had no effect. */
function chunksGone(output: FsOutput | undefined): boolean {
  return output !== undefined && same(output, { ok: false, code: "CHUNK_GONE" });
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export const fsModel: Model<FsModelState, FsInput, FsOutput> = {
  init: () => new Map(),
  step(state, input, output) {
    switch (input.kind) {
      case "write": {
        if (chunksGone(output)) return { ok: true, state };
        const version = (state.get(input.path)?.version ?? 0) + 1;
        const next = set(state, input.path, { value: input.value, version });
        return { ok: output === undefined || same(output, { version }), state: next };
      }
      case "cas": {
        const current = state.get(input.path)?.version ?? 0;
        if (current !== input.expected) {
          return { ok: output === undefined || same(output, { ok: false, code: "VERSION_MISMATCH" }), state };
        }
        if (chunksGone(output)) return { ok: true, state };
        const version = current + 1;
        const next = set(state, input.path, { value: input.value, version });
        return { ok: output === undefined || same(output, { version }), state: next };
      }
      case "read": {
        const f = state.get(input.path);
        const expect = f ? { value: f.value, version: f.version } : { missing: true };
        return { ok: output === undefined || same(output, expect), state };
      }
      case "readData": {
        const f = state.get(input.path);
        const expect = f ? { value: f.value } : { missing: true };
        return { ok: output === undefined || same(output, expect), state };
      }
      case "delete": {
        if (!state.has(input.path))
          return { ok: output === undefined || same(output, { ok: false, code: "NOT_FOUND" }), state };
        return {
          ok: output === undefined || same(output, { ok: true }),
          state: set(state, input.path, null),
        };
      }
      case "rename": {
        const f = state.get(input.from);
        if (!f) return { ok: output === undefined || same(output, { ok: false, code: "NOT_FOUND" }), state };
        if (state.has(input.to))
          return { ok: output === undefined || same(output, { ok: false, code: "EXISTS" }), state };
        const next = set(set(state, input.from, null), input.to, f);
        return { ok: output === undefined || same(output, { ok: true }), state: next };
      }
    }
  },
  hash: (state) => JSON.stringify([...state].sort(([a], [b]) => (a < b ? -1 : 1))),
  readOnly: (input) => input.kind === "read" || input.kind === "readData",
  describe: (input, output) =>
    `${JSON.stringify(input)} -> ${output === undefined ? "?" : JSON.stringify(output)}`,
};
