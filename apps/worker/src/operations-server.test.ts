import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { connectDatabase, type Database } from '@imgsvc/db';
import type { ReadinessProbes } from '@imgsvc/lifecycle';
import { findExecutable, freePort, startRedisServer } from '@imgsvc/local-services';
import { createLogger, type Logger } from '@imgsvc/logging';
import { createRedisConnection, openQueues, type Queues } from '@imgsvc/queue';
import { createDiskImageStore, type ImageStore } from '@imgsvc/storage';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../test/support/poll.js';
import { testMongoUrl, testRedisUrl } from '../../../test/support/servers.js';
import { createWorkerMetrics } from './metrics.js';
import { serveOperations } from './operations-server.js';

describe("the worker's operations listener", () => {
  let redis: Redis;
  let queues: Queues;
  let db: Database;
  let storageDir: string;
  let store: ImageStore;
  const servers: Server[] = [];
  beforeAll(async () => {
    redis = createRedisConnection(await testRedisUrl(), 'worker');
    queues = openQueues(redis);
    db = await connectDatabase(testMongoUrl('operations_server'), 'operations-server-test');
    storageDir = await mkdtemp(join(tmpdir(), 'image-service-operations-'));
    store = createDiskImageStore(storageDir);
  });
  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
    await queues?.close();
    await redis?.quit();
    await db?.close();
    await rm(storageDir, { recursive: true, force: true });
  });

  async function serve(
    host: string,
    token: string | undefined,
    probes: Partial<ReadinessProbes> = {},
  ): Promise<string> {
    const port = await freePort();
    const server = await serveOperations(
      createWorkerMetrics(queues, store),
      { db, redis, store, ...probes },
      { host, port, token, log: createLogger('worker', 'silent') },
    );
    if (!server) throw new Error('the listener did not start');
    servers.push(server);
    const address = server.address() as AddressInfo;
    expect(address.address).toBe(host);
    return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
  }

  it('listens on the address it is given, loopback by default in the settings', async () => {
    const url = await serve('127.0.0.1', undefined);
    const scraped = await fetch(`${url}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('imgsvc_queue_jobs');
    expect((await fetch(`${url}/other`)).status).toBe(404);
    const posted = await fetch(`${url}/health/live`, { method: 'POST' });
    expect(posted.status).toBe(405);
    expect(posted.headers.get('allow')).toBe('GET, HEAD');
  });

  it('answers only the bearer of METRICS_TOKEN on /metrics, and the health checks to anyone', async () => {
    const url = await serve('127.0.0.1', 'worker-metrics-token');
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer another-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    const scraped = await fetch(`${url}/metrics?x=1`, {
      headers: { authorization: 'Bearer worker-metrics-token' },
    });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('imgsvc_jobs_total');
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
    expect((await fetch(`${url}/health/ready`)).status).toBe(200);
  });

  it('says it is live, and ready with every check ok, never to be cached, to GET and HEAD', async () => {
    const url = await serve('127.0.0.1', undefined);
    const live = await fetch(`${url}/health/live`);
    expect(live.status).toBe(200);
    expect(live.headers.get('content-type')).toBe('application/json; charset=utf-8');
    expect(live.headers.get('cache-control')).toBe('no-store');
    expect(await live.json()).toEqual({ status: 'ok' });
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(200);
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toEqual({
      status: 'ok',
      checks: { mongodb: 'ok', redis: 'ok', storage: 'ok' },
    });
    for (const path of ['/health/live', '/health/ready']) {
      const head = await fetch(`${url}${path}`, { method: 'HEAD' });
      expect(head.status, path).toBe(200);
      expect(head.headers.get('cache-control'), path).toBe('no-store');
      expect(await head.text(), path).toBe('');
    }
  });

  it('is not ready, as a not_ready problem naming the storage, while the store cannot take images', async () => {
    const full = createDiskImageStore(storageDir, { minFreeBytes: Number.MAX_SAFE_INTEGER });
    const url = await serve('127.0.0.1', undefined, { store: full });
    const ready = await fetch(`${url}/health/ready`);
    expect(ready.status).toBe(503);
    expect(ready.headers.get('content-type')).toBe('application/problem+json; charset=utf-8');
    expect(ready.headers.get('cache-control')).toBe('no-store');
    expect(await ready.json()).toEqual({
      type: 'urn:image-service:problem:not_ready',
      title: 'Not ready',
      status: 503,
      detail: expect.stringMatching(/^Storage: /),
      instance: '/health/ready',
      code: 'not_ready',
      checks: { mongodb: 'ok', redis: 'ok', storage: expect.not.stringMatching(/^ok$/) },
    });
    expect((await fetch(`${url}/health/live`)).status).toBe(200);
  });

  it('is not ready, naming Redis, as soon as its Redis connection is lost, and ready again once it is back', async () => {
    const binary = await findExecutable('redis-server', readMachineEnvironment().path);
    if (!binary) throw new Error('redis-server is not on the PATH');
    const dataDir = await mkdtemp(join(tmpdir(), 'image-service-operations-redis-'));
    const port = await freePort();
    let server = await startRedisServer(binary, join(dataDir, 'redis'), { persistent: false, port });
    const own = createRedisConnection(`redis://127.0.0.1:${port}`, 'worker');
    try {
      const url = await serve('127.0.0.1', undefined, { redis: own });
      await pollUntil(async () => ((await fetch(`${url}/health/ready`)).ok ? true : undefined), {
        timeoutMs: 10_000,
        what: 'ready with its own Redis',
      });
      await server.stop();
      const problem = await pollUntil(
        async () => {
          const ready = await fetch(`${url}/health/ready`);
          return ready.status === 503
            ? {
                type: ready.headers.get('content-type'),
                body: (await ready.json()) as Record<string, unknown>,
              }
            : undefined;
        },
        { timeoutMs: 10_000, what: 'not ready once Redis is stopped' },
      );
      expect(problem.type).toBe('application/problem+json; charset=utf-8');
      expect(problem.body).toMatchObject({
        code: 'not_ready',
        status: 503,
        detail: expect.stringMatching(/^Redis: /),
        checks: { mongodb: 'ok', redis: expect.not.stringMatching(/^ok$/), storage: 'ok' },
      });
      server = await startRedisServer(binary, join(dataDir, 'redis'), { persistent: false, port });
      await pollUntil(async () => ((await fetch(`${url}/health/ready`)).ok ? true : undefined), {
        timeoutMs: 15_000,
        what: 'ready again once Redis is back',
      });
    } finally {
      own.disconnect();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('logs a port already in use and goes on without the listener, leaving the port to its owner', async () => {
    const occupant = createServer((_request, response) => response.end('occupant'));
    await new Promise<void>((resolve) => occupant.listen(0, '127.0.0.1', resolve));
    servers.push(occupant);
    const { port } = occupant.address() as AddressInfo;
    const logged: { level: string; fields: Record<string, unknown>; message: string }[] = [];
    const note =
      (level: string) =>
      (fields: Record<string, unknown>, message: string): void => {
        logged.push({ level, fields, message });
      };
    const log = { error: note('error'), warn: note('warn'), info: note('info') } as unknown as Logger;
    const server = await serveOperations(
      createWorkerMetrics(queues, store),
      { db, redis, store },
      { host: '127.0.0.1', port, token: undefined, log },
    );
    expect(server).toBeUndefined();
    expect(logged).toEqual([
      {
        level: 'error',
        fields: expect.objectContaining({
          host: '127.0.0.1',
          port,
          err: expect.objectContaining({ code: 'EADDRINUSE' }),
        }),
        message: 'worker metrics not served: the address is unavailable',
      },
    ]);
    expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toBe('occupant');
  });
});
