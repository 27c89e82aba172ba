import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';

/** Debian's chromium (CI installs it): nothing is downloaded for the tests. */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Screenshots the browser tests keep for people to look at (git-ignored). */
export const SCREENSHOT_DIR = join(import.meta.dirname, '..', '..', 'test-artifacts', 'screenshots');

/**
 * Headless Chromium in which the given host names resolve to loopback addresses and every other name
 * fails to resolve: a page may look like it is served from `imgsvc.test`, and nothing it names leaves this
 * machine. The flags keep Chromium from calling home (the machine's network is closed).
 */
export async function launchBrowser(hosts: Readonly<Record<string, string>>): Promise<Browser> {
  const rules = [
    ...Object.entries(hosts).map(([name, address]) => `MAP ${name} ${address}`),
    'MAP * ~NOTFOUND',
  ];
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--disable-dev-shm-usage',
      `--host-resolver-rules=${rules.join(', ')}`,
    ],
  });
}

/** What went wrong while a page loaded: requests that failed or were refused, and console errors. */
export interface PageTrouble {
  readonly failedRequests: string[];
  readonly errorAnswers: string[];
  readonly consoleErrors: string[];
}

/** Starts recording a page's failed requests, error answers and console errors (CSP refusals among them). */
export function watchPage(page: Page): PageTrouble {
  const trouble: PageTrouble = { failedRequests: [], errorAnswers: [], consoleErrors: [] };
  page.on('requestfailed', async (request) => {
    const reason = request.failure()?.errorText ?? 'failed';
    // Chromium ends a no-store fetch stream read to its end (the live progress stream) as ERR_ABORTED, after
    // its answer came (microsoft/playwright#42742): that one did not fail.
    if (reason === 'net::ERR_ABORTED' && (await request.response().catch(() => null))?.ok()) return;
    trouble.failedRequests.push(`${request.url()}: ${reason}`);
  });
  page.on('response', (response) => {
    if (response.status() >= 400) trouble.errorAnswers.push(`${response.status()} ${response.url()}`);
  });
  page.on('console', (message) => {
    if (message.type() === 'error') trouble.consoleErrors.push(message.text());
  });
  page.on('pageerror', (error) => trouble.consoleErrors.push(error.message));
  return trouble;
}

/** Saves a full-page screenshot under test-artifacts/screenshots and returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}

export type { Browser, BrowserContext, Page };
