/**
 * Test helpers: a harness that numbers entries, keeps time and sequence numbers, and short-hands for
 * content and chunk ids.
 */
import { createHash } from "node:crypto";
import { expect } from "vitest";
import type { ErrorBody } from "../../../src/common/errors.js";
import {
  type ApplyResult,
  type Command,
  type FileContent,
  FsState,
  type FsStateOptions,
} from "../../../src/meta/state/index.js";
import type { LockHoldingSnapshot } from "../../../src/meta/state/types.js";

export const DEFAULT_OPTS: FsStateOptions = { versionsRetained: 3, sessionTimeoutMs: 60_000 };

/** The SHA-256 a shell would propose for secret `name` (tests need no randomness, only distinct hashes). */
export function secretHash(name: string): string {
  return createHash("sha256").update(name).digest("hex");
}

/** The secret hash the harness opens session `id` with: a pure function of the id, so raw tests can use it. */
export function hashOf(sessionId: number): string {
  return secretHash(`session-${sessionId}`);
}

/** A command without its session; the harness adds `{ id, seq, ackedSeq, secretHash }`. */
export type Request = Record<string, unknown> & { type: string };

export class Harness {
  fs: FsState;
  index = 0;
  nowMs = 1_000;
  private readonly seqs = new Map<number, number>();
  private defaultSession: number | undefined;

  constructor(opts: Partial<FsStateOptions> = {}) {
    this.fs = new FsState({ ...DEFAULT_OPTS, ...opts });
  }

  /** Applies a raw command as the next entry, at `nowMs` (or at `timestampMs` if given). */
  apply(command: unknown, timestampMs = this.nowMs): ApplyResult {
    return this.fs.apply({ index: ++this.index, timestampMs, command: command as Command });
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  /** Opens a session whose secret hash is `hashOf(its id)` (the id is the next entry's index). */
  openSession(): number {
    const r = this.apply({ type: "openSession", secretHash: hashOf(this.index + 1) });
    if (!r.ok) throw new Error(`openSession failed: ${r.error.code}`);
    const { sessionId } = r.value as { sessionId: number };
    this.seqs.set(sessionId, 0);
    return sessionId;
  }

  get session(): number {
    this.defaultSession ??= this.openSession();
    return this.defaultSession;
  }

  nextSeq(sessionId: number): number {
    const seq = (this.seqs.get(sessionId) ?? 0) + 1;
    this.seqs.set(sessionId, seq);
    return seq;
  }

  /** Sends a session command with the next seq; everything before it counts as acknowledged. */
  send(req: Request, sessionId = this.session): ApplyResult {
    const seq = this.nextSeq(sessionId);
    return this.apply({ ...req, session: this.ref(sessionId, seq, seq - 1) });
  }

  /** A session reference with the session's own secret hash. */
  ref(sessionId: number, seq: number, ackedSeq = 0): Record<string, unknown> {
    return { id: sessionId, seq, ackedSeq, secretHash: hashOf(sessionId) };
  }

  ok<T = Record<string, unknown>>(req: Request, sessionId?: number): T {
    const r = this.send(req, sessionId);
    if (!r.ok) expect.fail(`expected ${req.type} to succeed, got ${r.error.code}: ${r.error.message}`);
    return r.value as T;
  }

  err(req: Request, sessionId?: number): ErrorBody {
    const r = this.send(req, sessionId);
    if (r.ok) expect.fail(`expected ${req.type} to fail, got ${JSON.stringify(r.value)}`);
    expect(r.changes).toEqual([]);
    return r.error;
  }
}

export function inline(text: string): FileContent {
  return { kind: "inline", data: new TextEncoder().encode(text) };
}

/** A valid (fake) SHA-256 hex id derived from a small number. */
export function chunkId(n: number): string {
  return n.toString(16).padStart(64, "0");
}

export function chunked(...chunks: [id: number, sizeBytes: number][]): FileContent {
  const refs = chunks.map(([id, sizeBytes]) => ({ id: chunkId(id), sizeBytes }));
  return { kind: "chunks", chunks: refs, sizeBytes: refs.reduce((s, c) => s + c.sizeBytes, 0) };
}

export function text(content: FileContent): string {
  if (content.kind !== "inline") throw new Error("not inline");
  return new TextDecoder().decode(content.data);
}

/** Recounts chunk references from what the public queries show: every retained version of every file. */
export function recountChunks(fs: FsState): Map<string, number> {
  const counts = new Map<string, number>();
  const walk = (dir: string): void => {
    for (const e of fs.list(dir)) {
      if (e.type === "dir") walk(e.path);
      else {
        for (const v of fs.versions(e.path)) {
          const { content } = fs.readVersion(e.path, v.version);
          if (content.kind === "chunks")
            for (const c of content.chunks) counts.set(c.id, (counts.get(c.id) ?? 0) + 1);
        }
      }
    }
  };
  walk("/");
  return counts;
}

/** Non-session parts of the state: what a failed command or a replay must leave untouched. */
export function visibleParts(fs: FsState): Record<string, string> {
  const { namespace, garbage, locks, dataNodes } = fs.partHashes();
  return { namespace, garbage, locks, dataNodes };
}

/**
 * Live leases with their fencing tokens (which the public `locks()` no longer shows), from the snapshot:
 * at or below `path` if given, judged at the last applied entry's time.
 */
export function liveHoldings(fs: FsState, path?: string): LockHoldingSnapshot[] {
  return fs
    .snapshot()
    .locks.filter(
      (h) =>
        h.expiresAtMs >= fs.lastTimestampMs &&
        (path === undefined || path === "/" || h.path === path || h.path.startsWith(`${path}/`)),
    );
}
