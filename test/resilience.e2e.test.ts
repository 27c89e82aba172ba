import { randomUUID } from 'node:crypto';
import { basename, join } from 'node:path';
import { connectDatabase, insertRequestWithProducts } from '@imgsvc/db';
import { freePort } from '@imgsvc/local-services';
import { createRedisConnection, jobIds, openQueues } from '@imgsvc/queue';
import { parse } from 'csv-parse/sync';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { csvForm } from './support/api.js';
import { STANDARD_COLUMNS } from './support/catalogue.js';
import { readBody, startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { apiReady, type RunningProgram, startProgram, workerReady } from './support/programs.js';
import { type RestartableServers, restartableServers } from './support/restartable-servers.js';
import { type StoredWrites, watchStoredWrites } from './support/stored-writes.js';

const DISTINCT_PHOTOS = 24;
const PRODUCTS = 48;
const IMAGES_PER_PRODUCT = 2;

/** An uploaded request and the image URLs of its products, in row order. */
interface Uploaded {
  readonly id: string;
  readonly catalogue: readonly (readonly string[])[];
}

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
  let servers: RestartableServers;
  let images: TestHttpServer;
  let photos: Buffer[];
  let slowImages = false;
  let slowInFlight = 0;
  let storageDir: string;
  let storedWrites: StoredWrites;
  let apiUrl: string;
  let api: RunningProgram;
  const workers: RunningProgram[] = [];
  let database = 0;

  const environment = () => ({
    MONGO_URL: `${servers.mongoUrl}/resilience_${database}`,
    REDIS_URL: servers.redisUrl,
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
    servers = await restartableServers('resilience', true);
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
    await servers?.close();
  });

  beforeEach(async () => {
    database += 1;
    slowImages = false;
    storageDir = join(servers.workDir, `images-${database}`);
    storedWrites = watchStoredWrites(storageDir);
    const port = await freePort();
    apiUrl = `http://127.0.0.1:${port}`;
    api = startProgram('api', { ...environment(), PORT: String(port), LOG_LEVEL: 'warn' });
    await apiReady(apiUrl, api);
  });

  afterEach(async () => {
    await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
    await api.stop('SIGKILL');
    await storedWrites.stop();
  });

  const photoUrl = (index: number) => `${images.url}/photo-${index}.jpg?request=${database}`;
  /** Which photo a URL serves (URLs whose numbers differ by DISTINCT_PHOTOS serve the same bytes). */
  const photoOf = (url: string) => Number(/\/photo-(\d+)/.exec(url)?.[1]) % DISTINCT_PHOTOS;

  /** Every product its own URLs; each photo is served under four of them, to products far apart. */
  const ownUrls = () =>
    Array.from({ length: PRODUCTS }, (_, product) =>
      Array.from({ length: IMAGES_PER_PRODUCT }, (_, image) =>
        photoUrl(product * IMAGES_PER_PRODUCT + image),
      ),
    );
  /**
   * URLs shared between products: product p names photos p and p + 1, so neighbours, which run at the same time
   * in different workers, name one URL in common, and each URL is named by four products.
   */
  const sharedUrls = () =>
    Array.from({ length: PRODUCTS }, (_, product) =>
      Array.from({ length: IMAGES_PER_PRODUCT }, (_, image) => photoUrl((product + image) % DISTINCT_PHOTOS)),
    );

  async function upload(catalogue: readonly (readonly string[])[] = ownUrls()): Promise<Uploaded> {
    const rows = catalogue.map(
      (urls, product) => `${product + 1},Product ${product + 1},"${urls.join(', ')}"`,
    );
    const csv = ['S. No.,Product Name,Input Image Urls', ...rows].join('\n');
    const response = await fetch(`${apiUrl}/api/upload`, { method: 'POST', body: csvForm(csv) });
    expect(response.status).toBe(202);
    return { id: ((await response.json()) as { request_id: string }).request_id, catalogue };
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
  async function expectCompleteAndWhole(
    { id, catalogue }: Uploaded,
    timeoutMs = 90_000,
    // After Redis loses its data the live counts start again from what MongoDB holds, so they may fall once.
    progressOnlyRises = true,
  ): Promise<void> {
    const percentages: number[] = [];
    const finished = await pollUntil(
      async () => {
        const current = await status(id);
        if (current) percentages.push(current.completion_percentage);
        return current?.status === 'completed' || current?.status === 'failed' ? current : undefined;
      },
      { timeoutMs, intervalMs: 100, what: 'request finished' },
    );
    const images = catalogue.flat().length;
    expect(finished.status).toBe('completed');
    expect(finished.counts).toEqual({
      products: PRODUCTS,
      products_done: PRODUCTS,
      images,
      images_succeeded: images,
      images_failed: 0,
      failures_by_code: {},
    });
    if (progressOnlyRises) expect(percentages).toEqual([...percentages].sort((a, b) => a - b));
    const rows = parse(await (await fetch(`${apiUrl}/api/download/${id}`)).text()) as string[][];
    expect(rows).toHaveLength(PRODUCTS + 1);
    // Every photo has one output wherever it is named, and each photo its own.
    const outputsOfPhoto = new Map<number, Set<string>>();
    rows.slice(1).forEach((row, index) => {
      const inputs = catalogue[index] ?? [];
      expect(row[2]).toBe(inputs.join(', '));
      const outputs = (row[3] ?? '').split(', ');
      expect(outputs).toHaveLength(inputs.length);
      outputs.forEach((output, position) => {
        expect(output).toMatch(/\/images\/[0-9a-f]{64}\.jpg$/);
        const photo = photoOf(inputs[position] ?? '');
        outputsOfPhoto.set(photo, (outputsOfPhoto.get(photo) ?? new Set()).add(basename(output)));
      });
      expect(row[4]).toBe('');
    });
    expect([...outputsOfPhoto.values()].map((outputs) => outputs.size)).toEqual(
      Array(DISTINCT_PHOTOS).fill(1),
    );
    const outputFiles = [...outputsOfPhoto.values()].flatMap((outputs) => [...outputs]);
    expect(new Set(outputFiles).size).toBe(DISTINCT_PHOTOS);
    // One file per distinct photo, written once however many times a job ran: a file written again keeps its
    // name and the count of files, but not its inode, and the watcher sees it.
    const writes = await storedWrites.counts();
    expect([...writes.keys()].sort()).toEqual(outputFiles.sort());
    expect([...writes].filter(([, count]) => count > 1)).toEqual([]);
  }

  it('a worker killed with SIGKILL a third of the way through: another worker finishes every image', async () => {
    const first = await startWorker();
    const uploaded = await upload();
    await waitForProgress(uploaded.id, 1 / 3);
    await first.stop('SIGKILL');
    await startWorker();
    await expectCompleteAndWhole(uploaded);
  }, 120_000);

  it('a busy worker stopped with SIGTERM hands its jobs back and exits 0; a restarted worker completes', async () => {
    const first = await startWorker({ WORKER_SHUTDOWN_GRACE_MS: '500' });
    const uploaded = await upload();
    await waitForProgress(uploaded.id, 0.2);
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
    await expectCompleteAndWhole(uploaded);
  }, 120_000);

  it('redis-server stopped and restarted during a request: uploads get 503 meanwhile, the work finishes', async () => {
    await startWorker();
    const uploaded = await upload();
    await waitForProgress(uploaded.id, 0.25);
    await servers.stopRedis();
    const during = await fetch(`${apiUrl}/api/upload`, {
      method: 'POST',
      body: csvForm('S. No.,Product Name,Input Image Urls\n1,A,https://img.example/a.jpg\n'),
    });
    expect(during.status).toBe(503);
    expect(((await during.json()) as { code: string }).code).toBe('queue_unavailable');
    expect((await fetch(`${apiUrl}/health/ready`)).status).toBe(503);
    await servers.startRedis();
    await pollUntil(async () => ((await fetch(`${apiUrl}/health/ready`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      what: 'API ready again',
    });
    await expectCompleteAndWhole(uploaded);
  }, 120_000);

  it('Redis losing all its data mid-request (FLUSHALL): the request is found and completes with every product', async () => {
    await startWorker({ RECONCILE_INTERVAL_MS: '1000' });
    const uploaded = await upload();
    await waitForProgress(uploaded.id, 0.25);
    const redisClient = createRedisConnection(servers.redisUrl, 'worker');
    try {
      await redisClient.flushall();
    } finally {
      await redisClient.quit();
    }
    await expectCompleteAndWhole(uploaded, 90_000, false);
    expect(workers[0]?.output()).toContain('unfinished requests without a job queued again');
  }, 120_000);

  it('a request stored by an API that stopped before queueing it is found and completes', async () => {
    await startWorker({ RECONCILE_INTERVAL_MS: '1000' });
    // What the API had written when it stopped: the request and its products, and no job.
    const catalogue = ownUrls();
    const id = randomUUID();
    const db = await connectDatabase(environment().MONGO_URL, 'resilience-test');
    try {
      await insertRequestWithProducts(db, {
        id,
        owner: null,
        columns: STANDARD_COLUMNS,
        products: catalogue.map((urls, index) => ({
          row: index + 1,
          serialNumber: index + 1,
          productName: `Product ${index + 1}`,
          inputUrls: urls,
        })),
        imageCount: catalogue.flat().length,
        webhookUrl: null,
      });
    } finally {
      await db.close();
    }
    await expectCompleteAndWhole({ id, catalogue });
  }, 120_000);

  it('the MongoDB-compatible server stopped and restarted during a request: 503 meanwhile, the work finishes', async () => {
    await startWorker();
    const uploaded = await upload();
    await waitForProgress(uploaded.id, 0.25);
    await servers.stopMongo();
    const during = await fetch(`${apiUrl}/api/upload`, {
      method: 'POST',
      body: csvForm('S. No.,Product Name,Input Image Urls\n1,A,https://img.example/a.jpg\n'),
    });
    expect(during.status).toBe(503);
    expect(((await during.json()) as { code: string }).code).toBe('database_unavailable');
    expect((await fetch(`${apiUrl}/health/ready`)).status).toBe(503);
    await servers.startMongo();
    await expectCompleteAndWhole(uploaded);
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
    const redisClient = createRedisConnection(servers.redisUrl, 'producer');
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

  it('three workers share one request whose products name the same images: each downloaded and stored once', async () => {
    const three = await Promise.all([startWorker(), startWorker(), startWorker()]);
    const uploaded = await upload(sharedUrls());
    await expectCompleteAndWhole(uploaded);
    for (const worker of three) {
      expect((worker.output().match(/"msg":"product done"/g) ?? []).length).toBeGreaterThan(0);
    }
    const total = three.reduce(
      (sum, worker) => sum + (worker.output().match(/"msg":"product done"/g) ?? []).length,
      0,
    );
    expect(total).toBe(PRODUCTS);
    // Each URL was downloaded by one worker, once, and its result shared with the other products naming it,
    // whichever process ran them.
    const downloads: Record<string, number> = {};
    for (const hit of images.hits.filter((path) => path.endsWith(`?request=${database}`))) {
      downloads[hit] = (downloads[hit] ?? 0) + 1;
    }
    const urls = [...new Set(uploaded.catalogue.flat())].map((url) => url.slice(images.url.length));
    expect(urls).toHaveLength(DISTINCT_PHOTOS);
    expect(downloads).toEqual(Object.fromEntries(urls.map((url) => [url, 1])));
  }, 120_000);
});
