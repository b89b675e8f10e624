/**
 * Debian's chromium for the dashboard tests, driven by playwright-core: one launch with the flags that
 * keep it headless and off every network but the test's loopback, and one folder for screenshots.
 */
import { existsSync, mkdirSync } from "node:fs";
import { type Browser, chromium } from "playwright-core";

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
