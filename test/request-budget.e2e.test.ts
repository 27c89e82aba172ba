import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { csvForm } from './support/api.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';

// The image host stands in for a public one on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens.
const IMAGE_HOST = '127.0.0.2';
const PRODUCTS = 8;
/** Each image takes this long to arrive: eight, one at a time, would take well past the budget. */
const ANSWER_MS = 700;
const BUDGET_MS = 2500;

interface Status {
  status: string;
  created_at: string;
  finished_at?: string;
  counts: {
    images: number;
    images_succeeded: number;
    images_failed: number;
    failures_by_code: Record<string, number>;
  };
}

describe("a request's time budget (REQUEST_MAX_DURATION_MS)", () => {
  let images: TestHttpServer;
  let service: RunningService;
  let storageDir: string;

  beforeAll(async () => {
    const photo = await photoLikeJpeg(320, 240, 7);
    images = await startHttpServer((_request, response) => {
      const timer = setTimeout(() => {
        response.setHeader('content-type', 'image/jpeg');
        response.end(photo);
      }, ANSWER_MS);
      response.on('close', () => clearTimeout(timer));
    }, IMAGE_HOST);
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-budget-'));
    service = await startService({
      MONGO_URL: testMongoUrl('request_budget'),
      REDIS_URL: await testRedisUrl(),
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
      WORKER_CONCURRENCY: '1',
      REQUEST_MAX_DURATION_MS: String(BUDGET_MS),
    });
  });
  afterAll(async () => {
    await service?.stop();
    await images?.close();
    if (storageDir) await rm(storageDir, { recursive: true, force: true });
  });

  it('fails the images not started within the budget as request_timeout, and completes the request', async () => {
    const rows = Array.from(
      { length: PRODUCTS },
      (_, index) =>
        `${index + 1},Product ${index + 1},http://${IMAGE_HOST}:${new URL(images.url).port}/p${index}.jpg`,
    );
    const upload = await fetch(`${service.apiUrl}/api/upload`, {
      method: 'POST',
      body: csvForm(['S. No.,Product Name,Input Image Urls', ...rows].join('\n')),
    });
    expect(upload.status).toBe(202);
    const { request_id: id } = (await upload.json()) as { request_id: string };
    const finished = await pollUntil(
      async () => {
        const status = (await (await fetch(`${service.apiUrl}/api/status/${id}`)).json()) as Status;
        return status.status === 'completed' || status.status === 'failed' ? status : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'request finished' },
    );
    expect(finished.status).toBe('completed');
    const { counts } = finished;
    const timedOut = counts.failures_by_code.request_timeout ?? 0;
    // The images started within the budget were produced; the others were not fetched at all.
    expect(timedOut).toBeGreaterThan(0);
    expect(counts.images_succeeded + timedOut).toBe(PRODUCTS);
    expect(counts.failures_by_code).toEqual({ request_timeout: timedOut });
    expect(images.hits.length).toBe(counts.images_succeeded);
    const csv = parse(await (await fetch(`${service.apiUrl}/api/download/${id}`)).text()) as string[][];
    const timedOutRows = csv.slice(1).filter((row) => (row[4] ?? '').includes('request_timeout'));
    expect(timedOutRows).toHaveLength(timedOut);
    expect(timedOutRows[0]?.[4]).toMatch(/: request_timeout \(the request ran past its time budget/);
  });
});
