import { randomUUID } from 'node:crypto';
import {
  beginIncomingRequest,
  connectDatabase,
  type Database,
  findRequest,
  insertIncomingProducts,
  insertReceivedRequest,
  insertRequestWithProducts,
} from '@imgsvc/db';
import {
  createRedisConnection,
  enqueueProcessImages,
  jobIds,
  openQueues,
  QUEUE_NAMES,
  type Queues,
} from '@imgsvc/queue';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pollUntil } from '../../../test/support/poll.js';
import { testMongoUrl, testRedisUrl } from '../../../test/support/servers.js';
import { reconcileRequests } from './reconcile-requests.js';

describe('finding requests that no job moves any more, on real servers', () => {
  let db: Database;
  let redis: Redis;
  let queues: Queues;
  beforeAll(async () => {
    db = await connectDatabase(testMongoUrl('reconcile'), 'reconcile-test');
    redis = createRedisConnection(await testRedisUrl(), 'worker');
    queues = openQueues(redis);
  });
  afterAll(async () => {
    await queues?.close();
    redis?.disconnect();
    await db?.close();
  });

  const stored = async (createdAt: Date) => {
    const id = randomUUID();
    await insertRequestWithProducts(
      db,
      {
        id,
        owner: null,
        columns: [],
        products: [
          { row: 1, serialNumber: 1, productName: 'Tote', inputUrls: ['https://img.example/1.jpg'] },
        ],
        imageCount: 1,
        webhookUrl: null,
      },
      createdAt,
    );
    return id;
  };
  const ago = (ms: number) => new Date(Date.now() - ms);
  const finishing = () => ({ db, queues, webhook: { maxAttempts: 3, backoffMs: 1000 } });

  it('queues the fan-out again for a request without one, leaves the others and the young alone', async () => {
    const stranded = await stored(ago(60_000));
    const moving = await stored(ago(60_000));
    await enqueueProcessImages(queues, moving);
    const young = await stored(ago(1000));
    const found = await reconcileRequests(finishing(), { graceMs: 10_000, uploadMaxMs: 600_000 });
    expect(found.requeued).toContain(stranded);
    expect(found.requeued).not.toContain(moving);
    expect(found.requeued).not.toContain(young);
    expect(await queues.requests.getJob(jobIds.processImages(stranded))).toBeDefined();
    // Queued once: the next pass finds its job and leaves it.
    expect(
      (await reconcileRequests(finishing(), { graceMs: 10_000, uploadMaxMs: 600_000 })).requeued,
    ).not.toContain(stranded);
  });

  it('queues the completion step of a request whose products all ended without one', async () => {
    const id = await stored(ago(60_000));
    await enqueueProcessImages(queues, id);
    // A worker that ends the fan-out without queueing the completion step, as if Redis then lost that job.
    const worker = new Worker(QUEUE_NAMES.requests, async () => 'all products processed', {
      connection: redis.duplicate(),
    });
    try {
      await pollUntil(
        async () =>
          (await (await queues.requests.getJob(jobIds.processImages(id)))?.getState()) === 'completed'
            ? true
            : undefined,
        { timeoutMs: 10_000, intervalMs: 50, what: 'the fan-out completed' },
      );
    } finally {
      await worker.close();
    }
    const found = await reconcileRequests(finishing(), { graceMs: 10_000, uploadMaxMs: 600_000 });
    expect(found.completionQueued).toContain(id);
    expect(await queues.requests.getJob(jobIds.completion(id))).toBeDefined();
  });

  it('fails a request whose coordination gave up without the failure being recorded, and calls back', async () => {
    const id = await stored(ago(60_000));
    await queues.requests.add(
      'process-images',
      { requestId: id },
      { jobId: jobIds.processImages(id), attempts: 1 },
    );
    // The job gives up; the worker that should record the request's failure (a database outage, a crash)
    // does not.
    const worker = new Worker(
      QUEUE_NAMES.requests,
      async () => {
        throw new Error('connect ECONNREFUSED 10.0.0.7:27017');
      },
      { connection: redis.duplicate() },
    );
    try {
      await pollUntil(
        async () =>
          (await (await queues.requests.getJob(jobIds.processImages(id)))?.getState()) === 'failed'
            ? true
            : undefined,
        { timeoutMs: 10_000, intervalMs: 50, what: 'the fan-out failed' },
      );
    } finally {
      await worker.close();
    }
    const found = await reconcileRequests(finishing(), { graceMs: 10_000, uploadMaxMs: 600_000 });
    expect(found.failed).toContain(id);
    const request = await findRequest(db, id);
    expect(request?.status).toBe('failed');
    // The reason is ours, never the library's words (which name internal addresses).
    expect(request?.error_message).toMatch(/^process-images gave up after 1 attempt: an internal error/);
    expect(request?.error_message).not.toMatch(/10\.0\.0\.7/);
    expect(await queues.webhooks.getJob(jobIds.webhook(id, 'request.failed'))).toBeDefined();
    // Once: the next pass finds the request finished.
    expect(
      (await reconcileRequests(finishing(), { graceMs: 10_000, uploadMaxMs: 600_000 })).failed,
    ).not.toContain(id);
  });

  it('removes the products of uploads that were never stored, once no upload could still be under way', async () => {
    const product = {
      row: 1,
      serialNumber: 1,
      productName: 'Tote',
      inputUrls: ['https://img.example/1.jpg'],
    };
    const receiving = async (startedAt: Date) => {
      const id = randomUUID();
      await beginIncomingRequest(db, id, startedAt);
      await insertIncomingProducts(db, id, [product, { ...product, row: 2, serialNumber: 2 }]);
      return id;
    };
    const abandoned = await receiving(ago(700_000));
    const underWay = await receiving(ago(60_000));
    // Stored just before its API stopped, which left the note: the request stands, only the note goes.
    const stored = await receiving(ago(700_000));
    const request = {
      id: stored,
      owner: null,
      columns: [],
      productCount: 2,
      imageCount: 2,
      webhookUrl: null,
    };
    await insertReceivedRequest(db, request);
    await db.incoming.insertOne({ _id: stored, started_at: ago(700_000) });

    const found = await reconcileRequests(finishing(), { graceMs: 10_000, uploadMaxMs: 600_000 });
    expect(found.abandoned).toEqual([abandoned]);
    expect(await db.products.countDocuments({ request_id: abandoned })).toBe(0);
    expect(await db.incoming.countDocuments({ _id: abandoned })).toBe(0);
    expect(await db.products.countDocuments({ request_id: underWay })).toBe(2);
    expect(await db.incoming.countDocuments({ _id: underWay })).toBe(1);
    expect(await db.products.countDocuments({ request_id: stored })).toBe(2);
    expect(await db.incoming.countDocuments({ _id: stored })).toBe(0);
  });
});
