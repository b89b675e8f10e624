/**
 * Follows the cluster's change feed and tells the kernel what another client changed, so that this
 * mount sees it at once instead of after the attribute timeout: FUSE_NOTIFY_INVAL_INODE for the
 * changed node (its cached pages too when its content changed) and FUSE_NOTIFY_INVAL_ENTRY for its
 * name in its directory, whose own attributes (mtime, size of listing) are dropped as well. Only
 * nodes the kernel knows (in the node table) are named; changes made through this mount are
 * invalidated too, which costs a lookup and keeps the rule simple. A feed that loses its place
 * (reset) cannot say what changed: the attribute timeout bounds what the kernel still holds.
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
  log: (line: string) => void;
}

const CONTENT_KINDS: ReadonlySet<WireChange["kind"]> = new Set(["create", "commit", "delete"]);
const RETRY_MS = 1000;

export class Invalidator {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(private readonly deps: InvalidatorDeps) {}

  start(): void {
    this.loop ??= this.follow();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async follow(): Promise<void> {
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      try {
        for await (const ev of this.deps.client.watch({ signal })) {
          if (ev.type === "change") this.changed(ev.change);
          else this.deps.log("raftfs mount: change feed reset: cached attributes expire on their timeout");
        }
      } catch (err) {
        if (signal.aborted) return;
        this.deps.log(`raftfs mount: change feed: ${(err as Error).message}; retrying`);
        await new Promise((r) => setTimeout(r, RETRY_MS));
      }
    }
  }

  /** Invalidates what one change touched (exported for tests through `invalidationsFor`). */
  changed(c: WireChange): void {
    for (const buf of invalidationsFor(c, (p) => this.deps.nodes.peek(p))) this.deps.device.notify(buf);
    this.deps.forget(c.path);
    if (c.to !== undefined) this.deps.forget(c.to);
  }
}

/** The notifications one change calls for, given which paths the kernel knows (`inoOf`). */
export function invalidationsFor(c: WireChange, inoOf: (path: string) => bigint | undefined): Buffer[] {
  if (c.kind === "lock" || c.kind === "unlock") return [];
  const out: Buffer[] = [];
  for (const path of c.to === undefined ? [c.path] : [c.path, c.to]) {
    const ino = inoOf(path);
    if (ino !== undefined) out.push(encodeInvalInode(ino, CONTENT_KINDS.has(c.kind)));
    if (path === ROOT_PATH) continue;
    const parent = inoOf(parentOf(path));
    if (parent === undefined) continue;
    out.push(encodeInvalEntry(parent, baseName(path)));
    if (c.kind !== "attrs" && c.kind !== "commit") out.push(encodeInvalInode(parent, false));
  }
  return out;
}
