/**
 * The listing route in pages (src/meta/app.ts) through fastify's `inject()`, over a fake replica whose
 * directory is a sorted array: no answer carries more than LIST_PAGE_MAX entries nor asks the state for
 * more than one past it, pages walked by cursor concatenate to the whole listing, and a hostile limit
 * or cursor is refused with 400 before the state is read. (Through the library and a real replica:
 * test/client/list-pages.test.ts.)
 */
import fc from "fast-check";
import Fastify from "fastify";
import { Agent } from "undici";
import { afterAll, describe, expect, test } from "vitest";
import { DfsError } from "../../src/common/errors.js";
import { LIST_PAGE_MAX, type ListResponse, META_ROUTES } from "../../src/common/protocol/index.js";
import { buildMetaServer } from "../../src/meta/app.js";
import type { FsQueries, ReplicaApi } from "../../src/meta/replica-api.js";

/** What the state was asked: the route must bound `limit` before the state sees it. */
interface Asked {
  path: string;
  limit: number | undefined;
  startAfter: string | undefined;
}

function fakeReplica(dir: { names: string[]; asked: Asked[] }): ReplicaApi {
  const queries = {
    // As the state answers (src/meta/state/queries.ts): names after the cursor, sorted, `limit` of them.
    listAsync: async (path: string, opts: { limit?: number; startAfter?: string } = {}) => {
      dir.asked.push({ path, limit: opts.limit, startAfter: opts.startAfter });
      const after = opts.startAfter;
      const names = [...dir.names].sort().filter((n) => after === undefined || n > after);
      return names
        .slice(0, opts.limit ?? names.length)
        .map((name) => ({ name, path: `/d/${name}`, type: "file", modifiedAtMs: 1 }));
    },
  } as unknown as FsQueries;
  const fail = () => {
    throw new DfsError("INTERNAL", "not used by the listing route");
  };
  return {
    feed: { wait: fail },
    events: { add: fail, recent: () => [] },
    fs: { dataNodeState: () => "active" },
    tracker: null,
    isLeader: () => true,
    notLeader: () => new DfsError("NOT_LEADER", "no"),
    mutate: fail,
    read: async <T>(_stale: boolean, query: (fs: FsQueries) => T) => ({ value: query(queries), index: 1 }),
    status: fail,
    dataStatus: fail,
    addMetaReplica: fail,
    removeMetaReplica: fail,
    decommissionDataNode: fail,
    removeDataNode: fail,
  } as unknown as ReplicaApi;
}

const dir = { names: [] as string[], asked: [] as Asked[] };
const dispatcher = new Agent();
const app = buildMetaServer(
  {
    secret: "list-route-secret-0123456789",
    inlineThresholdBytes: 1024,
    replication: 1,
    chunkSizeBytes: 65536,
    bodyLimitBytes: 65536,
  },
  { replica: fakeReplica(dir), dispatcher, app: Fastify({ logger: false }) },
);
afterAll(async () => {
  await app.close();
  await dispatcher.close();
});

async function list(query: string): Promise<{ status: number; body: ListResponse & { code?: string } }> {
  const res = await app.inject({ method: "GET", url: `${META_ROUTES.list}?path=/d${query}` });
  return { status: res.statusCode, body: res.json() };
}
/** C0, DEL and C1: refused in names (common/paths.ts). */
const isControl = (c: string) => {
  const code = c.charCodeAt(0);
  return c.length === 1 && (code < 0x20 || (code >= 0x7f && code <= 0x9f));
};
const names = (r: { body: ListResponse }) => r.body.entries.map((e) => e.name);

describe("GET /v1/fs/list in pages", () => {
  test("a page says whether the listing goes on and where: the last page has no cursor", async () => {
    dir.names = ["e", "a", "d", "b", "c"];
    const first = await list("&limit=2");
    expect(first.status).toBe(200);
    expect(first.body).toMatchObject({ truncated: true, nextCursor: "b" });
    expect(names(first)).toEqual(["a", "b"]);
    const second = await list("&limit=2&startAfter=b");
    expect([names(second), second.body.truncated, second.body.nextCursor]).toEqual([["c", "d"], true, "d"]);
    const last = await list("&limit=2&startAfter=d");
    expect(last.body).toEqual({ entries: [expect.objectContaining({ name: "e" })], truncated: false });
    // Exactly one page's worth left: not truncated (the route looked one entry further).
    expect((await list("&limit=3&startAfter=b")).body.truncated).toBe(false);
    // A cursor need not name a present entry.
    expect(names(await list("&startAfter=bb"))).toEqual(["c", "d", "e"]);
    expect(await list("&startAfter=z")).toEqual({ status: 200, body: { entries: [], truncated: false } });
  });

  test("no answer holds more than LIST_PAGE_MAX entries, nor is the state asked for more than one past it", async () => {
    dir.names = Array.from({ length: LIST_PAGE_MAX + 5 }, (_, i) => `n${String(i).padStart(5, "0")}`);
    for (const query of ["", "&limit=5000", "&limit=1000000000000000"]) {
      dir.asked = [];
      const r = await list(query);
      expect(r.status, query).toBe(200);
      expect(r.body.entries.length, query).toBe(LIST_PAGE_MAX);
      expect(r.body, query).toMatchObject({ truncated: true, nextCursor: dir.names[LIST_PAGE_MAX - 1] });
      expect(dir.asked, query).toEqual([{ path: "/d", limit: LIST_PAGE_MAX + 1, startAfter: undefined }]);
    }
  });

  test("property: pages walked by cursor concatenate to the whole sorted listing, each name once", async () => {
    const name = fc.string({ unit: "grapheme", minLength: 1, maxLength: 12 }).filter(
      // What a directory can hold (common/paths.ts): no "/", no control characters, not "." or "..".
      (s) => ![...s].some((c) => c === "/" || isControl(c)) && s !== "." && s !== "..",
    );
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(name, { maxLength: 60 }),
        fc.integer({ min: 1, max: 70 }),
        async (ns, limit) => {
          dir.names = ns;
          const seen: string[] = [];
          let cursor: string | undefined;
          for (let pages = 0; pages <= ns.length + 1; pages++) {
            const q = `&limit=${limit}${cursor === undefined ? "" : `&startAfter=${encodeURIComponent(cursor)}`}`;
            const r = await list(q);
            expect(r.status).toBe(200);
            expect(r.body.entries.length).toBeLessThanOrEqual(limit);
            seen.push(...names(r));
            if (!r.body.truncated) break;
            cursor = r.body.nextCursor;
          }
          expect(seen).toEqual([...ns].sort());
        },
      ),
      { numRuns: 100 },
    );
  });

  test.each([
    ["limit=0", "&limit=0"],
    ["a negative limit", "&limit=-1"],
    ["a fractional limit", "&limit=1.5"],
    ["an exponent", "&limit=1e3"],
    ["hex", "&limit=0x10"],
    ["text", "&limit=all"],
    ["an empty limit", "&limit="],
    ["a limit past 2^53", `&limit=${"9".repeat(16)}`],
    ["17 digits", `&limit=${"9".repeat(17)}`],
    ["a cursor with a slash", "&startAfter=a%2Fb"],
    ["a cursor climbing out", "&startAfter=..%2F..%2Fetc"],
    ["a cursor '..'", "&startAfter=.."],
    ["a cursor with a control character", "&startAfter=a%0Ab"],
    ["an empty cursor", "&startAfter="],
    ["a cursor longer than a name", `&startAfter=${"x".repeat(256)}`],
    ["a cursor of 255 characters but 510 bytes", `&startAfter=${"%C3%A9".repeat(255)}`],
    ["an unknown parameter", "&offset=5"],
  ])("%s is refused with 400, and the state is not read", async (_what, query) => {
    dir.names = ["a", "b"];
    dir.asked = [];
    const r = await list(query);
    expect(r.status).toBe(400);
    expect(r.body.code).toBe("BAD_REQUEST");
    expect(dir.asked).toEqual([]);
  });
});
