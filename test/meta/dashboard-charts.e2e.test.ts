/**
 * The dashboard's live charts and its fail-over, in a real browser against real processes: a
 * bounded load through the library makes the operations and data-node byte series rise, and killing
 * the replica that served the page (the leader) leaves a page that still polls, marks the leader
 * change on the time axis, and still browses files. Screenshots go to test-artifacts/.
 */
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { connect, type RaftfsClient } from "../../src/client/index.js";
import { ARTIFACTS, launchChromium, openDashboard } from "../support/browser.js";
import { MetaCluster } from "../support/meta-procs.js";

const CHUNK = 64 * 1024;
const POLL = { timeout: 30_000 };
/** The load's bounds: this many writes, or this long, whichever ends first. */
const LOAD_WRITES_MAX = 200;
const LOAD_MS_MAX = 20_000;

let c: MetaCluster;
let fs: RaftfsClient;
/** Reads with no chunk cache, so every read is bytes out of the data nodes. */
let reader: RaftfsClient;
let browser: Browser;

beforeAll(async () => {
  c = await MetaCluster.start({ dataNodes: 3, extra: { chunkSizeBytes: CHUNK, inlineThresholdBytes: 1024 } });
  fs = await connect({ config: c.configPath });
  reader = await connect({ config: c.configPath, cacheBytes: 0 });
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await fs?.close();
  await reader?.close();
  await c?.stop();
});

describe("dashboard charts", () => {
  test("series advance under a bounded load, and the page outlives the replica that served it", async () => {
    const leader = await c.leader();
    const page = await openDashboard(browser, c.url(leader), { token: null, heightPx: 1000 });
    const attr = async (sel: string, name: string) => Number((await page.getAttribute(sel, name)) ?? "0");
    const commits = '#c-ops path[data-series="commit"]';
    const bytesIn = '#c-bytes path[data-series="in"]';
    const bytesOut = '#c-bytes path[data-series="out"]';
    const p99 = '#c-lat path[data-series="p99"]';
    // Before any load the page draws something: the under-replicated series is a flat line at 0.
    await expect
      .poll(() => attr('#c-under path[data-series="chunks"]', "data-points"), POLL)
      .toBeGreaterThan(1);

    const payload = Buffer.alloc(2 * CHUNK + 10, 7);
    const started = Date.now();
    let sawCommits = false;
    let sawBytes = false;
    let sawOut = false;
    for (let i = 0; i < LOAD_WRITES_MAX && Date.now() - started < LOAD_MS_MAX; i++) {
      payload.writeUInt32BE(i, 0);
      await fs.writeFile(`/load/f${i % 10}`, payload, { createParents: true });
      await reader.readFile(`/load/f${i % 10}`);
      sawCommits ||= (await page.locator(commits).count()) > 0 && (await attr(commits, "data-max")) > 0;
      sawBytes ||= (await page.locator(bytesIn).count()) > 0 && (await attr(bytesIn, "data-max")) > 0;
      sawOut ||= (await page.locator(bytesOut).count()) > 0 && (await attr(bytesOut, "data-max")) > 0;
      if (sawCommits && sawBytes && sawOut && i >= 20) {
        // While the load runs: the README's picture of the charts.
        await page.screenshot({ path: `${ARTIFACTS}/charts.png`, fullPage: true });
        break;
      }
    }
    await expect.poll(() => attr(commits, "data-max"), POLL).toBeGreaterThan(0);
    await expect.poll(() => attr(bytesIn, "data-max"), POLL).toBeGreaterThan(0);
    await expect.poll(() => attr(bytesOut, "data-max"), POLL).toBeGreaterThan(0);
    // Commits took time, so the latency chart has a p99 above zero; every replica has a lag line.
    await expect.poll(() => attr(p99, "data-max"), POLL).toBeGreaterThan(0);
    expect(await attr(p99, "data-max")).toBeGreaterThanOrEqual(
      await attr('#c-lat path[data-series="p50"]', "data-max"),
    );
    await expect.poll(() => page.locator("#c-lag path[data-series^='replica ']").count(), POLL).toBe(3);
    for (const id of c.ids) {
      expect(await attr(`#c-lag path[data-series="replica ${id}"]`, "data-points")).toBeGreaterThan(1);
    }
    const pointsBefore = await attr(commits, "data-points");
    await expect.poll(() => attr(commits, "data-points"), POLL).toBeGreaterThan(pointsBefore);
    // Every axis label is drawn whole inside its chart (a long one was cut at the left edge).
    const clipped = await page.evaluate<string[]>(`[...document.querySelectorAll(".chart svg text.tick")]
      .filter((t) => t.getBBox().x < 0 || t.getBBox().x + t.getBBox().width > t.ownerSVGElement.viewBox.baseVal.width)
      .map((t) => t.closest(".chart").id + ": " + t.textContent)`);
    expect(clipped).toEqual([]);
    await page.setViewportSize({ width: 390, height: 900 });
    expect(await page.evaluate<number>("document.documentElement.scrollWidth")).toBeLessThanOrEqual(390);
    await page.screenshot({ path: `${ARTIFACTS}/charts-390.png`, fullPage: true });
    await page.setViewportSize({ width: 1400, height: 1000 });

    // The replica that served the page, and led, dies: the page turns to the others.
    await c.kill(leader);
    await expect
      .poll(async () => (await page.textContent("#summary"))?.match(/leader: replica (\d+)/)?.[1], POLL)
      .toMatch(new RegExp(`^(?!${leader}$)\\d+$`));
    await expect.poll(() => page.locator("#c-ops line.mark").count(), POLL).toBeGreaterThan(0);
    await expect
      .poll(() => page.textContent(`#meta tr[data-id="${leader}"] td:last-child`), POLL)
      .toBe("down");
    // In-page navigation needs no answer from the dead replica.
    await page.click("#nav-files");
    await expect.poll(() => page.locator('#listing tr[data-path="/load"]').count(), POLL).toBe(1);
    await page.click('#listing a:text-is("load/")');
    await expect.poll(() => page.locator("#listing tbody tr").count(), POLL).toBe(10);
    await page.screenshot({ path: `${ARTIFACTS}/files-after-failover.png`, fullPage: true });
    await page.close();
  }, 120_000);
});
