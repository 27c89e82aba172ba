import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import {
  findExecutable,
  findFerretDb,
  freePort,
  type LocalServer,
  startFerretDb,
  startRedisServer,
} from '@imgsvc/local-services';
import { createRedisConnection, jobIds, openQueues } from '@imgsvc/queue';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { csvForm } from './support/api.js';
import { readBody, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { apiReady, type RunningProgram, startProgram, workerReady } from './support/programs.js';

const DISTINCT_PHOTOS = 24;
const PRODUCTS = 48;
const IMAGES_PER_PRODUCT = 2;

interface Status {
  status: string;
  completion_percentage: number;
  counts: Record<string, number>;
}

/**
 * Real processes against servers this file owns, so that it can stop and restart them: redis-server with its
 * append-only file (as in production) and FerretDB, each brought back on the same port.
 */
describe('jobs that survive crashes, restarts, outages and many workers', () => {
  const machine = readMachineEnvironment();
  let workDir: string;
  let redisBinary: string;
  let ferretBinary: string;
  let redis: LocalServer;
  let mongo: LocalServer;
  let redisPort: number;
  let mongoPort: number;
  let images: TestHttpServer;
  let photos: Buffer[];
  let slowImages = false;
  let slowInFlight = 0;
  let storageDir: string;
  let apiUrl: string;
  let api: RunningProgram;
  const workers: RunningProgram[] = [];
  let database = 0;

  const environment = () => ({
    MONGO_URL: `${mongo.url}/resilience_${database}`,
    REDIS_URL: redis.url,
    STORAGE_DIR: storageDir,
    FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
    WORKER_CONCURRENCY: '2',
    LOG_LEVEL: 'debug',
  });
  const startWorker = async (extra: Record<string, string> = {}) => {
    const worker = startProgram('worker', { ...environment(), ...extra });
    workers.push(worker);
    await workerReady(worker);
    return worker;
  };

  beforeAll(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'image-service-resilience-'));
    redisBinary = (await findExecutable('redis-server', machine.path)) ?? '';
    ferretBinary = (await findFerretDb(machine.path, machine.cacheHome)) ?? '';
    expect(redisBinary, 'redis-server on the PATH').not.toBe('');
    expect(ferretBinary, 'FerretDB installed (npm run install:ferretdb)').not.toBe('');
    redisPort = await freePort();
    mongoPort = await freePort();
    redis = await startRedisServer(redisBinary, join(workDir, 'redis'), {
      persistent: true,
      port: redisPort,
    });
    mongo = await startFerretDb(ferretBinary, join(workDir, 'ferretdb'), mongoPort);
    photos = await Promise.all(
      Array.from({ length: DISTINCT_PHOTOS }, (_, index) => photoLikeJpeg(480, 360, 500 + index)),
    );
    images = await startHttpServer((request, response) => {
      const index = Number(/\/photo-(\d+)/.exec(request.url ?? '')?.[1]);
      const photo = photos[index % DISTINCT_PHOTOS];
      if (!photo) {
        response.statusCode = 404;
        response.end();
        return;
      }
      // Slow enough that a request is still running when a worker is killed or stopped.
      const slow = slowImages;
      if (slow) slowInFlight += 1;
      const timer = setTimeout(
        () => {
          response.setHeader('content-type', 'image/jpeg');
          response.end(photo);
        },
        slow ? 3000 : 60,
      );
      response.on('close', () => {
        clearTimeout(timer);
        if (slow) slowInFlight -= 1;
      });
    });
  });

  afterAll(async () => {
    await images?.close();
    await Promise.allSettled([redis?.stop(), mongo?.stop()]);
    await rm(workDir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    database += 1;
    slowImages = false;
    storageDir = join(workDir, `images-${database}`);
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    api = startProgram('api', { ...environment(), PORT: String(port), LOG_LEVEL: 'warn' });
    await apiReady(apiUrl, api);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
    await api.stop('SIGKILL');
  });

  async function upload(): Promise<string> {
    const rows = Array.from({ length: PRODUCTS }, (_, product) => {
      const urls = Array.from(
        { length: IMAGES_PER_PRODUCT },
        (_, image) => `${images.url}/photo-${product * IMAGES_PER_PRODUCT + image}.jpg?request=${database}`,
      );
      return `${product + 1},Product ${product + 1},"${urls.join(', ')}"`;
    });
    const csv = ['S. No.,Product Name,Input Image Urls', ...rows].join('\n');
    const response = await fetch(`${apiUrl}/api/upload`, { method: 'POST', body: csvForm(csv) });
    expect(response.status).toBe(202);
    return ((await response.json()) as { request_id: string }).request_id;
  }

  async function status(id: string): Promise<Status | undefined> {
    const response = await fetch(`${apiUrl}/api/status/${id}`);
    return response.ok ? ((await response.json()) as Status) : undefined;
  }

  async function waitForProgress(id: string, share: number): Promise<void> {
    await pollUntil(
      async () => {
        const current = await status(id);
        return current && (current.counts.products_done ?? 0) >= PRODUCTS * share ? true : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 50, what: `${share * 100}% of the products done` },
    );
  }

  /** Waits for completion, then checks that nothing is missing and nothing was stored twice. */
  async function expectCompleteAndWhole(id: string, timeoutMs = 90_000): Promise<void> {
    const percentages: number[] = [];
    const finished = await pollUntil(
      async () => {
        const current = await status(id);
        if (current) percentages.push(current.completion_percentage);
        return current?.status === 'completed' || current?.status === 'failed' ? current : undefined;
      },
      { timeoutMs, intervalMs: 100, what: 'request finished' },
    );
    expect(finished.status).toBe('completed');
    expect(finished.counts).toEqual({
      products: PRODUCTS,
      products_done: PRODUCTS,
      images: PRODUCTS * IMAGES_PER_PRODUCT,
      images_succeeded: PRODUCTS * IMAGES_PER_PRODUCT,
      images_failed: 0,
      failures_by_code: {},
    });
    expect(percentages).toEqual([...percentages].sort((a, b) => a - b));
    const rows = parse(await (await fetch(`${apiUrl}/api/download/${id}`)).text()) as string[][];
    expect(rows).toHaveLength(PRODUCTS + 1);
    for (const row of rows.slice(1)) {
      const outputs = (row[3] ?? '').split(', ');
      expect(outputs).toHaveLength(IMAGES_PER_PRODUCT);
      for (const output of outputs) expect(output).toMatch(/\/images\/[0-9a-f]{64}\.jpg$/);
      expect(row[4]).toBe('');
    }
    // One file per distinct image, however many times a job ran.
    const files: string[] = [];
    for (const folder of await readdir(storageDir)) {
      files.push(...(await readdir(join(storageDir, folder))).filter((name) => name.endsWith('.jpg')));
    }
    expect(files.length).toBe(DISTINCT_PHOTOS);
  }

  it('a worker killed with SIGKILL a third of the way through: another worker finishes every image', async () => {
    const first = await startWorker();
    const id = await upload();
    await waitForProgress(id, 1 / 3);
    await first.stop('SIGKILL');
    await startWorker();
    await expectCompleteAndWhole(id);
  }, 120_000);

  it('a busy worker stopped with SIGTERM hands its jobs back and exits 0; a restarted worker completes', async () => {
    const first = await startWorker({ WORKER_SHUTDOWN_GRACE_MS: '500' });
    const id = await upload();
    await waitForProgress(id, 0.2);
    slowImages = true;
    await pollUntil(async () => (slowInFlight > 0 ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the worker in the middle of a download',
    });
    const stopped = Date.now();
    expect(await first.stop('SIGTERM')).toBe(0);
    expect(Date.now() - stopped).toBeLessThan(10_000);
    expect(first.output()).toContain('handing running jobs back to the queue');
    expect(first.output()).toContain('job handed back for shutdown');
    expect(first.output()).toContain('"msg":"stopped"');
    slowImages = false;
    await startWorker();
    await expectCompleteAndWhole(id);
  }, 120_000);

  it('redis-server stopped and restarted during a request: uploads get 503 meanwhile, the work finishes', async () => {
    await startWorker();
    const id = await upload();
    await waitForProgress(id, 0.25);
    await redis.stop();
    const during = await fetch(`${apiUrl}/api/upload`, {
      method: 'POST',
      body: csvForm('S. No.,Product Name,Input Image Urls\n1,A,https://img.example/a.jpg\n'),
    });
    expect(during.status).toBe(503);
    expect(((await during.json()) as { code: string }).code).toBe('queue_unavailable');
    expect((await fetch(`${apiUrl}/health/ready`)).status).toBe(503);
    redis = await startRedisServer(redisBinary, join(workDir, 'redis'), {
      persistent: true,
      port: redisPort,
    });
    await pollUntil(async () => ((await fetch(`${apiUrl}/health/ready`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      what: 'API ready again',
    });
    await expectCompleteAndWhole(id);
  }, 120_000);

  it('the MongoDB-compatible server stopped and restarted during a request: 503 meanwhile, the work finishes', async () => {
    await startWorker();
    const id = await upload();
    await waitForProgress(id, 0.25);
    await mongo.stop();
    const during = await fetch(`${apiUrl}/api/upload`, {
      method: 'POST',
      body: csvForm('S. No.,Product Name,Input Image Urls\n1,A,https://img.example/a.jpg\n'),
    });
    expect(during.status).toBe(503);
    expect(((await during.json()) as { code: string }).code).toBe('database_unavailable');
    expect((await fetch(`${apiUrl}/health/ready`)).status).toBe(503);
    mongo = await startFerretDb(ferretBinary, join(workDir, 'ferretdb'), mongoPort);
    await expectCompleteAndWhole(id);
  }, 120_000);

  it('the API stopped with SIGTERM during an upload finishes that upload, then exits 0', async () => {
    const rows = Array.from(
      { length: 20_000 },
      (_, index) => `${index + 1},P${index},${images.url}/photo-${index % 10}.jpg`,
    );
    const uploading = fetch(`${apiUrl}/api/upload`, {
      method: 'POST',
      body: csvForm(['S. No.,Product Name,Input Image Urls', ...rows].join('\n')),
    });
    // Stop once the upload is in the API's hands (its first products are stored).
    const { MongoClient } = await import('mongodb');
    const client = new MongoClient(environment().MONGO_URL);
    try {
      await pollUntil(
        async () =>
          (await client.db().collection('products').countDocuments({}, { limit: 1 })) > 0 ? true : undefined,
        {
          timeoutMs: 30_000,
          intervalMs: 20,
          what: 'the upload being stored',
        },
      );
    } finally {
      await client.close();
    }
    const exit = api.stop('SIGTERM');
    const answer = await uploading;
    expect(answer.status).toBe(202);
    expect(await exit).toBe(0);
  }, 60_000);

  it('a request whose coordination fails for good is marked failed with the reason, and its webhook says so', async () => {
    const received: { type: string; data: { status: string; error_message: string } }[] = [];
    const receiver = await startHttpServer(async (request, response) => {
      received.push(JSON.parse(await readBody(request)));
      response.statusCode = 204;
      response.end();
    });
    const redisClient = createRedisConnection(redis.url, 'producer');
    const queues = openQueues(redisClient);
    try {
      const form = csvForm(`S. No.,Product Name,Input Image Urls\n1,A,${images.url}/photo-0.jpg\n`, {
        webhook_url: `${receiver.url}/hook`,
      });
      const uploaded = await fetch(`${apiUrl}/api/upload`, { method: 'POST', body: form });
      const { request_id: id } = (await uploaded.json()) as { request_id: string };
      // Before any worker runs, the coordination job's data is made unusable: it can never succeed.
      const job = await queues.requests.getJob(jobIds.processImages(id));
      await job?.updateData({ requestId: id, nextRow: -1 });
      await startWorker();
      const failed = await pollUntil(
        async () => {
          const current = (await (await fetch(`${apiUrl}/api/status/${id}`)).json()) as Status & {
            error_message?: string;
          };
          return current.status === 'failed' ? current : undefined;
        },
        { timeoutMs: 30_000, what: 'request failed' },
      );
      expect(failed.completion_percentage).toBe(100);
      expect(failed.error_message).toMatch(
        /^process-images failed after \d+ attempts?: invalid process-images job data: nextRow/,
      );
      expect((await fetch(`${apiUrl}/api/download/${id}`)).status).toBe(200);
      const event = await pollUntil(async () => received[0], { timeoutMs: 15_000, what: 'failure webhook' });
      expect(event).toMatchObject({ type: 'request.failed', data: { status: 'failed' } });
    } finally {
      await queues.close();
      await redisClient.quit();
      await receiver.close();
    }
  }, 60_000);

  it('three workers share one request, each image processed once in effect', async () => {
    const three = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const id = await upload();
    await expectCompleteAndWhole(id);
    for (const worker of three) {
      expect((worker.output().match(/"msg":"product done"/g) ?? []).length).toBeGreaterThan(0);
    }
    const total = three.reduce(
      (sum, worker) => sum + (worker.output().match(/"msg":"product done"/g) ?? []).length,
      0,
    );
    expect(total).toBe(PRODUCTS);
  }, 120_000);
});
