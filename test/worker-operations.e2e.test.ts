import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { IMAGE_FAILURE_REASONS } from '@imgsvc/domain';
import { findExecutable, freePort, type LocalServer, startRedisServer } from '@imgsvc/local-services';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CSV_HEADER, csvForm } from './support/api.js';
import { startHttpServer, type TestHttpServer } from './support/http-server.js';
import { photoLikeJpeg } from './support/photos.js';
import { pollUntil } from './support/poll.js';
import { type RunningService, startService } from './support/programs.js';
import { testMongoUrl } from './support/servers.js';

const TOKEN = 'worker-operations-token';

/**
 * The worker program's operations listener: its health checks beside /metrics, and the failed images counted by
 * code. The worker runs on a Redis of this file's own, so that the test can stop it and bring it back.
 */
describe("the worker's health checks and failure counts, end to end", () => {
  let redisBinary: string;
  let redisDir: string;
  let redisPort: number;
  let redis: LocalServer | undefined;
  let images: TestHttpServer;
  let storageDir: string;
  let service: RunningService;
  let operations: string;

  const startRedis = async () => {
    redis ??= await startRedisServer(redisBinary, redisDir, { persistent: false, port: redisPort });
  };

  beforeAll(async () => {
    const binary = await findExecutable('redis-server', readMachineEnvironment().path);
    if (!binary) throw new Error('redis-server is not on the PATH');
    redisBinary = binary;
    redisDir = await mkdtemp(join(tmpdir(), 'image-service-worker-operations-redis-'));
    redisPort = await freePort();
    await startRedis();
    const photo = await photoLikeJpeg(320, 240, 7);
    images = await startHttpServer((request, response) => {
      if (request.url === '/photo.jpg') {
        response.writeHead(200, { 'content-type': 'image/jpeg' }).end(photo);
      } else if (request.url === '/page.jpg') {
        response.writeHead(200, { 'content-type': 'image/jpeg' }).end('<html><body>Moved</body></html>');
      } else {
        response.writeHead(404).end();
      }
    });
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-worker-operations-'));
    const port = await freePort();
    operations = `http://127.0.0.1:${port}`;
    service = await startService({
      MONGO_URL: testMongoUrl('worker_operations'),
      REDIS_URL: `redis://127.0.0.1:${redisPort}`,
      STORAGE_DIR: storageDir,
      FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
      WORKER_METRICS_PORT: String(port),
      METRICS_TOKEN: TOKEN,
    });
  });

  afterAll(async () => {
    // The programs close their Redis connections as they stop: it must be there to say goodbye to.
    if (service) {
      await startRedis();
      await service.stop();
    }
    await redis?.stop();
    await images?.close();
    await rm(storageDir, { recursive: true, force: true });
    await rm(redisDir, { recursive: true, force: true });
  });

  it('answers /health/live and /health/ready beside /metrics, without the metrics token and never cached', async () => {
    expect(service.worker.output()).toContain('worker operations listening');
    const live = await fetch(`${operations}/health/live`);
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(live.headers.get('cache-control')).toBe('no-store');
    expect(await live.text()).toBe('{"status":"ok"}');
    const ready = await fetch(`${operations}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toEqual({
      status: 'ok',
      checks: { mongodb: 'ok', redis: 'ok', storage: 'ok' },
    });
    expect((await fetch(`${operations}/health/ready`, { method: 'HEAD' })).status).toBe(200);
    expect((await fetch(`${operations}/metrics`)).status).toBe(401);
  });

  it('counts each image that ended failed under its failure code, as the request counts it', async () => {
    const csv = [
      CSV_HEADER,
      `1,Tote,${images.url}/photo.jpg`,
      `2,Mug,"${images.url}/missing.jpg, ${images.url}/page.jpg"`,
      `3,Cap,${images.url}/missing.jpg`,
    ].join('\n');
    const upload = await fetch(`${service.apiUrl}/api/upload`, { method: 'POST', body: csvForm(csv) });
    expect(upload.status).toBe(202);
    const { status_url: statusUrl } = (await upload.json()) as { status_url: string };
    const finished = await pollUntil(
      async () => {
        const status = (await (await fetch(statusUrl)).json()) as {
          status: string;
          counts: { failures_by_code: Record<string, number> };
        };
        return status.status === 'completed' || status.status === 'failed' ? status : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'request finished' },
    );
    expect(finished.status).toBe('completed');
    expect(finished.counts.failures_by_code).toEqual({ http_404: 2, not_an_image: 1 });

    const scraped = await fetch(`${operations}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(scraped.status).toBe(200);
    const text = await scraped.text();
    const counted = Object.fromEntries(
      [...text.matchAll(/^imgsvc_image_failures_total\{([^}]*)\} (\d+)$/gm)].map(([, labels, value]) => [
        /code="([^"]*)"/.exec(labels ?? '')?.[1],
        Number(value),
      ]),
    );
    expect(counted).toEqual({
      ...Object.fromEntries(Object.keys(IMAGE_FAILURE_REASONS).map((code) => [code, 0])),
      http_404: 2,
      not_an_image: 1,
    });
    expect(text).not.toContain(images.url);
  }, 60_000);

  it('is not ready, naming Redis, while Redis is unreachable, stays live, and is ready again once it is back', async () => {
    await redis?.stop();
    redis = undefined;
    const answer = await pollUntil(
      async () => {
        const ready = await fetch(`${operations}/health/ready`);
        return ready.status === 503
          ? {
              type: ready.headers.get('content-type'),
              cache: ready.headers.get('cache-control'),
              body: await ready.json(),
            }
          : undefined;
      },
      { timeoutMs: 15_000, what: 'readiness failing for Redis' },
    );
    expect(answer.type).toBe('application/problem+json; charset=utf-8');
    expect(answer.cache).toBe('no-store');
    expect(answer.body).toEqual({
      type: 'urn:image-service:problem:not_ready',
      title: 'Not ready',
      status: 503,
      detail: expect.stringMatching(/^Redis: /),
      instance: '/health/ready',
      code: 'not_ready',
      checks: { mongodb: 'ok', redis: expect.not.stringMatching(/^ok$/), storage: 'ok' },
    });
    expect((await fetch(`${operations}/health/live`)).status).toBe(200);

    await startRedis();
    await pollUntil(async () => ((await fetch(`${operations}/health/ready`)).ok ? true : undefined), {
      timeoutMs: 30_000,
      what: 'readiness back with Redis',
    });
  }, 60_000);
});
