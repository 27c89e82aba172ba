import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMachineEnvironment } from '@imgsvc/config';
import { connectDatabase, type Database } from '@imgsvc/db';
import { findExecutable, startRedisServer } from '@imgsvc/local-services';
import {
  createRedisConnection,
  INLINE_PRODUCTS_MAX_CHARS,
  jobIds,
  openQueues,
  type Queues,
} from '@imgsvc/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testMongoUrl, testRedisUrl } from '../../../test/support/servers.js';
import { acceptUpload, type Upload, UploadRefused } from './accept-upload.js';

const upload = (overrides: Partial<Upload> = {}): Upload => ({
  owner: 'owner-hash',
  fingerprint: 'file-a',
  columns: [
    { name: 'S. No.', role: 'serial_number' },
    { name: 'Product Name', role: 'product_name' },
    { name: 'Input Image Urls', role: 'input_image_urls' },
  ],
  products: [
    { row: 1, serialNumber: 1, productName: 'Tote', inputUrls: ['https://img.example/1.jpg'] },
    { row: 2, serialNumber: 2, productName: 'Mug', inputUrls: ['https://img.example/2.jpg'] },
  ],
  imageCount: 2,
  webhookUrl: null,
  ...overrides,
});

describe('accepting an upload, on real servers', () => {
  let db: Database;
  let redis: Redis;
  let queues: Queues;
  let unreachable: Redis;
  let deadQueues: Queues;
  beforeAll(async () => {
    db = await connectDatabase(testMongoUrl('accept_upload'), 'accept-upload-test');
    redis = createRedisConnection(await testRedisUrl(), 'worker');
    queues = openQueues(redis);
    // Nothing listens on port 1: queueing fails as it does with Redis down.
    unreachable = createRedisConnection('redis://127.0.0.1:1/0', 'producer');
    deadQueues = openQueues(unreachable);
  });
  afterAll(async () => {
    await Promise.allSettled([queues?.close(), deadQueues?.close()]);
    redis?.disconnect();
    unreachable?.disconnect();
    await db?.close();
  });

  const stored = async (requestId: string) => ({
    requests: await db.requests.countDocuments({ _id: requestId }),
    products: await db.products.countDocuments({ request_id: requestId }),
    keys: await db.idempotencyKeys.countDocuments({ request_id: requestId }),
  });

  it('stores a pending request with its products and queues its processing', async () => {
    const accepted = await acceptUpload({ db, queues }, upload());
    expect(accepted).toMatchObject({ status: 'pending', replayed: false });
    expect(await stored(accepted.requestId)).toEqual({ requests: 1, products: 2, keys: 0 });
    expect(await queues.requests.getJob(jobIds.processImages(accepted.requestId))).toBeDefined();
  });

  it("hands a small request's products to its fan-out with the job, and a large request's not", async () => {
    const small = await acceptUpload({ db, queues }, upload());
    const smallJob = await queues.requests.getJob(jobIds.processImages(small.requestId));
    expect(smallJob?.data).toEqual({
      requestId: small.requestId,
      products: [
        { row: 1, urls: ['https://img.example/1.jpg'] },
        { row: 2, urls: ['https://img.example/2.jpg'] },
      ],
    });
    // Products whose JSON comes to more than INLINE_PRODUCTS_MAX_CHARS are read back by the fan-out instead.
    const products = Array.from({ length: 3 }, (_, index) => ({
      row: index + 1,
      serialNumber: index + 1,
      productName: `Poster ${index + 1}`,
      inputUrls: [`https://img.example/${index}/${'x'.repeat(INLINE_PRODUCTS_MAX_CHARS / 2)}.jpg`],
    }));
    const large = await acceptUpload({ db, queues }, upload({ products, imageCount: 3 }));
    const largeJob = await queues.requests.getJob(jobIds.processImages(large.requestId));
    expect(largeJob?.data).toEqual({ requestId: large.requestId });
    expect(await stored(large.requestId)).toEqual({ requests: 1, products: 3, keys: 0 });
  });

  it('answers the same key and file again with the first request, and refuses the key with another file', async () => {
    const mine = { owner: 'owner-replay', idempotencyScope: 'scope-1' };
    const first = await acceptUpload({ db, queues }, upload(mine));
    const again = await acceptUpload({ db, queues }, upload(mine));
    expect(again).toEqual({ requestId: first.requestId, status: 'pending', replayed: true });
    const other = acceptUpload({ db, queues }, upload({ ...mine, fingerprint: 'file-b' }));
    await expect(other).rejects.toMatchObject({ name: 'UploadRefused', code: 'idempotency_key_reused' });
    expect(await db.requests.countDocuments({ owner: 'owner-replay' })).toBe(1);
    // A retry while Redis cannot be reached still gets its first answer: the replay needs MongoDB alone.
    const duringOutage = await acceptUpload({ db, queues: deadQueues }, upload(mine));
    expect(duringOutage).toEqual({ requestId: first.requestId, status: 'pending', replayed: true });
  });

  it('gives one request to uploads racing with one key', async () => {
    const answers = await Promise.all(
      Array.from({ length: 5 }, () =>
        acceptUpload({ db, queues }, upload({ idempotencyScope: 'scope-race' })),
      ),
    );
    const ids = new Set(answers.map((answer) => answer.requestId));
    expect(ids.size).toBe(1);
    expect(answers.filter((answer) => !answer.replayed)).toHaveLength(1);
    const [id] = [...ids];
    expect(await stored(id ?? '')).toEqual({ requests: 1, products: 2, keys: 1 });
  });

  it('refuses an upload while the queue cannot be reached, and stores nothing of it', async () => {
    const before = await db.requests.countDocuments({});
    const refused = await acceptUpload(
      { db, queues: deadQueues },
      upload({ idempotencyScope: 'scope-outage' }),
    ).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(UploadRefused);
    expect(refused).toMatchObject({ code: 'queue_unavailable' });
    expect(await db.requests.countDocuments({})).toBe(before);
    expect(await db.idempotencyKeys.countDocuments({ _id: 'scope-outage' })).toBe(0);
  });

  it('takes the request and its key back when Redis refuses the job after the request was stored', async () => {
    // A Redis of its own, out of memory: it answers (the queue is reachable) but refuses every write.
    const dataDir = await mkdtemp(join(tmpdir(), 'accept-upload-redis-'));
    const binary = await findExecutable('redis-server', readMachineEnvironment().path);
    if (!binary) throw new Error('redis-server is not on the PATH');
    const server = await startRedisServer(binary, dataDir, { persistent: false });
    const full = createRedisConnection(server.url, 'worker');
    const fullQueues = openQueues(full);
    try {
      await full.config('SET', 'maxmemory', '1');
      const before = await db.requests.countDocuments({});
      const refused = await acceptUpload(
        { db, queues: fullQueues },
        upload({ idempotencyScope: 'scope-late' }),
      ).catch((error: unknown) => error);
      expect(refused).toMatchObject({ name: 'UploadRefused', code: 'queue_unavailable' });
      expect((refused as Error).cause).toBeDefined();
      expect(await db.requests.countDocuments({})).toBe(before);
      expect(await db.idempotencyKeys.countDocuments({ _id: 'scope-late' })).toBe(0);
      // The key is free again: the same upload once the queue works is a new request.
      const retried = await acceptUpload({ db, queues }, upload({ idempotencyScope: 'scope-late' }));
      expect(retried.replayed).toBe(false);
      expect(await stored(retried.requestId)).toEqual({ requests: 1, products: 2, keys: 1 });
    } finally {
      await fullQueues.close().catch(() => {});
      full.disconnect();
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
