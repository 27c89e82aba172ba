import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import { createRedisConnection, jobIds, openQueues } from '@imgsvc/queue';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { csvForm, problemOf } from './support/api.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { apiReady, type RunningProgram, startProgram, workerReady } from './support/programs.js';
import { type RestartableServers, restartableServers } from './support/restartable-servers.js';

// The image server stands in for a public host on 127.0.0.2, the one address FETCH_ALLOW_NETWORKS opens.
const IMAGE_HOST = '127.0.0.2';

interface Status {
  status: string;
  counts: Record<string, number>;
}

/**
 * The real programs against a MongoDB-compatible server and a redis-server this file owns, so that it can
 * start them late, stop them and bring them back on the same ports with the same data.
 */
describe('programs that wait for servers that are down', () => {
  let servers: RestartableServers;
  let images: TestHttpServer;
  let storageDir: string;
  const programs: RunningProgram[] = [];
  // Each test has its own MongoDB database and Redis database on these servers.
  let round = 0;

  const serversUp = async () => {
    await servers.startRedis();
    await servers.startMongo();
  };

  const environment = () => ({
    MONGO_URL: `${servers.mongoUrl}/outages_${round}`,
    REDIS_URL: `${servers.redisUrl}/${round}`,
    STORAGE_DIR: storageDir,
    FETCH_ALLOW_NETWORKS: `${IMAGE_HOST}/32`,
    WORKER_CONCURRENCY: '2',
  });
  const start = (program: 'api' | 'worker', extra: Record<string, string> = {}) => {
    const started = startProgram(program, { ...environment(), ...extra });
    programs.push(started);
    return started;
  };
  const startApi = async () => {
    const port = await freePort();
    const api = start('api', { PORT: String(port) });
    return { api, url: `http://127.0.0.1:${port}` };
  };

  async function upload(apiUrl: string, images: readonly string[]): Promise<string> {
    const rows = images.map((path, index) => `${index + 1},Product ${index + 1},${imagesUrl(path)}`);
    const csv = ['S. No.,Product Name,Input Image Urls', ...rows].join('\n');
    const response = await fetch(`${apiUrl}/api/upload`, { method: 'POST', body: csvForm(csv) });
    expect(response.status).toBe(202);
    return ((await response.json()) as { request_id: string }).request_id;
  }
  const imagesUrl = (path: string) => `${images.url}${path}?round=${round}`;

  async function finished(apiUrl: string, id: string, timeoutMs = 60_000): Promise<Status> {
    return pollUntil(
      async () => {
        const response = await fetch(`${apiUrl}/api/status/${id}`);
        if (!response.ok) return undefined;
        const status = (await response.json()) as Status;
        return status.status === 'completed' || status.status === 'failed' ? status : undefined;
      },
      { timeoutMs, intervalMs: 200, what: 'request finished' },
    );
  }

  beforeAll(async () => {
    // Ports kept for the servers, which start when a test wants them.
    servers = await restartableServers('outages', false);
    const photos = new Map<string, Buffer>();
    for (const [index, name] of ['/a.jpg', '/b.jpg'].entries()) {
      photos.set(name, await photoLikeJpeg(320, 240, 90 + index));
    }
    images = await startHttpServer((request, response) => {
      const photo = photos.get(new URL(request.url ?? '/', 'http://x').pathname);
      response.statusCode = photo ? 200 : 404;
      if (photo) response.setHeader('content-type', 'image/jpeg');
      response.end(photo);
    }, IMAGE_HOST);
  });

  afterAll(async () => {
    await images?.close();
    await servers?.close();
  });

  afterEach(async () => {
    await Promise.all(programs.splice(0).map((program) => program.stop('SIGKILL')));
  });

  const beginRound = () => {
    round += 1;
    storageDir = join(servers.workDir, `images-${round}`);
  };

  it('the API and a worker started while MongoDB and Redis are down wait for them, then process uploads', async () => {
    beginRound();
    await Promise.all([servers.stopRedis(), servers.stopMongo()]);
    const { api, url } = await startApi();
    const worker = start('worker');

    // The API answers at once and says it is not ready; the worker keeps trying rather than exiting.
    const unready = await pollUntil(
      async () => {
        const response = await fetch(`${url}/health/ready`);
        return response.status === 503 ? ((await response.json()) as { checks: object }) : undefined;
      },
      { timeoutMs: 30_000, what: 'the API answering, not ready' },
    );
    expect(unready.checks).toEqual({
      mongodb: expect.not.stringMatching(/^ok$/),
      redis: expect.not.stringMatching(/^ok$/),
      storage: 'ok',
    });
    await pollUntil(
      async () =>
        worker.output().includes('database unreachable; jobs wait until it is back') ? true : undefined,
      { timeoutMs: 30_000, what: 'the worker waiting for the database' },
    );
    expect([api.child.exitCode, worker.child.exitCode]).toEqual([null, null]);
    expect(worker.output()).not.toContain('worker ready');

    await serversUp();
    await Promise.all([apiReady(url, api, 60_000), workerReady(worker, 60_000)]);
    const id = await upload(url, ['/a.jpg', '/b.jpg']);
    expect(await finished(url, id)).toMatchObject({
      status: 'completed',
      counts: { products: 2, products_done: 2, images: 2, images_succeeded: 2, images_failed: 0 },
    });
    // Waiting is logged as log lines, not as stack traces printed for every reconnection attempt.
    for (const program of [api, worker]) {
      const unstructured = program
        .output()
        .split('\n')
        .filter((line) => line !== '' && !line.startsWith('{'));
      expect(unstructured).toEqual([]);
    }
    // Redis being down is said as a warning, not as an error from every queue at every reconnection.
    const workerLines = worker.output().split('\n');
    expect(workerLines.filter((line) => line.includes('"worker error"'))).toEqual([]);
    expect(workerLines.some((line) => line.includes('Redis unreachable; jobs wait until it is back'))).toBe(
      true,
    );
  }, 120_000);

  it('a job that meets an unreachable database waits without using up an attempt, and finishes once it is back', async () => {
    beginRound();
    await serversUp();
    const { api, url } = await startApi();
    await apiReady(url, api);
    const id = await upload(url, ['/a.jpg', '/b.jpg']);
    await servers.stopMongo();

    const worker = start('worker');
    await workerReady(worker);
    const queueConnection = createRedisConnection(environment().REDIS_URL, 'producer');
    const queues = openQueues(queueConnection);
    try {
      // The request's first job meets the outage twice, each time put back for a few seconds.
      const waits = () =>
        worker
          .output()
          .split('\n')
          .filter(
            (line) => line.includes(id) && line.includes('database unreachable; job waits and tries again'),
          );
      await pollUntil(async () => (waits().length >= 2 ? true : undefined), {
        timeoutMs: 60_000,
        intervalMs: 250,
        what: 'the job meeting the outage twice',
      });
      const job = await queues.requests.getJob(jobIds.processImages(id));
      expect(job?.attemptsMade).toBe(0);
      expect(await job?.getState()).not.toBe('failed');

      await servers.startMongo();
      expect(await finished(url, id)).toMatchObject({
        status: 'completed',
        counts: { products: 2, products_done: 2, images_succeeded: 2, images_failed: 0 },
      });
      expect(worker.output()).not.toContain('job attempt failed');
    } finally {
      await queues.close();
      await queueConnection.quit();
    }
  }, 120_000);

  it('answers 503 progress_unavailable for a running request while Redis is down, and a finished one as usual', async () => {
    beginRound();
    await serversUp();
    const { api, url } = await startApi();
    await apiReady(url, api);
    const worker = start('worker');
    await workerReady(worker);
    const done = await upload(url, ['/a.jpg']);
    expect((await finished(url, done)).status).toBe('completed');
    await worker.stop();
    const running = await upload(url, ['/b.jpg']);

    await servers.stopRedis();
    const unavailable = await fetch(`${url}/api/status/${running}`);
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toBe('5');
    expect((await problemOf(unavailable)).code).toBe('progress_unavailable');
    const finishedStatus = await fetch(`${url}/api/status/${done}`);
    expect(finishedStatus.status).toBe(200);
    expect(((await finishedStatus.json()) as Status).status).toBe('completed');

    await servers.startRedis();
    const back = await pollUntil(
      async () => {
        const response = await fetch(`${url}/api/status/${running}`);
        return response.ok ? ((await response.json()) as Status) : undefined;
      },
      { timeoutMs: 30_000, what: 'the running request answered again' },
    );
    expect(back.status).toBe('pending');
  }, 120_000);

  it('a worker whose metrics port is taken says so, and takes jobs without it', async () => {
    beginRound();
    await serversUp();
    const occupant = createServer((_request, response) => response.end('occupant'));
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = occupant.address() as AddressInfo;
      const worker = start('worker', { WORKER_METRICS_PORT: String(port) });
      await workerReady(worker);
      const line = worker
        .output()
        .split('\n')
        .find((entry) => entry.includes('worker metrics not served'));
      expect(JSON.parse(line ?? '{}')).toMatchObject({
        level: 'error',
        port,
        msg: 'worker metrics not served: the address is unavailable',
      });
      const { api, url } = await startApi();
      await apiReady(url, api);
      const id = await upload(url, ['/a.jpg']);
      expect((await finished(url, id)).status).toBe('completed');
      expect(worker.child.exitCode).toBeNull();
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toBe('occupant');
    } finally {
      occupant.closeAllConnections();
      await new Promise((resolve) => occupant.close(resolve));
    }
  }, 120_000);
});
