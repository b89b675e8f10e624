/**
 * Directory listings page by page (the server answers at most LIST_PAGE_MAX entries a request). The
 * cursor is the last name of the page before: what a walk guarantees while the directory changes is
 * written beside ListResponse (common/protocol/meta.ts).
 */
import { DfsError } from "../common/errors.js";
import type { ListEntry, ListResponse } from "../common/protocol/index.js";

export interface ListPageOptions {
  /** Entries per page (the server lowers it to its maximum). Default: the server's maximum. */
  limit?: number;
  /** List the names after this one (the previous page's `nextCursor`). */
  startAfter?: string;
}

export interface ListOptions {
  /** Entries per request. Default: the server's maximum. */
  pageSize?: number;
  /** Start after this name (resume a listing). */
  startAfter?: string;
}

export type FetchPage = (opts: ListPageOptions) => Promise<ListResponse>;

export function checkPageOptions(opts: ListPageOptions): void {
  if (opts.limit !== undefined && !(Number.isSafeInteger(opts.limit) && opts.limit >= 1)) {
    throw new DfsError("BAD_REQUEST", `limit must be a positive integer, not ${opts.limit}`);
  }
}

/**
 * The pages of one listing, each fetched only when the one before has been consumed, so a caller that
 * prints as it goes shows the first page while the rest is still on the server, and one that stops
 * early fetches no more.
 */
export async function* listPages(fetchPage: FetchPage, opts: ListOptions = {}): AsyncGenerator<ListResponse> {
  const limit = opts.pageSize;
  checkPageOptions({ ...(limit !== undefined ? { limit } : {}) });
  let cursor = opts.startAfter;
  for (;;) {
    const page = await fetchPage({
      ...(limit !== undefined ? { limit } : {}),
      ...(cursor !== undefined ? { startAfter: cursor } : {}),
    });
    yield page;
    if (!page.truncated) return;
    // A cursor that does not move would ask for the same page forever: a server bug, not a retry.
    if (page.nextCursor === undefined || page.nextCursor === cursor || page.entries.length === 0) {
      throw new DfsError(
        "INTERNAL",
        "the listing's cursor did not advance (truncated page without a new cursor)",
      );
    }
    cursor = page.nextCursor;
  }
}

export async function* listEntries(fetchPage: FetchPage, opts: ListOptions = {}): AsyncGenerator<ListEntry> {
  for await (const page of listPages(fetchPage, opts)) yield* page.entries;
}
