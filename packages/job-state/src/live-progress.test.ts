import { productCounts } from '@imgsvc/domain';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { type JobState, openJobState, openProgressReader } from './job-state.js';

describe('live progress of a request, on a real Redis', () => {
  let url: string;
  let redis: Redis;
  let state: JobState;
  beforeAll(async () => {
    url = await testRedisUrl();
    redis = new Redis(url);
    state = openJobState(redis, { lockMs: 2000, encodingSettings: 'test' });
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('counts each product once, with its failed images by code, however often its job runs', async () => {
    const id = 'progress-once';
    expect(await state.recordProgress(id, 1, productCounts(2, ['http_404']))).toBe(true);
    expect(await state.recordProgress(id, 1, productCounts(2, ['http_404']))).toBe(false);
    expect(
      await state.recordProgress(id, 2, productCounts(0, ['fetch_timeout', 'http_404', 'not_an_image'])),
    ).toBe(true);
    expect(await state.recordProgress(id, 3, productCounts(4, []))).toBe(true);
    const read = await state.readProgress(id);
    expect(read).toMatchObject({
      products_done: 3,
      images_succeeded: 6,
      images_failed: 4,
      failures_by_code: { http_404: 2, fetch_timeout: 1, not_an_image: 1 },
    });
    expect(read.updated_at).toBeInstanceOf(Date);
  });

  it('gives the counts of every row once every row is counted, and nothing before or once forgotten', async () => {
    const id = 'progress-counted';
    await state.recordProgress(id, 1, productCounts(2, []));
    await state.recordProgress(id, 2, productCounts(1, ['http_404']));
    expect(await state.countedProgress(id, 3)).toBeUndefined();
    await state.recordProgress(id, 3, productCounts(0, ['http_404', 'not_an_image']));
    expect(await state.countedProgress(id, 3)).toEqual({
      products_done: 3,
      images_succeeded: 3,
      images_failed: 3,
      failures_by_code: { http_404: 2, not_an_image: 1 },
    });
    // Rows of another request's size are not taken for this one's.
    expect(await state.countedProgress(id, 4)).toBeUndefined();
    await state.forgetRequest(id);
    expect(await state.countedProgress(id, 3)).toBeUndefined();
  });

  it('reads nothing done for a request it has not seen', async () => {
    expect(await state.readProgress('progress-unknown')).toEqual({
      products_done: 0,
      images_succeeded: 0,
      images_failed: 0,
      failures_by_code: {},
      updated_at: undefined,
    });
  });

  it('shows the API the counts the worker recorded', async () => {
    const id = 'progress-read-by-api';
    await state.recordProgress(id, 1, productCounts(1, ['too_large']));
    const api = new Redis(url);
    try {
      expect(await openProgressReader(api).readProgress(id)).toMatchObject({
        products_done: 1,
        images_succeeded: 1,
        images_failed: 1,
        failures_by_code: { too_large: 1 },
      });
    } finally {
      api.disconnect();
    }
  });

  it('keeps the last counts for a while once the request is finished, and forgets which rows were counted', async () => {
    const id = 'progress-forget';
    await state.recordProgress(id, 1, productCounts(1, ['too_large']));
    await state.forgetRequest(id);
    expect(await state.readProgress(id)).toMatchObject({
      products_done: 1,
      failures_by_code: { too_large: 1 },
    });
    const ttls = await Promise.all(
      [`imgsvc:progress:${id}`, `imgsvc:progress-failures:${id}`].map((key) => redis.pttl(key)),
    );
    for (const ttl of ttls) expect(ttl).toBeGreaterThan(0);
    for (const ttl of ttls) expect(ttl).toBeLessThanOrEqual(10 * 60 * 1000);
    expect(await redis.exists(`imgsvc:progress-rows:${id}`)).toBe(0);
  });
});
