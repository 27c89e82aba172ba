/**
 * The upload page at /upload as a catalogue keeper uses it, in headless Chromium under a host name that is
 * not localhost, against the real API and worker programs: a CSV chosen in the file input, progress followed
 * to 100%, the products with their compressed images, sizes and a failed image's reason, the result
 * downloaded, a retry; a refused file's problems by line; a header checked before anything is sent.
 * Screenshots of each step are kept under test-artifacts/screenshots/.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER } from './support/api.js';
import { type Browser, launchBrowser, type Page, saveScreenshot, watchPage } from './support/browser.js';
import {
  type HeldRequests,
  serveFilesHolding,
  startHttpServer,
  type TestHttpServer,
} from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

const HOST = 'imgsvc.test';
const PUBLIC_STAND_IN = '127.0.0.2';
const API_KEY = 'upload-page-tenant-key';

describe('the upload page', () => {
  let images: TestHttpServer;
  let service: RunningService;
  let browser: Browser;
  let folder: string;
  let origin: string;
  /** Image requests under /slow/, held until the test lets them go. */
  let held: HeldRequests;

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'upload-page-'));
    const files = new Map<string, { body: Buffer; type: string }>();
    for (const [index, name] of ['front', 'back', 'side'].entries()) {
      files.set(`/photos/${name}.jpg`, {
        body: await photoLikeJpeg(1200, 900, index + 11),
        type: 'image/jpeg',
      });
    }
    const holding = serveFilesHolding(files);
    held = holding.held;
    images = await startHttpServer(holding.handler, PUBLIC_STAND_IN);
    const port = await freePort();
    origin = `http://${HOST}:${port}`;
    service = await startService({
      PORT: String(port),
      PUBLIC_BASE_URL: origin,
      MONGO_URL: testMongoUrl('upload_page'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: join(folder, 'images'),
      API_KEYS: API_KEY,
      FETCH_ALLOW_NETWORKS: `${PUBLIC_STAND_IN}/32`,
      // Both products at once: the first finishes while the second's image is held.
      WORKER_CONCURRENCY: '2',
      WORKER_CONCURRENCY_PER_KEY: '2',
    });
    browser = await launchBrowser({ [HOST]: '127.0.0.1' });
  });
  afterAll(async () => {
    held?.release();
    await browser?.close();
    await service?.stop();
    await images?.close();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  async function csvFile(name: string, text: string): Promise<string> {
    const path = join(folder, name);
    await writeFile(path, text);
    return path;
  }

  async function openPage(): Promise<{ page: Page; trouble: ReturnType<typeof watchPage> }> {
    const context = await browser.newContext({
      acceptDownloads: true,
      viewport: { width: 1100, height: 900 },
    });
    const page = await context.newPage();
    const trouble = watchPage(page);
    expect((await page.goto(`${origin}/upload`))?.status()).toBe(200);
    await page.getByLabel('API key').fill(API_KEY);
    return { page, trouble };
  }

  it('uploads through the file input, follows progress to 100%, shows the images and downloads the result', async () => {
    const file = await csvFile(
      'catalogue.csv',
      `${CSV_HEADER}\n1,Canvas tote,"${images.url}/photos/front.jpg, ${images.url}/photos/back.jpg"\n2,Enamel mug,"${images.url}/slow/side.jpg, ${images.url}/photos/missing.jpg"\n`,
    );
    const { page, trouble } = await openPage();
    await page.getByLabel('Webhook URL').fill('');
    await page.locator('#file').setInputFiles(file);
    await saveScreenshot(page, 'upload-1-form');
    await page.getByRole('button', { name: 'Upload' }).click();

    // Under way: the first product done, the second's first image held by its server.
    await page.locator('#progress').waitFor({ state: 'visible' });
    await pollUntil(async () => (held.count > 0 ? true : undefined), {
      timeoutMs: 20_000,
      what: 'held image',
    });
    await page
      .locator('#progress-text')
      .filter({ hasText: /products 1 of 2 · images 2 of 4/ })
      .waitFor();
    await saveScreenshot(page, 'upload-2-progress');
    held.release();

    await page.locator('#progress-bar[value="100"]').waitFor({ timeout: 30_000 });
    await page.locator('#results').waitFor({ state: 'visible' });
    await page.locator('#results-summary').filter({ hasText: '3 of 4 images succeeded, 1 failed' }).waitFor();
    const rows = page.locator('#products-table tbody tr');
    await rows.nth(1).waitFor();
    expect(await rows.count()).toBe(2);
    // The compressed images, loaded from the service, with their sizes and savings.
    const thumbnails = page.locator('#products-table img');
    expect(await thumbnails.count()).toBe(3);
    await pollUntil(
      async () => {
        const widths: number[] = await page.evaluate(
          "[...document.querySelectorAll('#products-table img')].map((image) => image.naturalWidth)",
        );
        return widths.every((width) => width > 0) ? widths : undefined;
      },
      { timeoutMs: 10_000, what: 'thumbnails loaded' },
    );
    expect(await page.locator('.sizes').first().textContent()).toMatch(
      /^[\d.]+ kB → [\d.]+ kB · \d+% saved$/,
    );
    expect(await page.locator('.image.failed .error').textContent()).toBe(
      'Failed: the server answered 404 (http_404)',
    );
    await saveScreenshot(page, 'upload-3-results');

    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download the result CSV' }).click(),
    ]);
    const saved = join(folder, 'downloaded.csv');
    await download.saveAs(saved);
    const result = parse(await readFile(saved, 'utf8'), { columns: true }) as Record<string, string>[];
    expect(result.map((row) => row['Product Name'])).toEqual(['Canvas tote', 'Enamel mug']);
    expect(result[1]?.['Output Image Urls']).toMatch(new RegExp(`^${origin}/images/[0-9a-f]{64}\\.jpg, $`));

    // Retry the failed image: a new request of one image, which fails the same way.
    await page.getByRole('button', { name: 'Retry the failed images' }).click();
    await page.locator('#results-summary').filter({ hasText: '0 of 1 images succeeded, 1 failed' }).waitFor();

    // A phone's width: the page still reads.
    await page.setViewportSize({ width: 390, height: 844 });
    await saveScreenshot(page, 'upload-4-phone');
    expect(trouble).toEqual({ failedRequests: [], errorAnswers: [], consoleErrors: [] });
    await page.context().close();
  }, 90_000);

  it("shows a refused file's problems by line and column, and stores nothing", async () => {
    const file = await csvFile(
      'refused.csv',
      `${CSV_HEADER}\n1,Tote,not-a-url\ntwo,Mug,${images.url}/photos/front.jpg\n`,
    );
    const { page } = await openPage();
    await page.locator('#file').setInputFiles(file);
    await page.getByRole('button', { name: 'Upload' }).click();
    await page.locator('#problems').waitFor({ state: 'visible' });
    const cells = await page
      .locator('#problems-table tbody tr')
      .evaluateAll((rows) =>
        rows.map((row) => [...row.querySelectorAll('td')].map((cell) => cell.textContent)),
      );
    expect(cells).toEqual([
      ['2', 'Input Image Urls', expect.stringContaining('not-a-url')],
      ['3', 'S. No.', expect.stringContaining('two')],
    ]);
    expect(await page.locator('#message').textContent()).toBe('refused.csv was refused: nothing was stored.');
    await saveScreenshot(page, 'upload-5-refused');
    await page.context().close();
  });

  it('checks the header before sending, and sends nothing when a column is missing (sent with the keyboard)', async () => {
    const file = await csvFile('no-urls.csv', 'S. No.,Product Name\n1,Tote\n');
    const { page } = await openPage();
    const uploads: string[] = [];
    page.on('request', (request) => {
      if (request.url().endsWith('/api/upload')) uploads.push(request.url());
    });
    await page.locator('#file').setInputFiles(file);
    // With the keyboard alone: from the key field, Tab reaches the webhook field, then the button; Enter sends.
    await page.getByLabel('API key').focus();
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.id')).toBe('webhook-url');
    await page.keyboard.press('Tab');
    expect(await page.evaluate('document.activeElement.id')).toBe('send');
    await page.keyboard.press('Enter');
    await page.locator('#message.error').waitFor();
    expect(await page.locator('#message').textContent()).toMatch(/"Input Image Urls" is missing/);
    expect(uploads).toEqual([]);
    await page.context().close();
  });
});
