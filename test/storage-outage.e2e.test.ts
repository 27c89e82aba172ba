import { readdir, rm } from 'node:fs/promises';
import { freePort } from '@imgsvc/local-services';
import { createRedisConnection, jobIds, openQueues } from '@imgsvc/queue';
import { describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm, problemOf } from './support/api.js';
import { serveFiles, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService, storageWaits } from './support/programs.js';
import { testMongoUrl, testRedisUrl } from './support/servers.js';
import { mountTmpfs } from './support/tmpfs.js';

// The image server stands in for a public host on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens.
const IMAGE_HOST = '127.0.0.2';
const PHOTOS = ['/one.jpg', '/two.jpg', '/three.jpg'];

interface Status {
  status: string;
  counts: Record<string, number>;
}

describe('a storage disk that fills up while a request runs', () => {
  it('keeps the request waiting with no image failed, says so in readiness and metrics, and completes once space is freed', async () => {
    // A disk of its own, a few megabytes, that the test fills for real.
    const disk = await mountTmpfs(4 * 1024 * 1024);
    let images: TestHttpServer | undefined;
    let service: RunningService | undefined;
    const redisUrl = await testRedisUrl();
    const queueConnection = createRedisConnection(redisUrl, 'producer');
    const queues = openQueues(queueConnection);
    try {
      const photos = new Map<string, { body: Buffer; type: string }>();
      for (const [index, path] of PHOTOS.entries()) {
        photos.set(path, { body: await photoLikeJpeg(320, 240, 40 + index), type: 'image/jpeg' });
      }
      images = await startHttpServer(serveFiles(photos), IMAGE_HOST);
      const metricsPort = await freePort();
      service = await startService({
        MONGO_URL: testMongoUrl('storage_outage'),
        REDIS_URL: redisUrl,
        STORAGE_DIR: disk.directory,
        STORAGE_MIN_FREE_BYTES: '65536',
        FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
        WORKER_CONCURRENCY: '2',
        WORKER_METRICS_PORT: String(metricsPort),
      });
      const { apiUrl, worker } = service;
      const filler = await disk.fill();

      const csv = [
        CSV_HEADER,
        ...PHOTOS.map((path, index) => `${index + 1},Product ${index + 1},${images?.url}${path}`),
      ];
      const upload = await fetch(`${apiUrl}/api/upload`, { method: 'POST', body: csvForm(csv.join('\n')) });
      expect(upload.status).toBe(202);
      const id = ((await upload.json()) as { request_id: string }).request_id;
      const status = async () => (await (await fetch(`${apiUrl}/api/status/${id}`)).json()) as Status;

      // The product jobs meet the full disk and are put back, some of them more than once; a request that
      // finishes instead (its images failed) is what this test must catch.
      const waits = () => storageWaits(worker, id);
      await pollUntil(
        async () => {
          if (waits().length > PHOTOS.length) return true;
          const { status: state } = await status();
          return state === 'completed' || state === 'failed' ? true : undefined;
        },
        {
          timeoutMs: 60_000,
          intervalMs: 250,
          what: 'the product jobs waiting for the storage, more than once',
        },
      );
      expect(await status()).toMatchObject({
        status: 'in_progress',
        counts: { products: 3, products_done: 0, images_failed: 0 },
      });
      for (const row of [1, 2, 3]) {
        const job = await queues.products.getJob(jobIds.product(id, row));
        expect({ row, attempts: job?.attemptsMade, state: await job?.getState() }).toEqual({
          row,
          attempts: 0,
          state: expect.not.stringMatching(/^failed$/),
        });
      }

      // Readiness names the storage, in words of its own (no path).
      const unready = await pollUntil(
        async () => {
          const response = await fetch(`${apiUrl}/health/ready`);
          return response.status === 503 ? await problemOf(response) : undefined;
        },
        { timeoutMs: 10_000, what: 'readiness failing for the storage' },
      );
      expect(unready).toMatchObject({
        code: 'not_ready',
        checks: {
          mongodb: 'ok',
          redis: 'ok',
          storage: expect.stringMatching(/^no space is left on the storage/),
        },
      });
      expect(unready.detail).toMatch(/^Storage: no space is left/);
      expect(unready.detail).not.toContain(disk.directory);

      // The worker's metrics count the jobs that waited.
      const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
      const counted = /^imgsvc_storage_unavailable_total\{[^}]*reason="storage_full"[^}]*\} (\d+)$/m.exec(
        metrics,
      );
      expect(Number(counted?.[1] ?? 0)).toBeGreaterThanOrEqual(PHOTOS.length);

      // Space comes back: every image is produced, none failed.
      await rm(filler);
      const finished = await pollUntil(
        async () => {
          const current = await status();
          return current.status === 'completed' || current.status === 'failed' ? current : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, what: 'the request finishing once space is back' },
      );
      expect(finished).toMatchObject({
        status: 'completed',
        counts: { products: 3, products_done: 3, images: 3, images_succeeded: 3, images_failed: 0 },
      });
      const stored = (await readdir(disk.directory, { recursive: true })).filter((name) =>
        name.endsWith('.jpg'),
      );
      expect(stored).toHaveLength(3);
      await pollUntil(async () => ((await fetch(`${apiUrl}/health/ready`)).ok ? true : undefined), {
        timeoutMs: 10_000,
        what: 'readiness back once space is freed',
      });
      expect(worker.output()).not.toContain('job attempt failed');
    } finally {
      await service?.stop();
      await images?.close();
      await queues.close();
      await queueConnection.quit();
      await disk.unmount();
    }
  }, 180_000);
});
