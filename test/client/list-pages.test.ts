/**
 * Directory listings in pages through the client library, against one real metadata replica in this
 * process: `readdir` still returns a whole directory bigger than the server's page; `readdir` with
 * `limit`/`startAfter`, `listPages` and `list()` walk it a page at a time and concatenate to the full
 * sorted listing (a fast-check property over random names and page sizes); and a walk over a
 * directory that changes between pages lists no name twice and every entry present throughout.
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { LIST_PAGE_MAX } from "../../src/common/protocol/index.js";
import { type OneReplica, startOneReplica } from "../support/one-replica.js";

let server: OneReplica;
let fs: RaftfsClient;

beforeAll(async () => {
  server = await startOneReplica("list-pages");
  fs = await connect({ config: server.configPath });
}, 60_000);
afterAll(async () => {
  await fs?.close();
  await server?.stop();
}, 30_000);

/** Creates `names` under `dir`, 32 at a time (bounded: they share the replica's group commit). */
async function populate(dir: string, names: readonly string[]): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (let i = 0; i < names.length; i += 32) {
    await Promise.all(
      names
        .slice(i, i + 32)
        .map((n, j) => (j % 2 ? fs.mkdir(`${dir}/${n}`) : fs.writeFile(`${dir}/${n}`, n))),
    );
  }
}

/** C0, DEL and C1 are refused in names (common/paths.ts). */
const isControl = (c: string) => {
  const code = c.charCodeAt(0);
  return c.length === 1 && (code < 0x20 || (code >= 0x7f && code <= 0x9f));
};
/** Names a directory can hold: any Unicode but "/" and controls, not "." or "..", ≤ 255 UTF-8 bytes. */
const fileName = fc
  .string({ unit: "grapheme", minLength: 1, maxLength: 10 })
  .filter((s) => ![...s].some((c) => c === "/" || isControl(c)) && s !== "." && s !== "..");

describe("listing in pages through the library", () => {
  test("readdir returns a directory bigger than the server's page whole; list() and one-page readdir agree", async () => {
    const names = Array.from({ length: LIST_PAGE_MAX + 37 }, (_, i) => `f${String(i).padStart(5, "0")}`);
    await populate("/big", names);
    expect(await fs.readdir("/big")).toEqual(names);
    const typed = await fs.readdir("/big", { withTypes: true });
    expect(typed.map((e) => [e.name, e.type])).toEqual(
      names.map((n, i) => [n, (i % 32) % 2 ? "dir" : "file"]),
    );

    // One page: the server's maximum at most, and the cursor to go on from.
    const first = await fs.listPage("/big", { limit: 5000 });
    expect(first.entries.length).toBe(LIST_PAGE_MAX);
    expect(first).toMatchObject({ truncated: true, nextCursor: names[LIST_PAGE_MAX - 1] });
    expect(await fs.readdir("/big", { limit: 3, startAfter: "f00010" })).toEqual([
      "f00011",
      "f00012",
      "f00013",
    ]);
    expect(await fs.readdir("/big", { startAfter: names.at(-1) })).toEqual([]);

    const walked: string[] = [];
    for await (const e of fs.list("/big")) walked.push(e.name);
    expect(walked).toEqual(names);
    // Stopping early requests no more pages.
    const before = server.listRequests();
    for await (const e of fs.list("/big", { pageSize: 10 })) if (e.name === "f00004") break;
    expect(server.listRequests() - before).toBe(1);
  });

  test("property: pages of any size concatenate to the full sorted listing, each page within its size", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fileName, { minLength: 0, maxLength: 40 }),
        fc.integer({ min: 1, max: 45 }),
        async (names, pageSize) => {
          const dir = `/prop/r${run++}`;
          await populate(dir, names);
          const sorted = [...names].sort();
          expect(await fs.readdir(dir)).toEqual(sorted);

          const pages: string[][] = [];
          for await (const p of fs.listPages(dir, { pageSize })) pages.push(p.entries.map((e) => e.name));
          expect(pages.flat()).toEqual(sorted);
          expect(pages.every((p) => p.length <= pageSize)).toBe(true);
          expect(pages.length).toBe(Math.max(1, Math.ceil(sorted.length / pageSize)));

          // By hand, as an fs-like caller would: one page at a time until an empty one.
          const byHand: string[] = [];
          for (let i = 0; i <= sorted.length; i++) {
            const last = byHand.at(-1);
            const page = await fs.readdir(dir, {
              limit: pageSize,
              ...(last !== undefined ? { startAfter: last } : {}),
            });
            if (page.length === 0) break;
            byHand.push(...page);
          }
          expect(byHand).toEqual(sorted);
        },
      ),
      { numRuns: 25 },
    );
  }, 120_000);

  test("changes between pages: no name is listed twice, and every entry present throughout is listed", async () => {
    const stable = Array.from({ length: 60 }, (_, i) => `s${String(i).padStart(3, "0")}`);
    const doomed = Array.from({ length: 30 }, (_, i) => `s${String(i * 2).padStart(3, "0")}x`);
    await populate("/moving", [...stable, ...doomed]);
    const seen: string[] = [];
    let step = 0;
    for await (const e of fs.list("/moving", { pageSize: 7 })) {
      seen.push(e.name);
      if (seen.length % 7 !== 0) continue;
      // Between pages: names appear before and after the cursor, and others go away, on both sides.
      step++;
      await fs.writeFile(`/moving/s${String(step * 9).padStart(3, "0")}n`, "new");
      await fs.writeFile(`/moving/a${step}`, "behind the cursor");
      await fs.rm(`/moving/${doomed[(step * 7) % doomed.length]}`).catch(() => undefined);
    }
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen).toEqual([...seen].sort());
    for (const name of stable) expect(seen).toContain(name);
  });
});
