/**
 * `raftfs ls`: streams a directory page by page. Each page is written as it arrives and the next is
 * requested only once stdout took it, so the first names show at once in a directory of millions, the
 * CLI holds one page, and `ls | head` stops the listing (its closed pipe ends the command).
 */
import type { RaftfsClient } from "../client/index.js";
import { isDfsError } from "../common/errors.js";
import { baseName } from "../common/paths.js";
import type { ListEntry, ListResponse, StatResponse } from "../common/protocol/index.js";
import { type GlobalOptions, withClient } from "./context.js";
import { humanBytes, humanTime } from "./format.js";
import { type CliIo, note, writeOut } from "./io.js";

export interface LsOptions {
  long?: boolean;
  json?: boolean;
  /** Print at most this many entries, then say on stderr where to resume. */
  limit?: number;
  /** Entries per request (the server lowers it to its maximum). */
  pageSize?: number;
  /** Start after this name (what a `--limit`ed listing said to resume from). */
  startAfter?: string;
}

/** One output format, fed a page at a time. */
interface Renderer {
  page(entries: readonly ListEntry[]): string;
  end(): string;
}

function plain(): Renderer {
  return {
    page: (entries) => entries.map((e) => `${e.type === "dir" ? `${e.name}/` : e.name}\n`).join(""),
    end: () => "",
  };
}

/**
 * The `-l` table without knowing every row in advance: columns start at typical widths and only grow,
 * so rows stay aligned unless a later page holds a wider cell (as `ls -l` piped through a stream would).
 */
function long(): Renderer {
  const widths = [1, 9, 4, 19];
  const right = new Set([1]);
  let header = true;
  const row = (cells: string[]) =>
    cells
      .map((cell, i) => {
        if (i === cells.length - 1) return cell;
        widths[i] = Math.max(widths[i] ?? 0, cell.length);
        return right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]);
      })
      .join("  ");
  return {
    page(entries) {
      const lines = entries.map((e) =>
        row([
          e.type === "dir" ? "d" : e.type === "symlink" ? "l" : "-",
          e.type === "file" ? humanBytes(e.sizeBytes ?? 0) : "-",
          e.type === "file" ? `v${e.version}` : "-",
          humanTime(e.modifiedAtMs),
          e.type === "dir" ? `${e.name}/` : e.type === "symlink" ? `${e.name} -> ${e.target}` : e.name,
        ]),
      );
      if (header) lines.unshift(row(["T", "SIZE", "VER", "MODIFIED", "NAME"]));
      header = false;
      return lines.map((l) => `${l}\n`).join("");
    },
    end: () => (header ? `${row(["T", "SIZE", "VER", "MODIFIED", "NAME"])}\n` : ""),
  };
}

/** The same text as `JSON.stringify(allEntries, null, 2)`, written a page at a time. */
function json(): Renderer {
  let first = true;
  return {
    page(entries) {
      let out = "";
      for (const e of entries) {
        out += `${first ? "[\n" : ",\n"}  ${JSON.stringify(e, null, 2).replaceAll("\n", "\n  ")}`;
        first = false;
      }
      return out;
    },
    end: () => (first ? "[]\n" : "\n]\n"),
  };
}

function statEntry(s: StatResponse): ListEntry {
  return {
    name: baseName(s.path),
    path: s.path,
    type: s.type,
    ...(s.type === "file" ? { version: s.version ?? 0, sizeBytes: s.sizeBytes ?? 0 } : {}),
    ...(s.target !== undefined ? { target: s.target } : {}),
    modifiedAtMs: s.modifiedAtMs,
  };
}

/** The directory's pages, up to `--limit` entries; `ls file` shows the file, as ls does. */
async function* pagesOf(client: RaftfsClient, path: string, o: LsOptions): AsyncGenerator<ListResponse> {
  let printed = 0;
  let cursor = o.startAfter;
  for (let first = true; ; first = false) {
    const left = o.limit === undefined ? undefined : o.limit - printed;
    // Never more than `--limit` still wants: the last page's `truncated` then says if more remain.
    const want = left === undefined ? o.pageSize : Math.min(o.pageSize ?? left, left);
    let page: ListResponse;
    try {
      page = await client.listPage(path, {
        ...(want !== undefined ? { limit: want } : {}),
        ...(cursor !== undefined ? { startAfter: cursor } : {}),
      });
    } catch (err) {
      if (!(first && isDfsError(err, "NOT_A_DIRECTORY"))) throw err;
      yield { entries: [statEntry(await client.stat(path))], truncated: false };
      return;
    }
    printed += page.entries.length;
    yield page;
    if (!page.truncated || page.nextCursor === undefined || page.entries.length === 0) return;
    if (o.limit !== undefined && printed >= o.limit) return;
    cursor = page.nextCursor;
  }
}

export async function ls(io: CliIo, g: GlobalOptions, path: string, o: LsOptions): Promise<void> {
  const render = o.json ? json() : o.long ? long() : plain();
  await withClient(io, g, async (client) => {
    let last: ListResponse | undefined;
    for await (const page of pagesOf(client, path, o)) {
      last = page;
      const text = render.page(page.entries);
      if (text !== "") await writeOut(io.stdout, text);
    }
    const end = render.end();
    if (end !== "") await writeOut(io.stdout, end);
    if (o.limit !== undefined && last?.truncated && last.nextCursor !== undefined && !g.quiet) {
      note(
        io,
        `raftfs: stopped after ${o.limit} entries; more follow: --start-after ${JSON.stringify(last.nextCursor)}`,
      );
    }
  });
}
