/**
 * Listing keys in S3's order over a directory tree. S3 lists keys by their bytes; a depth-first walk
 * with each directory's children sorted by name would not (`a-b` sorts before `a/x`, but a child dir
 * `a` sorts before `a-b`), so children are sorted by their key with a directory's key ending in `/`.
 * The walk is lazy and prunes: it enters only directories that can hold keys under the prefix and past
 * the marker, and with the `/` delimiter a directory below the prefix is one common prefix, never
 * entered. Pages resume from a marker (the last key or common prefix), so the gateway stays stateless.
 */
import { isDfsError } from "../common/errors.js";
import type { ListEntry } from "../common/protocol/index.js";
import { S3Error } from "./errors.js";
import { etagOf, isDeleteMarker, VERSIONING_MARKER } from "./keys.js";
import type { S3Request } from "./types.js";

export interface ListedKey {
  kind: "key";
  key: string;
  entry: ListEntry;
}
export interface ListedPrefix {
  kind: "prefix";
  prefix: string;
}
export type Listed = ListedKey | ListedPrefix;

export interface WalkOptions {
  prefix: string;
  delimiter: string;
  /** Only keys after this one... */
  after: string | undefined;
  /** ...and none starting with it (resuming after a common prefix). */
  afterIsPrefix: boolean;
  /** List keys whose latest version is a delete marker too (ListObjectVersions does). */
  withDeleted?: boolean;
}

/** Whether a listed file's latest version is a delete marker: only 0-byte entries can be, one read each. */
async function deleted(req: S3Request, e: ListEntry): Promise<boolean> {
  if (e.sizeBytes !== 0) return false;
  try {
    return isDeleteMarker(await req.client.fileInfo(e.path));
  } catch (err) {
    if (isDfsError(err, "NOT_FOUND")) return true; // gone since it was listed
    throw err;
  }
}

async function children(req: S3Request, dirPath: string): Promise<ListEntry[]> {
  try {
    return await req.client.readdir(dirPath, { withTypes: true });
  } catch (err) {
    // A directory removed (or replaced by a file) since its parent was read: nothing to list there.
    if (isDfsError(err, "NOT_FOUND") || isDfsError(err, "NOT_A_DIRECTORY")) return [];
    throw err;
  }
}

function pastMarker(key: string, o: WalkOptions): boolean {
  if (o.after === undefined) return true;
  if (o.afterIsPrefix && key.startsWith(o.after)) return false;
  return key > o.after;
}

/** Every key (and, with a delimiter, common prefix) in order, from `bucketDir`. */
export async function* walk(req: S3Request, bucketDir: string, o: WalkOptions): AsyncGenerator<Listed> {
  let lastPrefix: string | null = null;
  for await (const item of walkDir(req, bucketDir, "", o)) {
    if (item.kind === "prefix") {
      if (item.prefix !== lastPrefix) yield item;
      lastPrefix = item.prefix;
      continue;
    }
    if (o.delimiter !== "") {
      const at = item.key.indexOf(o.delimiter, o.prefix.length);
      if (at >= 0) {
        const prefix = item.key.slice(0, at + o.delimiter.length);
        if (prefix !== lastPrefix && pastMarker(prefix, o)) yield { kind: "prefix", prefix };
        lastPrefix = prefix;
        continue;
      }
    }
    yield item;
  }
}

async function* walkDir(
  req: S3Request,
  dirPath: string,
  keyPrefix: string,
  o: WalkOptions,
): AsyncGenerator<Listed> {
  const items = (await children(req, dirPath))
    // The bucket's versioning marker is the gateway's, never a key.
    .filter((e) => keyPrefix !== "" || e.name !== VERSIONING_MARKER)
    .map((e) => ({ e, key: keyPrefix + e.name + (e.type === "dir" ? "/" : "") }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const { e, key } of items) {
    if (e.type === "dir") {
      if (!(key.startsWith(o.prefix) || o.prefix.startsWith(key))) continue;
      if (o.after !== undefined) {
        // Every key below starts with `key`: all of them sort before the marker, or all share it.
        if (key <= o.after && !o.after.startsWith(key)) continue;
        if (o.afterIsPrefix && key.startsWith(o.after)) continue;
      }
      if (o.delimiter === "/" && key.startsWith(o.prefix) && key.length > o.prefix.length) {
        const at = key.indexOf("/", o.prefix.length);
        const prefix = key.slice(0, at + 1);
        if (prefix === key) {
          if (pastMarker(prefix, o)) yield { kind: "prefix", prefix };
          continue;
        }
      }
      yield* walkDir(req, e.path, key, o);
    } else if (e.type === "file" && key.startsWith(o.prefix) && pastMarker(key, o)) {
      if (!o.withDeleted && (await deleted(req, e))) continue;
      yield { kind: "key", key, entry: e };
    }
  }
}

/** Up to `max` items, and whether more follow. */
export async function page(
  req: S3Request,
  bucketDir: string,
  o: WalkOptions,
  max: number,
): Promise<{ items: Listed[]; truncated: boolean }> {
  const items: Listed[] = [];
  if (max === 0) return { items, truncated: false };
  const it = walk(req, bucketDir, o);
  try {
    for await (const item of it) {
      if (items.length === max) return { items, truncated: true };
      items.push(item);
    }
  } finally {
    await it.return(undefined);
  }
  return { items, truncated: false };
}

/** The ETags of listed keys: one metadata read each, at most `concurrency` at once. */
export async function etagsOf(
  req: S3Request,
  bucketDir: string,
  keys: ListedKey[],
  concurrency = 16,
): Promise<string[]> {
  const out: string[] = new Array(keys.length).fill('""');
  let next = 0;
  const worker = async () => {
    while (next < keys.length) {
      const i = next++;
      try {
        out[i] = etagOf(await req.client.fileInfo(`${bucketDir}/${keys[i]!.key}`));
      } catch (err) {
        if (!isDfsError(err, "NOT_FOUND")) throw err; // deleted since it was listed
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
  return out;
}

export function maxKeysOf(req: S3Request, name = "max-keys"): number {
  const raw = req.query.get(name);
  if (raw === undefined) return 1000;
  const n = Number(raw);
  if (!/^\d+$/.test(raw) || !Number.isSafeInteger(n))
    throw new S3Error("InvalidArgument", `${name} must be a non-negative integer`);
  return Math.min(n, 1000);
}

export function encodeToken(after: string, isPrefix: boolean): string {
  return Buffer.from(JSON.stringify({ a: after, p: isPrefix })).toString("base64url");
}

export function decodeToken(token: string): { after: string; isPrefix: boolean } {
  try {
    const v = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as { a?: unknown; p?: unknown };
    if (typeof v.a === "string" && typeof v.p === "boolean") return { after: v.a, isPrefix: v.p };
  } catch {
    // falls through to the refusal
  }
  throw new S3Error("InvalidArgument", "the continuation token provided is incorrect");
}
