/**
 * The namespace operations (mkdir, commit, rename, delete), used alone and inside transactions.
 *
 * Each runs its checks in one order — fencing first (a locked name answers LOCKED/STALE_TOKEN before it
 * reveals anything else), then structure, then compare-and-set — and then writes into the command's
 * overlay, which the caller drops if anything fails later.
 */
import { assert } from "../../common/assert.js";
import { MAX_PATH_BYTES, parentOf, ROOT_PATH, utf8ByteLength } from "../../common/paths.js";
import { attrFields, changeFields } from "./attrs.js";
import type { ChunkRefs } from "./chunks.js";
import type {
  ChunkRef,
  CommitOp,
  DeleteOp,
  FileContent,
  MkdirOp,
  NamespaceOp,
  RenameOp,
  SymlinkOp,
} from "./commands.js";
import type { FenceCaller, LockTable } from "./locks.js";
import {
  lastGiven,
  type Namespace,
  type NamespaceReader,
  type NodeView,
  versionChunks,
} from "./namespace.js";
import { fail, type Outcome } from "./outcome.js";
import { accountOf, addUsage, type QuotaTable, type QuotaUsage } from "./quotas.js";
import type { Change, FileVersion } from "./types.js";

export interface OpContext {
  index: number;
  nowMs: number;
  /** The session the mutation comes from: a lock token is honoured only from its own session. */
  sessionId: number | undefined;
  versionsRetained: number;
  ns: Namespace;
  chunks: ChunkRefs;
  locks: LockTable;
  quotas: QuotaTable;
  /** Entries all renames of this command may move together (a txn shares one budget). */
  maxRenameEntries: number;
  /** Entries moved so far by this command's renames. */
  renamedEntries: { count: number };
}

export function chunksOf(content: FileContent): readonly ChunkRef[] {
  return content.kind === "chunks" ? content.chunks : [];
}

function sizeOf(content: FileContent): number {
  return content.kind === "chunks" ? content.sizeBytes : content.data.length;
}

export function caller(ctx: OpContext, op: Pick<NamespaceOp, "lockSecretHash">): FenceCaller {
  return { sessionId: ctx.sessionId, lockSecretHash: op.lockSecretHash };
}

export function applyNamespaceOp(ctx: OpContext, op: NamespaceOp): Outcome {
  switch (op.type) {
    case "mkdir":
      return mkdir(ctx, op);
    case "symlink":
      return symlink(ctx, op);
    case "commit":
      return commit(ctx, op);
    case "rename":
      return rename(ctx, op);
    case "delete":
      return remove(ctx, op);
  }
}

function requireParent(ctx: OpContext, path: string, createParents: boolean): string[] {
  const missing = ctx.ns.missingAncestors(path);
  if (missing.length > 0 && !createParents) {
    fail("NOT_FOUND", `parent directory ${parentOf(path)} does not exist`, { path: parentOf(path) });
  }
  return missing;
}

function mkdir(ctx: OpContext, op: MkdirOp): Outcome {
  ctx.locks.fence([{ path: op.path, subtree: false }], op.lockToken, caller(ctx, op), ctx.nowMs);
  const existing = ctx.ns.get(op.path);
  if (existing !== undefined) {
    if (existing.rec.t === "d" && op.parents) return { value: { created: [] }, changes: [] };
    fail("EXISTS", `${op.path} already exists`, { path: op.path });
  }
  const created = [...requireParent(ctx, op.path, op.parents === true), op.path];
  for (const p of created) {
    ctx.ns.createDir(p, ctx.nowMs, p === op.path ? attrFields(op.attrs) : {});
    ctx.quotas.charge(p, { bytes: 0, files: 1 });
  }
  return {
    value: { created },
    changes: created.map((path): Change => ({ index: ctx.index, path, kind: "mkdir" })),
  };
}

/** Like a file's create: EXISTS on any name taken, the parent must exist; counts one name for quotas. */
function symlink(ctx: OpContext, op: SymlinkOp): Outcome {
  ctx.locks.fence([{ path: op.path, subtree: false }], op.lockToken, caller(ctx, op), ctx.nowMs);
  if (op.path === ROOT_PATH || ctx.ns.get(op.path) !== undefined) {
    fail("EXISTS", `${op.path} already exists`, { path: op.path });
  }
  requireParent(ctx, op.path, false);
  ctx.quotas.charge(op.path, { bytes: 0, files: 1 });
  ctx.ns.createSymlink(op.path, op.target, ctx.nowMs, attrFields(op.attrs));
  return { value: { path: op.path }, changes: [{ index: ctx.index, path: op.path, kind: "create" }] };
}

function commit(ctx: OpContext, op: CommitOp): Outcome {
  const { ns, nowMs } = ctx;
  ctx.locks.fence([{ path: op.path, subtree: false }], op.lockToken, caller(ctx, op), nowMs);
  if (op.path === ROOT_PATH) fail("IS_A_DIRECTORY", "/ is a directory", { path: op.path });
  const missing = requireParent(ctx, op.path, op.createParents === true);
  const node = ns.get(op.path);
  if (node?.rec.t === "d") fail("IS_A_DIRECTORY", `${op.path} is a directory`, { path: op.path });
  if (node?.rec.t === "l") symlinkIsNoFile(op.path);
  const currentVersion = node === undefined ? 0 : node.rec.hi;
  if (op.expectedVersion !== undefined && op.expectedVersion !== currentVersion) {
    fail("VERSION_MISMATCH", `${op.path} is at version ${currentVersion}, not ${op.expectedVersion}`, {
      path: op.path,
      currentVersion,
      expectedVersion: op.expectedVersion,
    });
  }

  const changes: Change[] = [];
  for (const p of missing) {
    ns.createDir(p, nowMs);
    ctx.quotas.charge(p, { bytes: 0, files: 1 });
    changes.push({ index: ctx.index, path: p, kind: "mkdir" });
  }
  const version: FileVersion = {
    // Above every number ever given: a dropped latest version's number is not handed out again.
    version: node === undefined ? 1 : lastGiven(node.rec) + 1,
    sizeBytes: sizeOf(op.content),
    createdAtMs: nowMs,
    content: op.content,
    ...(op.meta === undefined ? {} : { meta: op.meta }),
  };
  const gone = ctx.chunks.gone(chunksOf(op.content));
  if (gone.length > 0) {
    fail(
      "CHUNK_GONE",
      `${gone.length} chunk(s) of ${op.path} were garbage-collected before this commit; store them again`,
      {
        path: op.path,
        chunkIds: gone.slice(0, 16),
      },
    );
  }
  const conflicts = ctx.chunks.sizeConflicts(chunksOf(op.content));
  if (conflicts.length > 0) {
    const c = conflicts[0]!;
    fail(
      "BAD_REQUEST",
      `${op.path}: chunk ${c.id} is ${c.recordedSizeBytes} bytes (fixed by its first commit), not ${c.sizeBytes}`,
      { path: op.path, chunkId: c.id, sizeBytes: c.sizeBytes, recordedSizeBytes: c.recordedSizeBytes },
    );
  }
  // Reference the new chunks before releasing old ones, so a chunk shared by both never touches 0.
  ctx.chunks.addRefs(chunksOf(op.content));
  if (node === undefined) {
    ns.createFile(op.path, version, nowMs, attrFields(op.attrs));
    ctx.quotas.charge(op.path, { bytes: version.sizeBytes, files: 1 });
  } else {
    const dropped = ns.addVersion(node, version, ctx.versionsRetained, nowMs);
    for (const d of dropped) ctx.chunks.dropRefs(versionChunks(d), nowMs);
    const freedBytes = dropped.reduce((sum, d) => sum + d.s, 0);
    ctx.quotas.charge(op.path, { bytes: version.sizeBytes - freedBytes, files: 0 });
  }
  if (op.setAttrs !== undefined) {
    const written = ns.get(op.path);
    assert(written !== undefined, "the committed file exists");
    ns.setAttrs(written, changeFields(op.setAttrs, nowMs));
  }
  changes.push({
    index: ctx.index,
    path: op.path,
    kind: node === undefined ? "create" : "commit",
    version: version.version,
  });
  return { value: { version: version.version }, changes };
}

/** A file operation on a link: the server does not follow it, the caller must (readlink, then the target). */
export function symlinkIsNoFile(path: string): never {
  return fail("IS_A_SYMLINK", `${path} is a symbolic link: the server does not follow links`, { path });
}

function rename(ctx: OpContext, op: RenameOp): Outcome {
  const { ns, nowMs } = ctx;
  const { from, to } = op;
  if (from === ROOT_PATH) fail("BAD_REQUEST", "cannot rename /", { path: from });
  if (to === ROOT_PATH) fail("EXISTS", "/ already exists", { path: to });
  if (to.startsWith(`${from}/`)) {
    fail("BAD_REQUEST", `cannot move ${from} into its own subtree`, { path: from, to });
  }
  ctx.locks.fence(
    [
      { path: from, subtree: true },
      { path: to, subtree: true },
    ],
    op.lockToken,
    caller(ctx, op),
    nowMs,
  );
  if (ns.get(from) === undefined) fail("NOT_FOUND", `${from} does not exist`, { path: from });
  requireParent(ctx, to, false);
  if (ns.get(to) !== undefined) fail("EXISTS", `${to} already exists`, { path: to });
  chargeRename(ctx, from);
  const growthBytes = utf8ByteLength(to) - utf8ByteLength(from);
  if (growthBytes > 0) {
    // Bounded by maxRenameEntries (charged above); a shrinking or same-length move needs no walk.
    for (const { path: p } of ns.subtree(from)) {
      if (utf8ByteLength(p) + growthBytes > MAX_PATH_BYTES) {
        fail("INVALID_PATH", `moving ${p} would make its path longer than ${MAX_PATH_BYTES} bytes`, {
          path: p,
        });
      }
    }
  }
  moveUsage(ctx, from, to);
  ns.move(from, to, nowMs);
  return { value: { from, to }, changes: [{ index: ctx.index, path: from, kind: "rename", to }] };
}

/** What an entry counts for itself: one name, and its retained bytes if it is a file. */
function ownUsage(ns: NamespaceReader, node: NodeView): QuotaUsage {
  let bytes = 0;
  if (node.rec.t === "f")
    for (let v = node.rec.lo; v <= node.rec.hi; v++) bytes += ns.version(node.id, v)?.s ?? 0;
  return { bytes, files: 1 };
}

/** Names and retained bytes of the subtree at `path`, itself included: O(subtree × versions). */
function subtreeUsage(ns: NamespaceReader, path: string): QuotaUsage {
  const sum = { bytes: 0, files: 0 };
  for (const { node } of ns.subtree(path)) {
    const own = ownUsage(ns, node);
    sum.bytes += own.bytes;
    sum.files += own.files;
  }
  return sum;
}

/**
 * Quota usage follows a rename (called before the move). Within one top-level tree nothing changes; a
 * top-level rename carries usage and quota to the new name (O(1)); otherwise the moved subtree's usage
 * leaves one tree and joins the other, which may refuse it. A top-level entry's counter already holds
 * everything below it; a deeper subtree is walked, which the rename bound (charged before) caps. A
 * top-level directory moved below another loses its quota with its top-level place.
 */
function moveUsage(ctx: OpContext, from: string, to: string): void {
  const src = accountOf(from);
  const dst = accountOf(to);
  if (src === undefined || dst === undefined) return;
  if (!src.self && !dst.self && src.top === dst.top) return;
  if (src.self && dst.self) {
    ctx.quotas.moveTop(src.top, dst.top);
    return;
  }
  const node = ctx.ns.get(from);
  assert(node !== undefined, "the renamed entry exists");
  const own = ownUsage(ctx.ns, node);
  const moved = src.self ? addUsage(ctx.quotas.usage(src.top), own) : subtreeUsage(ctx.ns, from);
  if (src.self) ctx.quotas.dropTop(src.top);
  else ctx.quotas.charge(from, { bytes: -moved.bytes, files: -moved.files });
  if (dst.self) {
    ctx.quotas.chargeTop(dst.top, { bytes: moved.bytes - own.bytes, files: moved.files - own.files }, to);
  } else ctx.quotas.charge(to, moved);
}

/**
 * Charges the subtree of `from` to the command's rename budget, or fails with RENAME_TOO_LARGE. Moving
 * re-links one entry, but the bound stays part of the API (and a growing move walks the subtree to
 * check path lengths): it keeps one entry's work bounded on every replica. Counts at most one past the
 * budget, so checking a huge subtree is as cheap as checking the bound.
 */
export function chargeRename(
  ctx: { ns: NamespaceReader } & Pick<OpContext, "maxRenameEntries" | "renamedEntries">,
  from: string,
) {
  const left = ctx.maxRenameEntries - ctx.renamedEntries.count;
  const entries = ctx.ns.countSubtree(from, Math.max(0, left));
  if (entries > left) {
    const total = ctx.renamedEntries.count + entries;
    fail(
      "RENAME_TOO_LARGE",
      `renaming ${from} would move at least ${total} entries in one request, more than maxRenameEntries (${ctx.maxRenameEntries}): move its contents in smaller steps`,
      { path: from, entriesAtLeast: total, maxRenameEntries: ctx.maxRenameEntries },
    );
  }
  ctx.renamedEntries.count += entries;
}

function remove(ctx: OpContext, op: DeleteOp): Outcome {
  const { ns, nowMs } = ctx;
  if (op.path === ROOT_PATH) fail("BAD_REQUEST", "cannot delete /", { path: op.path });
  ctx.locks.fence([{ path: op.path, subtree: true }], op.lockToken, caller(ctx, op), nowMs);
  const node = ns.get(op.path);
  if (node === undefined) fail("NOT_FOUND", `${op.path} does not exist`, { path: op.path });
  if (node.rec.t === "d" && node.rec.n > 0 && !op.recursive) {
    fail("NOT_EMPTY", `${op.path} is not empty`, { path: op.path });
  }
  const { versions, count } = ns.remove(op.path, nowMs);
  for (const v of versions) ctx.chunks.dropRefs(versionChunks(v), nowMs);
  const acc = accountOf(op.path);
  if (acc?.self) ctx.quotas.dropTop(acc.top);
  else {
    const bytes = versions.reduce((sum, v) => sum + v.s, 0);
    ctx.quotas.charge(op.path, { bytes: -bytes, files: -count });
  }
  return { value: { removed: count }, changes: [{ index: ctx.index, path: op.path, kind: "delete" }] };
}
