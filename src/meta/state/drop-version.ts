/**
 * dropVersion: removes one retained version of a file, as S3's DeleteObject with a `versionId` does.
 * Its chunks lose that version's references (garbage like any dropped version's once unreferenced);
 * the file goes with its last retained version, as an S3 key goes with its last version. Dropping the
 * latest makes the one below it the latest; its number is never given again (namespace.ts `u`), so a
 * version id names one content forever. Fenced like a delete of the file.
 */
import type { DropVersionOp } from "./commands.js";
import { retainedCount, versionChunks } from "./namespace.js";
import { caller, type OpContext, symlinkIsNoFile } from "./ops.js";
import { fail, type Outcome } from "./outcome.js";

export function dropVersion(ctx: OpContext, op: DropVersionOp): Outcome {
  const { ns, nowMs } = ctx;
  ctx.locks.fence([{ path: op.path, subtree: false }], op.lockToken, caller(ctx, op), nowMs);
  const node = ns.get(op.path);
  if (node === undefined) fail("NOT_FOUND", `${op.path} does not exist`, { path: op.path });
  if (node.rec.t === "d") fail("IS_A_DIRECTORY", `${op.path} is a directory`, { path: op.path });
  if (node.rec.t === "l") symlinkIsNoFile(op.path);
  const { lo, hi } = node.rec;
  if (op.version < lo || op.version > hi || ns.version(node.id, op.version) === undefined) {
    fail("NOT_FOUND", `${op.path} has no retained version ${op.version}`, {
      path: op.path,
      version: op.version,
      oldestRetained: lo,
      latest: hi,
    });
  }
  if (retainedCount(node.rec) === 1) {
    const { versions, count } = ns.remove(op.path, nowMs);
    for (const v of versions) ctx.chunks.dropRefs(versionChunks(v), nowMs);
    // Its quota gives back the name and the retained bytes (as a delete does).
    const bytes = versions.reduce((sum, v) => sum + v.s, 0);
    ctx.quotas.charge(op.path, { bytes: -bytes, files: -count });
    return {
      value: { version: op.version, removed: true },
      changes: [{ index: ctx.index, path: op.path, kind: "delete" }],
    };
  }
  const dropped = ns.dropVersion(node, op.version, nowMs);
  ctx.chunks.dropRefs(versionChunks(dropped), nowMs);
  ctx.quotas.charge(op.path, { bytes: -dropped.s, files: 0 });
  const latest = ns.get(op.path)?.rec.hi as number;
  return {
    value: { version: op.version, removed: false, latest },
    // Readers caching the file's latest version must look again when it changed.
    changes: latest === hi ? [] : [{ index: ctx.index, path: op.path, kind: "commit", version: latest }],
  };
}
