/**
 * Debian's chromium for the dashboard tests, driven by playwright-core: one launch with the flags that
 * keep it headless and off every network but the test's loopback, and one folder for screenshots.
 */
import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

export const CHROMIUM = process.env.RAFTFS_CHROMIUM ?? "/usr/bin/chromium";
/** Screenshots (git-ignored). */
export const ARTIFACTS = "test-artifacts";

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    throw new Error(
      `${CHROMIUM} is missing: \`npm test\` installs it (test/support/ensure-system-packages.ts), or \`sudo apt-get install chromium\``,
    );
  }
  mkdirSync(ARTIFACTS, { recursive: true });
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

/**
 * A dashboard page at `url` in a window `widthPx` wide, with `token` typed into the token box (kept in
 * sessionStorage only) and its role shown; an error thrown in the page fails the test. Every
 * dashboard test opens its pages here, so they all see the page the same way.
 */
export async function openDashboard(
  browser: Browser,
  url: string,
  opts: { token: string | null; widthPx?: number; heightPx?: number },
): Promise<Page> {
  const page = await browser.newPage({
    viewport: { width: opts.widthPx ?? 1400, height: opts.heightPx ?? 900 },
    acceptDownloads: true,
  });
  page.on("pageerror", (err) => {
    throw err;
  });
  await page.goto(url);
  if (opts.token !== null) {
    await page.fill("#token", opts.token);
    await page.press("#token", "Enter");
    // A string, evaluated in the page (this file is compiled without the DOM's types).
    await page.waitForFunction('document.querySelector("#role")?.textContent?.includes("role")', undefined, {
      timeout: 20_000,
    });
  }
  return page;
}
