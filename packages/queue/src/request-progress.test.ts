import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { createRedisConnection } from './connection.js';
import { type RequestProgress, requestProgress } from './request-progress.js';

describe('live progress of a request', () => {
  let redis: Redis;
  let progress: RequestProgress;
  beforeAll(async () => {
    redis = createRedisConnection(await testRedisUrl(), 'worker');
    progress = requestProgress(redis);
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('counts each product once, with its failed images by code, however often its job runs', async () => {
    const id = 'progress-once';
    expect(await progress.recordProduct(id, 1, 2, ['http_404'])).toBe(true);
    expect(await progress.recordProduct(id, 1, 2, ['http_404'])).toBe(false);
    expect(await progress.recordProduct(id, 2, 0, ['fetch_timeout', 'http_404', 'not_an_image'])).toBe(true);
    expect(await progress.recordProduct(id, 3, 4, [])).toBe(true);
    const read = await progress.read(id);
    expect(read).toMatchObject({
      products_done: 3,
      images_succeeded: 6,
      images_failed: 4,
      failures_by_code: { http_404: 2, fetch_timeout: 1, not_an_image: 1 },
    });
    expect(read.updated_at).toBeInstanceOf(Date);
  });

  it('reads nothing done for a request it has not seen', async () => {
    expect(await progress.read('progress-unknown')).toEqual({
      products_done: 0,
      images_succeeded: 0,
      images_failed: 0,
      failures_by_code: {},
      updated_at: undefined,
    });
  });

  it('keeps the last counts for a while once the request is finished, and forgets which rows were counted', async () => {
    const id = 'progress-forget';
    await progress.recordProduct(id, 1, 1, ['too_large']);
    await progress.forget(id);
    expect(await progress.read(id)).toMatchObject({ products_done: 1, failures_by_code: { too_large: 1 } });
    const ttls = await Promise.all(
      [`imgsvc:progress:${id}`, `imgsvc:progress-failures:${id}`].map((key) => redis.pttl(key)),
    );
    for (const ttl of ttls) expect(ttl).toBeGreaterThan(0);
    for (const ttl of ttls) expect(ttl).toBeLessThanOrEqual(10 * 60 * 1000);
    expect(await redis.exists(`imgsvc:progress-rows:${id}`)).toBe(0);
  });
});
