/**
 * Follows the cluster's change feed and tells the kernel what another client changed, so that this
 * mount sees it at once instead of after the attribute timeout: FUSE_NOTIFY_INVAL_INODE for the
 * changed node (its cached pages too when its content changed) and for its directory (mtime, size of
 * listing), and FUSE_NOTIFY_INVAL_ENTRY for a name that no longer names anything (deleted, renamed
 * away). Only those: an entry notice unhashes the kernel's dentry even while a process has its
 * working directory there, whose getcwd then fails with ENOENT (`git init` in a directory just made
 * through the mount did, when the mkdir's own change arrived); inode numbers follow paths here, so an
 * inode notice is enough to update what a name that still stands means. Only nodes the kernel knows
 * (in the node table) are named; changes made through this mount are invalidated too, which costs a
 * lookup and keeps the rule simple.
 *
 * Changes are taken in batches (what one long-poll answer brings, up to MAX_BATCH), and a batch's
 * notices are deduplicated: a directory's attributes are dropped once per batch, not once per child.
 * A directory with more than BULK_PER_DIR changed children in one batch gets one notice for itself
 * (attributes and listing), and only the children the kernel holds get their own: an inode notice
 * (their cached size must go, or a program would read a new version short) and, when their name now
 * means something else (delete, rename, create), an entry notice. Children the kernel does not hold
 * cost nothing: a name it looked up in vain is asked again at every use (an ENOENT reply leaves no
 * cached negative entry). A second client rewriting a thousand files nobody here opened costs one
 * notice instead of three thousand. A feed that loses its place (reset) cannot say what changed: the
 * mount drops its own directory cache and the root's kernel attributes, and the attribute timeout
 * bounds the rest.
 */
import type { RaftfsClient } from "../client/index.js";
import { baseName, parentOf, ROOT_PATH } from "../common/paths.js";
import type { WireChange } from "../common/protocol/index.js";
import type { FuseDevice } from "./device.js";
import type { NodeTable } from "./nodes.js";
import { encodeInvalEntry, encodeInvalInode } from "./protocol.js";

export interface InvalidatorDeps {
  client: RaftfsClient;
  nodes: NodeTable;
  device: FuseDevice;
  /** The mount's own caches of `path` go too. */
  forget: (path: string) => void;
  /** The mount's own caches of every path go (the feed was reset). */
  forgetAll: () => void;
  log: (line: string) => void;
}

const CONTENT_KINDS: ReadonlySet<WireChange["kind"]> = new Set(["create", "commit", "delete"]);

/** Whether the node at `path` holds other bytes after `c` (its content changed, or another node took the name). */
function contentChanged(c: WireChange, path: string): boolean {
  return CONTENT_KINDS.has(c.kind) || (c.kind === "rename" && path === c.to);
}

/** Whether `path` names nothing after `c`: only then does the kernel's entry for it go (see the top). */
function nameGone(c: WireChange, path: string): boolean {
  return c.kind === "delete" || (c.kind === "rename" && path === c.path);
}
const RETRY_MS = 1000;
/** Changes taken into one batch at most: bounded memory, and notices flow while a big burst arrives. */
export const MAX_BATCH = 10_000;
/** More changed children than this in one directory and one batch: one notice for the directory. */
export const BULK_PER_DIR = 64;

export class Invalidator {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private batch: WireChange[] = [];
  private flushTimer: NodeJS.Immediate | null = null;
  /** Notices sent and changes seen since start (the mount's log reports bulk batches). */
  readonly counts = { changes: 0, notices: 0, bulkDirs: 0 };

  constructor(private readonly deps: InvalidatorDeps) {}

  start(): void {
    this.loop ??= this.follow();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = null;
    this.batch = [];
  }

  private async follow(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        for await (const ev of this.deps.client.watch({ signal })) {
          if (ev.type === "change") this.changed(ev.change);
          else this.reset();
        }
      } catch (err) {
        if (signal.aborted) return;
        this.deps.log(`raftfs mount: change feed: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  /**
   * Takes one change into the batch, sent when the events already received are all in (the feed's
   * iterator yields a long-poll answer's changes without waiting) or when the batch is full.
   */
  changed(c: WireChange): void {
    this.batch.push(c);
    if (this.batch.length >= MAX_BATCH) this.flush();
    else this.flushTimer ??= setImmediate(() => this.flush());
  }

  /** Sends the batch's notices (exported for tests through `invalidationsForBatch`). */
  flush(): void {
    if (this.flushTimer) clearImmediate(this.flushTimer);
    this.flushTimer = null;
    const batch = this.batch;
    this.batch = [];
    if (batch.length === 0) return;
    const out = invalidationsForBatch(batch, (p) => this.deps.nodes.peek(p));
    const delivered = Promise.all(out.notices.map((buf) => this.deps.device.notify(buf)));
    for (const c of batch) {
      this.deps.forget(c.path);
      if (c.to !== undefined) this.deps.forget(c.to);
    }
    this.counts.changes += batch.length;
    this.counts.notices += out.notices.length;
    this.counts.bulkDirs += out.bulkDirs.length;
    if (out.bulkDirs.length === 0) return;
    // Logged once the kernel has every notice of the batch: a listed directory's children are all
    // held (READDIRPLUS names each), so a bulk batch may queue a thousand notices behind this line.
    void delivered.then(() => {
      for (const d of out.bulkDirs)
        this.deps.log(
          `raftfs mount: ${d}: over ${BULK_PER_DIR} changes in one batch: one notice for the directory`,
        );
    });
  }

  private reset(): void {
    this.flush();
    this.deps.forgetAll();
    const root = this.deps.nodes.peek(ROOT_PATH);
    if (root !== undefined) void this.deps.device.notify(encodeInvalInode(root, true));
    this.deps.log("raftfs mount: change feed reset: cached attributes expire on their timeout");
  }
}

/**
 * The notices a batch of changes calls for: each change's (`invalidationsFor`), without repeats, except
 * below a directory with more than `bulkPerDir` changed children, which gets one notice for itself
 * (attributes and cached listing) and notices only for the children the kernel holds
 * (`bulkChildNotices`). `bulkDirs` names those directories.
 */
export function invalidationsForBatch(
  changes: readonly WireChange[],
  inoOf: (path: string) => bigint | undefined,
  bulkPerDir = BULK_PER_DIR,
): { notices: Buffer[]; bulkDirs: string[] } {
  const perDir = new Map<string, Set<string>>();
  for (const c of changes) {
    if (c.kind === "lock" || c.kind === "unlock") continue;
    for (const path of c.to === undefined ? [c.path] : [c.path, c.to]) {
      if (path === ROOT_PATH) continue;
      const dir = parentOf(path);
      let names = perDir.get(dir);
      if (!names) perDir.set(dir, (names = new Set()));
      names.add(path);
    }
  }
  const bulk = new Set<string>();
  for (const [dir, names] of perDir) if (names.size > bulkPerDir && inoOf(dir) !== undefined) bulk.add(dir);
  const seen = new Set<string>();
  const notices: Buffer[] = [];
  const send = (buf: Buffer) => {
    const key = buf.toString("latin1");
    if (seen.has(key)) return;
    seen.add(key);
    notices.push(buf);
  };
  for (const dir of bulk) send(encodeInvalInode(inoOf(dir)!, true));
  for (const c of changes) {
    const paths = c.to === undefined ? [c.path] : [c.path, c.to];
    const inBulk = paths.every((p) => p !== ROOT_PATH && bulk.has(parentOf(p)));
    for (const buf of inBulk ? bulkChildNotices(c, inoOf) : invalidationsFor(c, inoOf)) send(buf);
  }
  return { notices, bulkDirs: [...bulk] };
}

/** Below a bulk directory: notices for the nodes of `c` the kernel holds, none for the others. */
function bulkChildNotices(c: WireChange, inoOf: (path: string) => bigint | undefined): Buffer[] {
  if (c.kind === "lock" || c.kind === "unlock") return [];
  const out: Buffer[] = [];
  for (const path of c.to === undefined ? [c.path] : [c.path, c.to]) {
    const ino = inoOf(path);
    if (ino === undefined) continue;
    out.push(encodeInvalInode(ino, contentChanged(c, path)));
    if (nameGone(c, path)) out.push(encodeInvalEntry(inoOf(parentOf(path))!, baseName(path)));
  }
  return out;
}

/** The notifications one change calls for, given which paths the kernel knows (`inoOf`). */
export function invalidationsFor(c: WireChange, inoOf: (path: string) => bigint | undefined): Buffer[] {
  if (c.kind === "lock" || c.kind === "unlock") return [];
  const out: Buffer[] = [];
  for (const path of c.to === undefined ? [c.path] : [c.path, c.to]) {
    const ino = inoOf(path);
    if (ino !== undefined) out.push(encodeInvalInode(ino, contentChanged(c, path)));
    if (path === ROOT_PATH) continue;
    const parent = inoOf(parentOf(path));
    if (parent === undefined) continue;
    if (nameGone(c, path)) out.push(encodeInvalEntry(parent, baseName(path)));
    if (c.kind !== "attrs" && c.kind !== "commit") out.push(encodeInvalInode(parent, false));
  }
  return out;
}
