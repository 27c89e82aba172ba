/**
 * The service's browser pages as a person opens them: over plain HTTP under a host name that is not
 * localhost (a server on a LAN, a container behind a name), in Debian's headless Chromium. Every asset must
 * load from the page's own origin and scheme, and the page must render.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from './support/api.js';
import { type Browser, launchBrowser, saveScreenshot, watchPage } from './support/browser.js';

const HOST = 'imgsvc.test';
const ADMIN_KEY = 'operator-key-for-the-browser';

describe('browser pages over plain HTTP under a host name', () => {
  let api: TestApi;
  let browser: Browser;
  let origin: string;
  beforeAll(async () => {
    api = await startTestApi('browser_pages', {
      API_KEYS: 'tenant-key',
      ADMIN_KEYS: ADMIN_KEY,
      PUBLIC_BASE_URL: `http://${HOST}:3000`,
    });
    origin = `http://${HOST}:${new URL(api.url).port}`;
    browser = await launchBrowser({ [HOST]: '127.0.0.1' });
  });
  afterAll(async () => {
    await browser?.close();
    await api?.close();
  });

  it('renders the landing page, with its links to the documentation and health', async () => {
    const page = await browser.newPage();
    const trouble = watchPage(page);
    const answer = await page.goto(`${origin}/`);
    expect(answer?.status()).toBe(200);
    await page.getByRole('heading', { level: 1 }).waitFor();
    const anchors = await page.locator('a').all();
    const links = await Promise.all(anchors.map((anchor) => anchor.getAttribute('href')));
    expect(links).toEqual(
      expect.arrayContaining(['/docs', '/openapi.json', '/health/ready', '/admin/queues']),
    );
    await saveScreenshot(page, 'landing');
    expect(trouble).toEqual({ failedRequests: [], errorAnswers: [], consoleErrors: [] });
    await page.close();
  });

  it('renders /docs: the reference of every operation, from /openapi.json', async () => {
    const page = await browser.newPage();
    const trouble = watchPage(page);
    const answer = await page.goto(`${origin}/docs`);
    expect(answer?.status()).toBe(200);
    await page.locator('.swagger-ui .info .title').filter({ hasText: 'Image processing service' }).waitFor();
    await page.locator('.opblock').first().waitFor();
    expect(await page.locator('.opblock').count()).toBeGreaterThanOrEqual(8);
    // Swagger UI's styles applied: its operation blocks are laid out, not bare text.
    const border = await page.evaluate("getComputedStyle(document.querySelector('.opblock')).borderStyle");
    expect(border).toBe('solid');
    await saveScreenshot(page, 'docs');
    expect(trouble).toEqual({ failedRequests: [], errorAnswers: [], consoleErrors: [] });
    expect(new Set([...(await requestedOrigins(page))])).toEqual(new Set([origin]));
    await page.close();
  });

  it("renders the operators' queue dashboard, logged in with an operator key", async () => {
    const context = await browser.newContext({ httpCredentials: { username: 'ops', password: ADMIN_KEY } });
    const page = await context.newPage();
    const trouble = watchPage(page);
    const answer = await page.goto(`${origin}/admin/queues`);
    expect(answer?.status()).toBe(200);
    await page.getByText('image-service queues').first().waitFor();
    // Every queue is listed, the tenant's own product queue among them.
    for (const queue of ['requests', 'webhooks']) {
      await page.getByText(queue, { exact: false }).first().waitFor();
    }
    await saveScreenshot(page, 'queue-dashboard');
    expect(trouble).toEqual({ failedRequests: [], errorAnswers: [], consoleErrors: [] });
    await context.close();
  });
});

/** The origins of every resource the page loaded (scripts, styles, images, fetches). */
async function requestedOrigins(page: import('playwright-core').Page): Promise<Set<string>> {
  const urls: string[] = await page.evaluate(
    "[location.href, ...performance.getEntriesByType('resource').map((entry) => entry.name)]",
  );
  return new Set(urls.map((url) => new URL(url).origin));
}
