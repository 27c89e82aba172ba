import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { connectDatabase, type Database, recordProductResult } from '@imgsvc/db';
import { createLogger } from '@imgsvc/logging';
import { createRedisConnection, JOB_NAMES, openQueues, type Queues } from '@imgsvc/queue';
import { createDiskImageStore } from '@imgsvc/storage';
import type { Job } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMongoUrl, testRedisUrl } from '../../../test/support/servers.js';
import type { WorkerContext } from './context.js';
import { handleFinalFailure } from './final-failures.js';
import { createWorkerMetrics, type WorkerMetrics } from './metrics.js';

describe('a product job that gave up, in the failure counts', () => {
  let db: Database;
  let redis: Redis;
  let queues: Queues;
  beforeAll(async () => {
    db = await connectDatabase(testMongoUrl('final_failures'), 'final-failures-test');
    redis = createRedisConnection(await testRedisUrl(), 'producer');
    queues = openQueues(redis);
  });
  afterAll(async () => {
    await queues?.close();
    await redis?.quit();
    await db?.close();
  });

  /** What handleFinalFailure reads of the worker: the database, the metrics and the log. */
  const contextWith = (metrics: WorkerMetrics) =>
    ({ db, metrics, log: createLogger('worker', 'silent') }) as unknown as WorkerContext;
  /** A process-product-images job as BullMQ hands it over once its last attempt failed. */
  const gaveUp = (requestId: string, row: number, urls: string[]) =>
    ({
      id: `${requestId}:${row}`,
      name: JOB_NAMES.processProductImages,
      data: { requestId, row, urls },
      attemptsMade: 3,
      opts: { attempts: 3 },
    }) as unknown as Job;
  const processingFailed = async (metrics: WorkerMetrics) =>
    (await metrics.registry.getSingleMetric('imgsvc_image_failures_total')?.get())?.values.find(
      ({ labels }) => labels.code === 'processing_failed',
    )?.value;

  it('counts each of its images as processing_failed, as the completion step will record them', async () => {
    const metrics = createWorkerMetrics(queues, createDiskImageStore(tmpdir()));
    const urls = ['https://img.example/1a.jpg', 'https://img.example/1b.jpg'];
    await handleFinalFailure(gaveUp(randomUUID(), 1, urls), new Error('boom'), contextWith(metrics));
    expect(await processingFailed(metrics)).toBe(2);
  });

  it('counts nothing more when a run recorded the product before the job gave up', async () => {
    const metrics = createWorkerMetrics(queues, createDiskImageStore(tmpdir()));
    const requestId = randomUUID();
    const urls = ['https://img.example/2a.jpg'];
    expect(
      await recordProductResult(db, requestId, 1, { outputUrls: ['https://out/2a.jpg'], errors: [] }),
    ).toBe(true);
    await handleFinalFailure(gaveUp(requestId, 1, urls), new Error('boom'), contextWith(metrics));
    expect(await processingFailed(metrics)).toBe(0);
  });
});
