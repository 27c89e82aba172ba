import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { freePort } from '@imgsvc/local-services';
import { createLogger, type Logger } from '@imgsvc/logging';
import { createRedisConnection, openQueues, type Queues } from '@imgsvc/queue';
import { createDiskImageStore } from '@imgsvc/storage';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { createWorkerMetrics, serveWorkerMetrics } from './metrics.js';

describe("the worker's metrics listener", () => {
  let redis: Redis;
  let queues: Queues;
  const servers: Server[] = [];
  beforeAll(async () => {
    redis = createRedisConnection(await testRedisUrl(), 'producer');
    queues = openQueues(redis);
  });
  afterAll(async () => {
    for (const server of servers) await new Promise((resolve) => server.close(resolve));
    await queues.close();
    await redis.quit();
  });

  async function serve(host: string, token: string | undefined): Promise<string> {
    const port = await freePort();
    const server = await serveWorkerMetrics(createWorkerMetrics(queues, createDiskImageStore(tmpdir())), {
      host,
      port,
      token,
      log: createLogger('worker', 'silent'),
    });
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
    expect(await scraped.text()).toContain('queue_jobs');
    expect((await fetch(`${url}/other`)).status).toBe(404);
  });

  it('answers only the bearer of METRICS_TOKEN when it is set', async () => {
    const url = await serve('127.0.0.1', 'worker-metrics-token');
    expect((await fetch(`${url}/metrics`)).status).toBe(401);
    const wrong = await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer another-token' } });
    expect(wrong.status).toBe(401);
    expect(wrong.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    const scraped = await fetch(`${url}/metrics?x=1`, {
      headers: { authorization: 'Bearer worker-metrics-token' },
    });
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('jobs_total');
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
    const server = await serveWorkerMetrics(createWorkerMetrics(queues, createDiskImageStore(tmpdir())), {
      host: '127.0.0.1',
      port,
      token: undefined,
      log,
    });
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
