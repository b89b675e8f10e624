/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core): it shows the three
 * replicas, follows the leader, and shows a killed replica as down. Saves a screenshot as an artifact.
 */
import { afterAll, describe, expect, test } from "vitest";
import { ARTIFACTS, launchChromium, openDashboard } from "../support/browser.js";
import { MetaCluster } from "../support/meta-procs.js";

let cluster: MetaCluster | null = null;
afterAll(async () => {
  await cluster?.stop();
});

describe("dashboard", () => {
  test("shows replicas and follows a kill -9 of one of them", async () => {
    cluster = await MetaCluster.start();
    const c = cluster;
    const leader = await c.leader();
    const follower = c.ids.find((id) => id !== leader)!;
    const victim = c.ids.find((id) => id !== leader && id !== follower)!;
    const browser = await launchChromium();
    try {
      // Served by a follower: the page must find the leader by itself.
      const page = await openDashboard(browser, c.url(follower), { token: null });
      const row = (id: number) => page.locator(`#meta tr[data-id="${id}"]`);
      await expect.poll(async () => page.locator("#meta tbody tr").count(), { timeout: 15_000 }).toBe(3);
      await expect
        .poll(async () => row(leader).locator("td").nth(2).textContent(), { timeout: 15_000 })
        .toBe("leader");
      await expect
        .poll(async () => row(victim).locator("td").nth(3).textContent(), { timeout: 15_000 })
        .toBe("voter");
      await expect
        .poll(async () => row(victim).locator("td").last().textContent(), { timeout: 15_000 })
        .toBe("alive");

      await c.kill(victim);
      await expect
        .poll(async () => row(victim).locator("td").last().textContent(), { timeout: 15_000 })
        .toBe("down");
      const events = await page.locator("#events tbody").textContent();
      expect(events).toContain(`replica ${leader} leads`);
      await page.screenshot({ path: `${ARTIFACTS}/dashboard.png`, fullPage: true });
    } finally {
      await browser.close();
    }
  });
});
