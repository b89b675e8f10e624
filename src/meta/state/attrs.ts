/**
 * POSIX attributes of files and directories: the `setAttrs` command (chmod, chown, utimens) and the
 * attributes a create or mkdir gives its node. Kept on the inode record (records.ts: md, u, g, ct);
 * records written before attributes existed read with the defaults of `attrsOf`.
 */
import { DfsError } from "../../common/errors.js";
import type { AttrChange, NodeAttrs, SetAttrsOp } from "./commands.js";
import type { FenceCaller, LockTable } from "./locks.js";
import type { Namespace } from "./namespace.js";
import { fail, type Outcome } from "./outcome.js";
import { type AttrFields, MODE_BITS } from "./records.js";

/** uid and gid are 32-bit on Linux; (uid_t)-1 means "leave unchanged" there, so it never reaches us. */
export const MAX_ID = 0xfffffffe;

export function attrFields(attrs: NodeAttrs | undefined): AttrFields {
  return attrs === undefined ? {} : { md: attrs.mode, u: attrs.uid, g: attrs.gid };
}

type Obj = Record<string, unknown>;

function field(o: Obj, key: string, max: number): number | undefined {
  const v = o[key];
  if (v === undefined) return undefined;
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new DfsError("BAD_REQUEST", `${key} must be an integer in [0, ${max}]`);
  }
  return v;
}

/** The optional `attrs` of a mkdir or commit: all three fields or none. */
export function parseNodeAttrs(o: Obj): { attrs?: NodeAttrs } {
  if (o.attrs === undefined) return {};
  const a = o.attrs;
  if (typeof a !== "object" || a === null || Array.isArray(a)) {
    throw new DfsError("BAD_REQUEST", "attrs must be an object");
  }
  const mode = field(a as Obj, "mode", MODE_BITS);
  const uid = field(a as Obj, "uid", MAX_ID);
  const gid = field(a as Obj, "gid", MAX_ID);
  if (mode === undefined || uid === undefined || gid === undefined) {
    throw new DfsError("BAD_REQUEST", "attrs needs mode, uid and gid");
  }
  return { attrs: { mode, uid, gid } };
}

/** The fields of a setAttrs command (path and fencing are parsed by the caller). */
export function parseSetAttrsFields(o: Obj): AttrChange {
  const out: AttrChange = {};
  const mode = field(o, "mode", MODE_BITS);
  const uid = field(o, "uid", MAX_ID);
  const gid = field(o, "gid", MAX_ID);
  const mtimeMs = field(o, "mtimeMs", Number.MAX_SAFE_INTEGER);
  if (mode !== undefined) out.mode = mode;
  if (uid !== undefined) out.uid = uid;
  if (gid !== undefined) out.gid = gid;
  if (mtimeMs !== undefined) out.mtimeMs = mtimeMs;
  return out;
}

/** A commit's optional `setAttrs`: the attribute change applied with its version. */
export function parseCommitAttrChange(o: Obj): { setAttrs?: AttrChange } {
  if (o.setAttrs === undefined) return {};
  const a = o.setAttrs;
  if (typeof a !== "object" || a === null || Array.isArray(a)) {
    throw new DfsError("BAD_REQUEST", "setAttrs must be an object");
  }
  return { setAttrs: parseSetAttrsFields(a as Obj) };
}

/** The record fields of an attribute change made at `nowMs` (ctime moves; mtime only if given). */
export function changeFields(c: AttrChange, nowMs: number): AttrFields & { m?: number } {
  const fields: AttrFields & { m?: number } = { ct: nowMs };
  if (c.mode !== undefined) fields.md = c.mode;
  if (c.uid !== undefined) fields.u = c.uid;
  if (c.gid !== undefined) fields.g = c.gid;
  if (c.mtimeMs !== undefined) fields.m = c.mtimeMs;
  return fields;
}

/** What setAttrs needs of ops.ts's OpContext (declared here: ops.ts imports this file). */
interface AttrsContext {
  index: number;
  nowMs: number;
  sessionId: number | undefined;
  ns: Namespace;
  locks: LockTable;
}

export interface SetAttrsResult {
  path: string;
}

/** chmod/chown/utimens: the fields given change, ctime becomes the entry's time, nothing else moves. */
export function setAttrs(ctx: AttrsContext, op: SetAttrsOp): Outcome {
  const caller: FenceCaller = { sessionId: ctx.sessionId, lockSecretHash: op.lockSecretHash };
  ctx.locks.fence([{ path: op.path, subtree: false }], op.lockToken, caller, ctx.nowMs);
  const node = ctx.ns.get(op.path);
  if (node === undefined) fail("NOT_FOUND", `${op.path} does not exist`, { path: op.path });
  ctx.ns.setAttrs(node, changeFields(op, ctx.nowMs));
  const value: SetAttrsResult = { path: op.path };
  return { value, changes: [{ index: ctx.index, path: op.path, kind: "attrs" }] };
}
