import { tmpdir } from 'node:os';
import { IMAGE_FAILURE_REASONS } from '@imgsvc/domain';
import { createRedisConnection, openQueues, type Queues } from '@imgsvc/queue';
import { createDiskImageStore } from '@imgsvc/storage';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { createWorkerMetrics, failureCodeLabel } from './metrics.js';

describe("the worker's metrics", () => {
  let redis: Redis;
  let queues: Queues;
  beforeAll(async () => {
    redis = createRedisConnection(await testRedisUrl(), 'producer');
    queues = openQueues(redis);
  });
  afterAll(async () => {
    await queues.close();
    await redis.quit();
  });

  it("names the service's own metrics imgsvc_…, and keeps the process metrics under their standard names", async () => {
    const text = await createWorkerMetrics(queues, createDiskImageStore(tmpdir())).registry.metrics();
    const names = [...text.matchAll(/^# TYPE (\S+) /gm)].map(([, name]) => name ?? '');
    expect(names.filter((name) => name.startsWith('imgsvc_')).sort()).toEqual([
      'imgsvc_image_bytes_total',
      'imgsvc_image_failures_total',
      'imgsvc_image_processing_seconds',
      'imgsvc_jobs_total',
      'imgsvc_queue_jobs',
      'imgsvc_storage_free_bytes',
      'imgsvc_storage_unavailable_total',
    ]);
    expect(names.filter((name) => !name.startsWith('imgsvc_'))).toEqual(
      names.filter((name) => /^(process|nodejs)_/.test(name)),
    );
    expect(names).toContain('process_cpu_seconds_total');
    expect(names).toContain('nodejs_heap_size_used_bytes');
  });

  it('counts failed images by code, with every catalogue code shown from the start and nothing else as a label', async () => {
    const metrics = createWorkerMetrics(queues, createDiskImageStore(tmpdir()));
    const counted = async () =>
      Object.fromEntries(
        (await metrics.registry.getSingleMetric('imgsvc_image_failures_total')?.get())?.values.map(
          ({ labels, value }) => [String(labels.code), value],
        ) ?? [],
      );
    expect(await counted()).toEqual(
      Object.fromEntries(Object.keys(IMAGE_FAILURE_REASONS).map((code) => [code, 0])),
    );
    metrics.countImageFailures(['http_404', 'not_an_image', 'http_404']);
    // Never a URL or a message: a code outside the catalogue is counted, under one label.
    metrics.countImageFailures(['https://shop.example/a.jpg', 'fetch_timeout after 15 s']);
    expect(await counted()).toMatchObject({ http_404: 2, not_an_image: 1, fetch_timeout: 0, unknown: 2 });
    expect(Object.keys(await counted()).filter((code) => !/^[a-z0-9_]+$/.test(code))).toEqual([]);
    expect(await metrics.registry.metrics()).toMatch(
      /^imgsvc_image_failures_total\{code="http_404",program="worker"\} 2$/m,
    );
  });

  it('keeps only catalogue codes and http error statuses as failure labels', () => {
    expect(failureCodeLabel('too_large')).toBe('too_large');
    expect(failureCodeLabel('http_503')).toBe('http_503');
    for (const outside of [
      'http_99999',
      'http_',
      'constructor',
      'toString',
      '__proto__',
      'http://host/x.jpg',
    ])
      expect(failureCodeLabel(outside), outside).toBe('unknown');
  });
});
