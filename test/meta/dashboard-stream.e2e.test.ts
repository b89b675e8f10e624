/**
 * The file browser with large files, the keyboard, a phone and locks, in Chromium against real
 * processes. What users rely on: a large upload goes up one chunk at a time (never one request, or
 * one buffer, of the whole file) with a progress bar, and the CLI reads back the same bytes; a
 * download is a plain link the browser saves as it arrives, for any version, that works without the
 * token but only with its unforged, unexpired ticket; the listing and its controls work by Tab and
 * Enter; a 390 px window needs no sideways scrolling; a file's page shows who holds locks on it.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { ARTIFACTS, launchChromium, openDashboard } from "../support/browser.js";
import { runCli } from "../support/cluster-harness.js";
import { MetaCluster } from "../support/meta-procs.js";

const WRITER = "writer-token-4567";
const READER = "reader-token-4567";
const CHUNK = 256 * 1024;
const POLL = { timeout: 30_000 };
/** Bounds of every Tab walk: a control further than this from the start is not keyboard-friendly. */
const TABS_MAX = 40;

let c: MetaCluster;
let fs: RaftfsClient;
let browser: Browser;

beforeAll(async () => {
  c = await MetaCluster.start({
    dataNodes: 3,
    extra: {
      chunkSizeBytes: CHUNK,
      inlineThresholdBytes: 4096,
      // The harness's 1.5 s would collect a page's first chunks while the last ones still travel:
      // uploads in flight are kept for the grace period (10 minutes by default).
      garbageGraceMs: 60_000,
      tokens: [
        { name: "writer", token: WRITER, role: "write" },
        { name: "reader", token: READER, role: "read" },
      ],
    },
  });
  fs = await connect({ config: c.configPath, token: WRITER });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await fs?.close();
  await c?.stop();
});

const bytes = (n: number, seed: number) => {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed + (i >> 12)) % 251;
  return b;
};
const follower = async () => {
  const leader = await c.leader();
  return c.ids.find((id) => id !== leader) as number;
};
/** Presses Tab until `test` holds for the focused element (a string evaluated in the page). */
async function tabTo(page: Page, test: string): Promise<void> {
  for (let i = 0; i < TABS_MAX; i++) {
    await page.keyboard.press("Tab");
    if (
      await page.evaluate<boolean>(
        `(() => { const el = document.activeElement; return !!el && (${test}); })()`,
      )
    ) {
      return;
    }
  }
  throw new Error(`${TABS_MAX} presses of Tab did not reach ${test}`);
}
const focusedId = (page: Page) => page.evaluate<string>("document.activeElement?.id ?? ''");

describe("file browser: large files", () => {
  test("a 6 MiB upload goes up chunk by chunk with a progress bar, and the CLI reads it back", async () => {
    await fs.mkdir("/big", { recursive: true });
    const content = bytes(6 * 1024 * 1024 + 4321, 5);
    const local = join(ARTIFACTS, "six.bin");
    writeFileSync(local, content);
    // From a follower: each chunk and the commit find the leader by themselves.
    const page = await openDashboard(browser, `${c.url(await follower())}/files/big`, { token: WRITER });
    const stored: number[] = [];
    const bodies: number[] = [];
    page.on("request", (r) => {
      if (r.url().includes("/v1/fs/commit")) bodies.push((r.postData() ?? "").length);
    });
    page.on("response", async (r) => {
      if (r.url().includes("/v1/dashboard/chunk") && r.status() === 200) {
        stored.push(((await r.json()) as { sizeBytes: number }).sizeBytes);
      }
    });
    await page.evaluate(`(() => {
      window.progressSeen = [];
      const bar = document.querySelector("#up-progress");
      new MutationObserver(() => window.progressSeen.push(Number(bar.value))).observe(bar, { attributes: true });
    })()`);
    await page.setInputFiles("#upload-file", local);
    await page.click('#upload-form button[type="submit"]');
    await expect.poll(() => page.textContent("#msg"), { timeout: 120_000 }).toContain("uploaded six.bin");

    const chunks = Math.ceil(content.length / CHUNK);
    expect(stored.length, "one request per chunk").toBe(chunks);
    expect(Math.max(...stored)).toBeLessThanOrEqual(CHUNK);
    expect(stored.reduce((a, b) => a + b, 0)).toBe(content.length);
    expect(Math.max(...bodies), "the commit carries the chunk list, not the bytes").toBeLessThan(CHUNK);
    const seen = await page.evaluate<number[]>("window.progressSeen");
    expect(seen.filter((v) => v > 0 && v < 100).length, "the bar moves as chunks land").toBeGreaterThan(5);
    expect(seen.at(-1)).toBe(100);

    const cli = await runCli(["cat", "/big/six.bin", "--config", c.configPath, "--token", READER], {
      timeoutMs: 60_000,
    });
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdoutBytes.equals(content), "the CLI reads back what the page uploaded").toBe(true);
    await page.close();
  }, 180_000);

  test("downloads are plain links the browser saves, for any version, with a ticket in place of the token", async () => {
    const v1 = bytes(1000, 1);
    const v2 = bytes(5 * CHUNK + 77, 2);
    await fs.writeFile("/dl.bin", v1);
    await fs.writeFile("/dl.bin", v2);
    const from = await follower();
    const page = await openDashboard(browser, `${c.url(from)}/files/dl.bin`, { token: READER });
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(2);
    for (const [version, want] of [
      [2, v2],
      [1, v1],
    ] as const) {
      const [dl] = await Promise.all([
        page.waitForEvent("download"),
        page.click(`button[data-download="${version}"]`),
      ]);
      // A link to the server, not a blob the page assembled in its own memory.
      expect(dl.url()).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1\/dashboard\/file\?t=/);
      const file = join(ARTIFACTS, `stream-v${version}.bin`);
      await dl.saveAs(file);
      expect(readFileSync(file).equals(want), `version ${version} saves as written`).toBe(true);
    }
    await page.close();

    // The link itself: asked for with a read token, followed without one.
    const ask = await request(`${c.url(from)}/v1/dashboard/download-link?path=/dl.bin&version=2`, {
      headers: { authorization: `Bearer ${READER}` },
    });
    expect(ask.statusCode).toBe(200);
    const { href } = (await ask.body.json()) as { href: string };
    const noToken = await request(`${c.url(from)}/v1/dashboard/download-link?path=/dl.bin&version=2`);
    await noToken.body.dump();
    expect(noToken.statusCode, "a link is only for a caller who may read").toBe(401);
    // A follower sends the link to the leader, which knows where the chunks are.
    const atFollower = await request(`${c.url(from)}${href}`);
    await atFollower.body.dump();
    expect(atFollower.statusCode).toBe(307);
    expect(atFollower.headers.location).toBe(`${c.url(await c.leader())}${href}`);
    // A newer version does not change what the link saves.
    await fs.writeFile("/dl.bin", "v3");
    const got = await request(`${c.url(await c.leader())}${href}`);
    expect(got.statusCode).toBe(200);
    expect(got.headers["content-disposition"]).toMatch(/^attachment/);
    expect(Buffer.from(await got.body.arrayBuffer()).equals(v2)).toBe(true);
    // A ticket changed to name another version is refused.
    const forged = href.replace(/(\?t=\d+\.)2\./, "$13.");
    expect(forged).not.toBe(href);
    const refused = await request(`${c.url(await c.leader())}${forged}`);
    expect(refused.statusCode).toBe(403);
    expect(((await refused.body.json()) as { code: string }).code).toBe("FORBIDDEN");
  }, 120_000);
  test("a download still saves every byte when the first holder of its chunks is dead", async () => {
    const content = bytes(3 * CHUNK + 11, 4);
    await fs.writeFile("/holder-down.bin", content);
    const leader = await c.leader();
    const read = await request(`${c.url(leader)}/v1/fs/read?path=/holder-down.bin`, {
      headers: { authorization: `Bearer ${READER}` },
    });
    const { content: stored } = (await read.body.json()) as { content: { chunks: { id: string }[] } };
    const loc = await request(
      `${c.url(leader)}/v1/chunks/locations?ids=${stored.chunks.map((ch) => ch.id).join(",")}`,
      { headers: { authorization: `Bearer ${READER}` } },
    );
    const { locations } = (await loc.body.json()) as { locations: Record<string, { id: number }[]> };
    const first = locations[stored.chunks[0]!.id]![0]!.id;
    const page = await openDashboard(browser, `${c.url(leader)}/files/holder-down.bin`, { token: READER });
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(1);
    // Killed just before the click: the leader still lists the node, as it does until it misses heartbeats.
    await c.killData(first);
    try {
      const [dl] = await Promise.all([
        page.waitForEvent("download"),
        page.click('button[data-download="1"]'),
      ]);
      const file = join(ARTIFACTS, "holder-down.bin");
      await dl.saveAs(file);
      expect(readFileSync(file).equals(content), "the leader fetched each chunk from another holder").toBe(
        true,
      );
      await page.close();
    } finally {
      c.launchData(first);
      await c.dataAlive([1, 2, 3]);
    }
  }, 120_000);
});

describe("file browser: keyboard, phone width, locks", () => {
  test("Tab and Enter reach and work the listing's controls, the confirmation and a download", async () => {
    await fs.writeFile("/kb/a.txt", "alpha", { createParents: true });
    await fs.writeFile("/kb/b.txt", "bravo");
    const page = await openDashboard(browser, `${c.url(await c.leader())}/files/kb`, { token: WRITER });
    await expect.poll(() => page.locator("#listing tbody tr").count(), POLL).toBe(2);
    const deleteB = `el.matches('tr[data-path="/kb/b.txt"] button[data-act="delete"]')`;
    await page.focus("#forget");
    await tabTo(page, deleteB);
    // Enter opens the confirmation with its OK focused; Escape cancels and keeps the file.
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#ask[open]").count(), POLL).toBe(1);
    await expect.poll(() => focusedId(page), { timeout: 10_000 }).toBe("ask-ok");
    await page.keyboard.press("Escape");
    await expect.poll(() => page.locator("#ask[open]").count(), POLL).toBe(0);
    expect(await fs.readFile("/kb/b.txt", { encoding: "utf8" })).toBe("bravo");
    // Focus came back to the button: Enter and Enter again delete.
    expect(
      await page.evaluate<boolean>(
        `(() => { const el = document.activeElement; return !!el && ${deleteB}; })()`,
      ),
    ).toBe(true);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#ask[open]").count(), POLL).toBe(1);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator('tr[data-path="/kb/b.txt"]').count(), POLL).toBe(0);
    await expect(fs.stat("/kb/b.txt")).rejects.toMatchObject({ code: "NOT_FOUND" });
    // The deleted row's button is gone; the keyboard stays in the view, not back at the page's top.
    await expect.poll(() => focusedId(page), { timeout: 10_000 }).toBe("files-h");

    await tabTo(page, `el.textContent === "a.txt"`);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(1);
    await expect.poll(() => focusedId(page), { timeout: 10_000 }).toBe("files-h");
    await tabTo(page, `el.matches('button[data-download="1"]')`);
    const [dl] = await Promise.all([page.waitForEvent("download"), page.keyboard.press("Enter")]);
    const file = join(ARTIFACTS, "keyboard-download.txt");
    await dl.saveAs(file);
    expect(readFileSync(file, "utf8")).toBe("alpha");
    await page.close();
  }, 90_000);

  test("a symbolic link is listed with its target, and its page says what it is", async () => {
    await fs.writeFile("/ln/a.txt", "alpha", { createParents: true });
    await fs.symlink("a.txt", "/ln/to-a");
    const page = await openDashboard(browser, `${c.url(await c.leader())}/files/ln`, { token: WRITER });
    const row = page.locator('tr[data-path="/ln/to-a"]');
    await expect.poll(() => row.count(), POLL).toBe(1);
    expect(await row.locator("td").first().textContent()).toBe("to-a → a.txt");
    // Not a page to open (the server never follows a link), but still renamed and deleted from here.
    expect(await row.locator("a[data-nav]").count()).toBe(0);
    expect(await row.locator('button[data-act="delete"]').count()).toBe(1);
    await page.goto(`${c.url(await c.leader())}/files/ln/to-a`);
    await expect
      .poll(() => page.locator("#msg").textContent(), POLL)
      .toBe("/ln/to-a is a symbolic link to a.txt");
    expect(await page.locator("#file-part").isHidden()).toBe(true);
    expect(await page.locator("#dir-part").isHidden()).toBe(true);
    await page.close();
  }, 90_000);

  test("at 390 px the listing, a file's page and the overview need no sideways scrolling", async () => {
    await fs.writeFile("/phone/a-rather-long-file-name-for-a-phone.bin", bytes(3 * CHUNK, 9), {
      createParents: true,
    });
    await fs.mkdir("/phone/sub", { recursive: true });
    const page = await openDashboard(browser, `${c.url(await c.leader())}/files/phone`, {
      token: WRITER,
      widthPx: 390,
    });
    const pageWidth = () => page.evaluate<number>("document.documentElement.scrollWidth");
    /** How far a box's content overflows it sideways (0: it fits). */
    const overflow = (sel: string) =>
      page.evaluate<number>(
        `(() => { const el = document.querySelector(${JSON.stringify(sel)}).parentElement; return el.scrollWidth - el.clientWidth; })()`,
      );
    await expect.poll(() => page.locator("#listing tbody tr").count(), POLL).toBe(2);
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    expect(await overflow("#listing"), "the listing fits without a scroll of its own").toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${ARTIFACTS}/listing-390.png`, fullPage: true });

    await page.click('#listing a:text-is("a-rather-long-file-name-for-a-phone.bin")');
    await expect
      .poll(() => page.textContent('#versions tr[data-version="1"]'), POLL)
      .toMatch(/3 chunks[\s\S]*zone/);
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    const widths = await page.evaluate<string>(
      `JSON.stringify([...document.querySelectorAll("#versions tr")].map((tr) => [...tr.children].map((td) => Math.round(td.getBoundingClientRect().width))))`,
    );
    expect(
      await overflow("#versions"),
      `the versions fit without a scroll of their own (cells ${widths})`,
    ).toBeLessThanOrEqual(0);
    await page.screenshot({ path: `${ARTIFACTS}/file-page-390.png`, fullPage: true });

    await page.click("#nav-overview");
    await expect.poll(() => page.locator("#meta tbody tr").count(), POLL).toBe(3);
    expect(await pageWidth()).toBeLessThanOrEqual(390);
    await page.close();
  }, 60_000);

  test("a file's page names the holders of its locks, and none once they are released", async () => {
    await fs.writeFile("/locked.txt", "held");
    const held = await fs.lock("/locked.txt", { mode: "shared", owner: "alice-at-desk-7" });
    const also = await fs.lock("/locked.txt", { mode: "shared", owner: "bob-in-ci-3" });
    const page = await openDashboard(browser, `${c.url(await follower())}/files/locked.txt`, {
      token: READER,
    });
    const locks = () => page.locator("#file-info dd").nth(3).textContent();
    await expect.poll(locks, POLL).toContain("shared by alice-at-desk-7");
    expect(await locks()).toContain("shared by bob-in-ci-3");
    await page.screenshot({ path: `${ARTIFACTS}/file-page-locks.png`, fullPage: true });
    await held.release();
    await also.release();
    const ex = await fs.lock("/locked.txt", { mode: "exclusive", owner: "carol-batch-1" });
    await page.reload();
    await expect.poll(locks, POLL).toContain("exclusive by carol-batch-1");
    expect(await locks()).not.toContain("alice");
    await ex.release();
    await page.reload();
    await expect.poll(locks, POLL).toBe("none");
    await page.close();
  }, 60_000);
});
