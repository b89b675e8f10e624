/**
 * Open files, with close-to-open semantics (as NFS and AFS): an open pins the version it saw (one
 * linearizable stat), reads serve that version, and writes go to a local spool file that becomes a
 * new version on flush, fsync or release. The version opened is the commit's compare-and-set base,
 * so a file changed by someone else meanwhile is not overwritten: the commit fails with EIO and the
 * mount logs which file (README "Mount"). Each handle runs its operations one at a time, in order.
 */
import { join } from "node:path";
import type { ChunkPatcher, RaftfsClient } from "../client/index.js";
import type { AttrChange } from "./attrs.js";
import { PatchCopy } from "./patch-copy.js";
import { Spool } from "./spool.js";
import { StreamingUpload } from "./stream-upload.js";

/** Files up to this size are read once, whole, at the first READ; larger ones are streamed. */
const WHOLE_READ_MAX_BYTES = 4 * 1024 * 1024;
/**
 * A file written in order from its start is uploaded as it is written once it passes this size
 * (stream-upload.ts); smaller ones are committed from the spool at close (inline, most of them).
 */
const STREAM_MIN_BYTES = 1024 * 1024;
/** A read this far ahead of a stream's position skips the bytes between; farther starts a new stream. */
const SKIP_FORWARD_MAX_BYTES = 8 * 1024 * 1024;

interface Stream {
  position: number;
  iterator: AsyncIterator<Buffer>;
  leftover: Buffer;
}

export interface HandleDeps {
  client: RaftfsClient;
  /** Commits a version that keeps the base's untouched chunks (patch-copy.ts). */
  patcher: ChunkPatcher;
  spoolDir: string;
  /** The handle's current path (a rename while open moves it). */
  pathOf: () => string | undefined;
  log: (line: string) => void;
  /** The fencing token of an exclusive lock this mount holds on the path, to commit under it. */
  lockTokenFor: (path: string) => number | undefined;
}

function fence(lockToken: number | undefined): { lockToken?: number } {
  return lockToken === undefined ? {} : { lockToken };
}

/** The fields of `now` that `sent` does not hold with the same value. */
function changedSince(now: AttrChange, sent: AttrChange): AttrChange {
  const out: AttrChange = {};
  for (const key of ["mode", "uid", "gid", "mtimeMs"] as const) {
    if (now[key] !== undefined && now[key] !== sent[key]) out[key] = now[key];
  }
  return out;
}

export class OpenFile {
  /** Version of the cluster's file this handle is based on (0: created by us, not committed yet). */
  version: number;
  sizeBytes: number;
  mtimeMs: number;
  private spool: Spool | null = null;
  /** The spool filled chunk by chunk from the base (a chunked base): reads and writes go through it. */
  private patch: PatchCopy | null = null;
  private dirty = false;
  /** Unlinked while open: reads go on from the local copy, writes are never committed (POSIX). */
  private orphaned = false;
  private whole: Buffer | null = null;
  private stream: Stream | null = null;
  private queue: Promise<unknown> = Promise.resolve();
  /**
   * Every byte of the local copy was written in order from offset 0 onto an empty file, and nothing
   * has been committed since: the copy may be uploaded as it grows (`upload`).
   */
  private inOrder: boolean;
  private upload: StreamingUpload | null = null;
  /** Mode and owner the file is created with (by its first commit), from the CREATE request. */
  createAttrs: { mode: number; uid: number; gid: number } | undefined;
  /**
   * An attribute change made while local writes wait (tar's futimens, fchown, fchmod before close):
   * sent with the commit, in its log entry, so a tar'd file costs one metadata write, and the commit
   * cannot stamp its own mtime over a restored one.
   */
  pendingAttrs: AttrChange = {};
  /** What the commit under way sent of `pendingAttrs` (a SETATTR may still arrive meanwhile). */
  private attrsSent: AttrChange = {};

  constructor(
    readonly fh: bigint,
    readonly ino: bigint,
    base: { version: number; sizeBytes: number; mtimeMs: number },
    private readonly deps: HandleDeps,
  ) {
    this.version = base.version;
    this.sizeBytes = base.sizeBytes;
    this.mtimeMs = base.mtimeMs;
    this.inOrder = base.sizeBytes === 0;
  }

  /** True while local writes wait for a commit (GETATTR then reports the spool's size). */
  get hasLocalChanges(): boolean {
    return this.dirty;
  }

  /** Runs `fn` after every earlier operation of this handle. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private path(): string {
    const p = this.deps.pathOf();
    if (p === undefined) throw Object.assign(new Error("file is gone"), { code: "ENOENT" });
    return p;
  }

  read(offset: number, size: number): Promise<Buffer> {
    return this.serial(async () => {
      if (offset >= this.sizeBytes || size === 0) return Buffer.alloc(0);
      const want = Math.min(size, this.sizeBytes - offset);
      if (this.spool) {
        const buf = Buffer.alloc(want);
        const bytesRead = await (this.patch ?? this.spool).read(buf, want, offset);
        return buf.subarray(0, bytesRead);
      }
      if (this.sizeBytes <= WHOLE_READ_MAX_BYTES) {
        this.whole ??= await this.deps.client.readFile(this.path(), { version: this.version });
        return this.whole.subarray(offset, offset + want);
      }
      return this.streamRead(offset, want);
    });
  }

  /**
   * Sequential reads continue one stream; a seek starts another at the new offset, except a short one
   * forward (the kernel's background read-ahead may leave a gap), which skips over the stream's bytes.
   */
  private async streamRead(offset: number, want: number): Promise<Buffer> {
    const gap = this.stream ? offset - this.stream.position : -1;
    if (gap > 0 && gap <= SKIP_FORWARD_MAX_BYTES) await this.streamRead(this.stream!.position, gap);
    if (!this.stream || this.stream.position !== offset) {
      await this.stream?.iterator.return?.();
      const s = this.deps.client.createReadStream(this.path(), { version: this.version, start: offset });
      this.stream = { position: offset, iterator: s[Symbol.asyncIterator](), leftover: Buffer.alloc(0) };
    }
    const st = this.stream;
    // The stream yields whole chunks (MiBs) and the kernel reads 128 KiB at a time: a read served
    // by the part in hand is a view of it, never a copy of the rest (a copy of the leftover per
    // READ cost a 4 MiB chunk ~30 copies of itself).
    const parts: Buffer[] = [];
    let have = 0;
    if (st.leftover.byteLength > 0) {
      parts.push(st.leftover);
      have = st.leftover.byteLength;
    }
    while (have < want) {
      const r = await st.iterator.next();
      if (r.done) break;
      parts.push(r.value);
      have += r.value.byteLength;
    }
    const all = parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    st.leftover = all.subarray(Math.min(want, all.byteLength));
    const out = all.subarray(0, Math.min(want, all.byteLength));
    st.position += out.byteLength;
    return out;
  }

  /**
   * Creates the local copy; with `keepContent`, of the opened version: a chunked one is filled chunk
   * by chunk as it is touched (patch-copy.ts), any other whole, now.
   */
  private async ensureSpool(keepContent: boolean): Promise<Spool | PatchCopy> {
    if (this.spool) return this.patch ?? this.spool;
    const spool = new Spool(join(this.deps.spoolDir, `fh-${this.fh}`));
    this.spool = spool;
    if (keepContent && this.sizeBytes > 0) {
      this.patch = await this.openPatch(spool);
      if (!this.patch) {
        for await (const part of this.deps.client.createReadStream(this.path(), { version: this.version })) {
          await spool.write(part as Buffer, spool.sizeBytes);
        }
      }
    }
    this.whole = null;
    await this.stream?.iterator.return?.();
    this.stream = null;
    return this.patch ?? spool;
  }

  /** A chunk-by-chunk copy of the opened version, when it is chunked with fixed-size chunks. */
  private async openPatch(spool: Spool): Promise<PatchCopy | null> {
    const version = this.version;
    const info = await this.deps.client.fileInfo(this.path(), { version });
    if (info.content.kind !== "chunks") return null;
    const base = { sizeBytes: info.sizeBytes, chunks: info.content.chunks };
    // The base's own chunk size (a file of one chunk: the library's), so kept chunks line up.
    const first = base.chunks[0]?.sizeBytes ?? 0;
    const chunkSizeBytes =
      base.chunks.length > 1 ? first : Math.max(first, this.deps.client.options.chunkSizeBytes);
    if (!PatchCopy.fits(base, chunkSizeBytes)) return null;
    return PatchCopy.open(spool, base, chunkSizeBytes, async (start, end) => {
      const parts: Buffer[] = [];
      for await (const part of this.deps.client.createReadStream(this.path(), {
        version,
        start,
        end: end - 1,
      }))
        parts.push(part as Buffer);
      return Buffer.concat(parts);
    });
  }

  /** Base chunks this handle read into its copy (0 without a chunk-by-chunk copy). */
  get chunksLoaded(): number {
    return this.patch?.loads ?? 0;
  }

  /** Created by this handle: the first commit creates the file (even empty, as `touch` wants). */
  markNew(): void {
    this.dirty = true;
  }

  /** The name is about to be removed: keep the content readable through this handle. */
  orphan(): Promise<void> {
    return this.serial(async () => {
      await this.ensureSpool(true);
      // The name, and with it the base version, is about to go: hold every byte here.
      await this.patch?.materialize();
      await this.leaveOrder();
      this.orphaned = true;
      this.dirty = false;
    });
  }

  write(offset: number, data: Buffer): Promise<number> {
    return this.serial(async () => {
      const f = await this.ensureSpool(true);
      if (offset !== this.sizeBytes || this.orphaned) await this.leaveOrder();
      else if (this.inOrder && !this.upload && offset + data.byteLength > STREAM_MIN_BYTES) {
        this.upload = this.startUpload();
        // What the spool holds so far (at most STREAM_MIN_BYTES) goes first.
        const head = Buffer.alloc(this.sizeBytes);
        await f.read(head, head.byteLength, 0);
        await this.upload.push(head);
      }
      await Promise.all([f.write(data, offset), this.upload?.push(data)]);
      this.sizeBytes = Math.max(this.sizeBytes, offset + data.byteLength);
      this.dirty = !this.orphaned;
      this.mtimeMs = Date.now();
      delete this.pendingAttrs.mtimeMs;
      return data.byteLength;
    });
  }

  truncate(sizeBytes: number): Promise<void> {
    return this.serial(async () => {
      if (sizeBytes === this.sizeBytes && this.spool) return;
      if (sizeBytes === 0 && !this.orphaned) {
        await this.upload?.abort();
        this.upload = null;
        this.inOrder = true;
      } else await this.leaveOrder();
      const f = await this.ensureSpool(sizeBytes > 0);
      await f.truncate(sizeBytes);
      this.sizeBytes = sizeBytes;
      this.dirty = !this.orphaned;
      this.mtimeMs = Date.now();
    });
  }

  /** Commits the spool as a new version (no-op when nothing changed); resolves after the Raft commit. */
  commit(): Promise<void> {
    return this.serial(async () => {
      if (!this.dirty) return;
      const path = this.path();
      try {
        this.attrsSent = {};
        const r = (await this.finishUpload(path)) ?? (await this.commitCopy(path));
        this.inOrder = false;
        this.version = r.version;
        this.dirty = false;
        const late = changedSince(this.pendingAttrs, this.attrsSent);
        this.pendingAttrs = {};
        // A SETATTR that came after the commit was sent: rare, its own request.
        if (Object.keys(late).length > 0) await this.deps.client.setAttrs(path, late);
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (code === "VERSION_MISMATCH" || code === "CONDITION_FAILED") {
          this.deps.log(
            `raftfs mount: ${path}: not committed, changed by another writer since open (base v${this.version})`,
          );
        }
        throw err;
      }
    });
  }

  /** The attribute change to send with a commit being sent now (remembered in `attrsSent`). */
  private readonly attrsToSend = (): AttrChange => {
    this.attrsSent = { ...this.pendingAttrs };
    return this.attrsSent;
  };

  /** Starts uploading the local copy as it is written (see `inOrder`). */
  private startUpload(): StreamingUpload {
    const path = this.path();
    const lockToken = this.deps.lockTokenFor(path);
    const opts = {
      expectedVersion: this.version,
      ...fence(lockToken),
      ...(this.version === 0 && this.createAttrs ? { attrs: this.createAttrs } : {}),
      // Asked when the upload commits, after the writer's last chmod/utimens before close.
      setAttrs: this.attrsToSend,
    };
    return new StreamingUpload(
      (data) => this.deps.client.writeFile(path, data, opts),
      `${path}\0${lockToken}`,
    );
  }

  /** The writes left sequential order: the local copy alone holds them, uploaded at commit. */
  private async leaveOrder(): Promise<void> {
    this.inOrder = false;
    const up = this.upload;
    this.upload = null;
    await up?.abort();
  }

  /**
   * Commits through the upload that ran while the file was written, when there is one for this path
   * and lock; null when there is none, or it failed (the spool is committed instead). A conflict is
   * the commit's answer and is thrown.
   */
  private async finishUpload(path: string): Promise<{ version: number } | null> {
    const up = this.upload;
    this.upload = null;
    if (!up) return null;
    if (up.failed || up.key !== `${path}\0${this.deps.lockTokenFor(path)}`) {
      await up.abort();
      return null;
    }
    try {
      return await up.finish();
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code === "VERSION_MISMATCH" || code === "CONDITION_FAILED" || code === "LOCKED") throw err;
      this.deps.log(
        `raftfs mount: ${path}: upload while writing failed (${(err as Error).message}); retrying from the local copy`,
      );
      return null;
    }
  }

  /** The local copy as the next version: a patch of the base's chunks, or the whole content. */
  private async commitCopy(path: string): Promise<{ version: number }> {
    const patch = this.patch;
    if (patch && patch.sizeBytes > this.deps.client.options.inlineThresholdBytes) {
      const r = await this.deps.patcher.commit(path, patch.chunks(), {
        expectedVersion: this.version,
        knownChunks: patch.knownChunks(),
        ...fence(this.deps.lockTokenFor(path)),
        setAttrs: this.attrsToSend,
      });
      // The copy's base is now an older version: the next write starts a copy of the new one.
      await this.spool?.close();
      this.spool = null;
      this.patch = null;
      return r;
    }
    // Small enough to be inline: the whole content goes, as any write's.
    await patch?.materialize();
    return this.deps.client.writeFile(path, this.spool ? this.spool.source() : Buffer.alloc(0), {
      expectedVersion: this.version,
      ...(await this.baseChunks(path)),
      ...fence(this.deps.lockTokenFor(path)),
      ...(this.version === 0 && this.createAttrs ? { attrs: this.createAttrs } : {}),
      setAttrs: this.attrsToSend,
    });
  }

  /**
   * The chunks of the version this handle is based on, so that a small write into a large file
   * stores only the chunks it touched (the rest hash the same and are listed as they are).
   */
  private async baseChunks(path: string): Promise<{ knownChunks?: ReadonlySet<string> }> {
    if (this.version === 0 || !this.spool) return {};
    // Unreadable base (gone, unreachable): store everything; the commit's compare-and-set decides.
    const base = await this.deps.client.fileInfo(path, { version: this.version }).catch(() => null);
    if (base === null || base.content.kind !== "chunks") return {};
    return { knownChunks: new Set(base.content.chunks.map((c) => c.id)) };
  }

  /** Drops the spool (after the final commit attempt). */
  close(): Promise<void> {
    return this.serial(async () => {
      await this.leaveOrder();
      await this.stream?.iterator.return?.();
      this.stream = null;
      this.whole = null;
      await this.spool?.close();
      this.spool = null;
      this.patch = null;
    });
  }
}
