/**
 * The dashboard's file browser in a real browser (Debian's chromium through
 * playwright-core), against real replica and data-node processes with client tokens. What users rely
 * on: the page shows what the CLI and the library wrote, hands back the same bytes, writes what the
 * library then reads, hides write controls from a read token, and answers only the cluster's own
 * origins. Screenshots go to test-artifacts/ (git-ignored).
 */
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { ARTIFACTS, launchChromium, openDashboard } from "../support/browser.js";
import { runCli } from "../support/cluster-harness.js";
import { MetaCluster } from "../support/meta-procs.js";

const WRITER = "writer-token-0123";
const READER = "reader-token-0123";
const CHUNK = 64 * 1024;
const POLL = { timeout: 20_000 };

let c: MetaCluster;
let fs: RaftfsClient;
let browser: Browser;

beforeAll(async () => {
  c = await MetaCluster.start({
    dataNodes: 3,
    extra: {
      chunkSizeBytes: CHUNK,
      inlineThresholdBytes: 4096,
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

/** A page on replica `id` with `token` typed into the token box (kept in sessionStorage only). */
const open = (id: number, path: string, token: string | null, widthPx = 1400): Promise<Page> =>
  openDashboard(browser, `${c.url(id)}${path}`, { token, widthPx });

const bytes = (n: number, seed: number) =>
  Buffer.from(Array.from({ length: n }, (_, i) => (i * 31 + seed) % 251));

describe("file browser", () => {
  test("browses by clicks to a file the CLI put and downloads every version byte for byte", async () => {
    const big = bytes(3 * CHUNK + 123, 7);
    const small = bytes(1000, 3);
    await fs.mkdir("/docs/deep", { recursive: true });
    await fs.writeFile("/docs/deep/big.bin", small);
    // The second version as a user would put it: `raftfs put` from a local file.
    const local = join(ARTIFACTS, "put-by-cli.bin");
    writeFileSync(local, big);
    const put = await runCli(
      ["put", local, "/docs/deep/big.bin", "--config", c.configPath, "--token", WRITER],
      { timeoutMs: 60_000 },
    );
    expect(put.code, put.stderr).toBe(0);
    const leader = await c.leader();
    const follower = c.ids.find((id) => id !== leader)!;
    const page = await open(follower, "/files/", WRITER);
    await page.click('#listing a:text-is("docs/")');
    await page.click('#listing a:text-is("deep/")');
    await expect.poll(() => page.textContent("#crumbs"), POLL).toContain("deep");
    const row = page.locator('#listing tr[data-path="/docs/deep/big.bin"]');
    await expect.poll(() => row.locator("td").nth(3).textContent(), POLL).toBe("2");
    await row.locator("a").click();
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(2);
    // The chunked version names its four chunks and their holders in their zones.
    await expect
      .poll(() => page.textContent('#versions tr[data-version="2"]'), POLL)
      .toMatch(/4 chunks[\s\S]*zone/);
    for (const [version, want] of [
      [2, big],
      [1, small],
    ] as const) {
      const [dl] = await Promise.all([
        page.waitForEvent("download"),
        page.click(`button[data-download="${version}"]`),
      ]);
      const file = join(ARTIFACTS, `download-v${version}.bin`);
      await dl.saveAs(file);
      expect(readFileSync(file).equals(want), `version ${version} downloads as written`).toBe(true);
    }
    await page.screenshot({ path: `${ARTIFACTS}/file-page.png`, fullPage: true });
    await page.close();
  }, 90_000);

  test("uploads a file the library reads back, and the version list grows with each write", async () => {
    await fs.mkdir("/up", { recursive: true });
    const page = await open(await c.leader(), "/files/up", WRITER);
    const content = bytes(3000, 11);
    const local = join(ARTIFACTS, "upload-me.bin");
    writeFileSync(local, content);
    await page.setInputFiles("#upload-file", local);
    await page.click('#upload-form button[type="submit"]');
    await expect.poll(() => page.textContent("#msg"), POLL).toContain("uploaded upload-me.bin");
    expect(await page.getAttribute("#up-progress", "value")).toBe("100");
    expect((await fs.readFile("/up/upload-me.bin")).equals(content)).toBe(true);

    await page.click('#listing a:text-is("upload-me.bin")');
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(1);
    // A second version through the page, a third through the library: the list shows both.
    writeFileSync(local, bytes(2000, 12));
    await page.setInputFiles("#version-file", local);
    await page.click('#version-form button[type="submit"]');
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(2);
    await fs.writeFile("/up/upload-me.bin", "third");
    await page.reload();
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(3);
    expect(await fs.readFile("/up/upload-me.bin", { encoding: "utf8" })).toBe("third");
    await page.close();
  }, 90_000);

  test("a file deleted and uploaded again from the page commits once the cluster revives its chunks", async () => {
    await fs.mkdir("/again", { recursive: true });
    const content = bytes(3 * CHUNK + 5, 21);
    const local = join(ARTIFACTS, "again.bin");
    writeFileSync(local, content);
    const page = await open(await c.leader(), "/files/again", WRITER);
    const uploadOnce = async () => {
      await page.evaluate('document.querySelector("#msg").textContent = ""');
      await page.setInputFiles("#upload-file", local);
      await page.click('#upload-form button[type="submit"]');
      await expect.poll(() => page.textContent("#msg"), POLL).toMatch(/uploaded again\.bin|.{20,}/);
      return page.textContent("#msg");
    };
    expect(await uploadOnce()).toBe("uploaded again.bin");
    await fs.rm("/again/again.bin");
    // Wait until the grace period (1.5 s here) has passed and the data nodes hold none of its chunks.
    const ids: string[] = [];
    for (let at = 0; at < content.length; at += CHUNK) {
      ids.push(
        createHash("sha256")
          .update(content.subarray(at, at + CHUNK))
          .digest("hex"),
      );
    }
    const held = async () => {
      const res = await request(`${c.url(await c.leader())}/v1/chunks/locations?ids=${ids.join(",")}`, {
        headers: { authorization: `Bearer ${WRITER}` },
      });
      const body = (await res.body.json()) as { locations?: Record<string, unknown[]> };
      return Object.values(body.locations ?? {}).reduce((n, l) => n + l.length, 0);
    };
    await expect.poll(held, { timeout: 30_000 }).toBe(0);
    // The same bytes again: stored afresh, and the commit waits for the cluster to see them back.
    expect(await uploadOnce()).toBe("uploaded again.bin");
    expect((await fs.readFile("/again/again.bin")).equals(content)).toBe(true);
    await page.close();
  }, 90_000);

  test("mkdir, rename and a confirmed delete, and a listing read in pages", async () => {
    await fs.mkdir("/many", { recursive: true });
    for (let i = 0; i < 7; i++) await fs.writeFile(`/many/f${i}`, `n${i}`);
    const page = await open(await c.leader(), "/files/many?limit=3", WRITER);
    await expect.poll(() => page.locator("#listing tbody tr").count(), POLL).toBe(3);
    await page.click("#more");
    await expect.poll(() => page.locator("#listing tbody tr").count(), POLL).toBe(6);
    await page.click("#more");
    await expect.poll(() => page.locator("#listing tbody tr").count(), POLL).toBe(7);
    expect(await page.isVisible("#more")).toBe(false);

    await page.fill("#mkdir-name", "sub");
    await page.press("#mkdir-name", "Enter");
    await expect.poll(async () => (await fs.stat("/many/sub").catch(() => null))?.type, POLL).toBe("dir");

    await page.locator('tr[data-path="/many/f0"] button[data-act="rename"]').click();
    await page.fill("#ask-input", "/many/renamed");
    await page.click("#ask-ok");
    await expect
      .poll(() => fs.readFile("/many/renamed", { encoding: "utf8" }).catch(() => null), POLL)
      .toBe("n0");

    // Cancel keeps the file; OK deletes it.
    await page.locator('tr[data-path="/many/f1"] button[data-act="delete"]').click();
    await page.click("#ask-cancel");
    await page.locator('tr[data-path="/many/f1"] button[data-act="delete"]').click();
    await page.click("#ask-ok");
    await expect.poll(() => page.locator('tr[data-path="/many/f1"]').count(), POLL).toBe(0);
    await expect(fs.stat("/many/f1")).rejects.toMatchObject({ code: "NOT_FOUND" });
    expect(await fs.readFile("/many/f2", { encoding: "utf8" })).toBe("n2");
    await page.close();
  }, 90_000);

  test("a read token browses and downloads but sees no write control", async () => {
    await fs.writeFile("/ro.txt", "read only");
    const page = await open(await c.leader(), "/files/", READER);
    await expect.poll(() => page.locator('#listing tr[data-path="/ro.txt"]').count(), POLL).toBe(1);
    expect(await page.textContent("#role")).toContain("role read");
    const visibleWriteControls = async () =>
      page.locator("#mkdir-form:visible, #upload-form:visible, button[data-act]:visible").count();
    expect(await visibleWriteControls()).toBe(0);
    await page.locator('#listing a:text-is("ro.txt")').click();
    await expect.poll(() => page.locator("#versions tbody tr").count(), POLL).toBe(1);
    expect(
      await page.locator("#version-form:visible, #file-delete:visible, #file-rename:visible").count(),
    ).toBe(0);
    await page.screenshot({ path: `${ARTIFACTS}/file-browser-read-token.png`, fullPage: true });
    await page.close();
  }, 60_000);

  test("at phone width the listing and its controls fit and are reachable by keyboard", async () => {
    const page = await open(await c.leader(), "/files/docs", WRITER, 390);
    await expect.poll(() => page.locator("#listing tbody tr").count(), POLL).toBe(1);
    // The document does not scroll sideways: wide tables scroll inside their own box.
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    // Tab from the token box reaches the listing's first link; Enter opens it.
    await page.focus("#forget");
    let reached = false;
    for (let i = 0; i < 12 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate<boolean>('document.activeElement?.textContent === "deep/"');
    }
    expect(reached).toBe(true);
    await page.keyboard.press("Enter");
    await expect.poll(() => page.textContent("#crumbs"), POLL).toContain("deep");
    await page.screenshot({ path: `${ARTIFACTS}/file-browser-390.png`, fullPage: true });
    await page.close();
  }, 60_000);

  test("the API answers cross-origin calls from the cluster's own pages only", async () => {
    const [a, b] = c.ids;
    const preflight = (origin: string) =>
      request(`${c.url(a!)}/v1/fs/mkdir`, {
        method: "OPTIONS",
        headers: {
          origin,
          "access-control-request-method": "POST",
          "access-control-request-headers": "authorization",
        },
      });
    const ours = await preflight(c.url(b!));
    await ours.body.dump();
    expect(ours.headers["access-control-allow-origin"]).toBe(c.url(b!));
    const theirs = await preflight("http://evil.example");
    await theirs.body.dump();
    expect(theirs.headers["access-control-allow-origin"]).toBeUndefined();
  });
});
