import { randomUUID } from 'node:crypto';
import { productCounts } from '@imgsvc/domain';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { type JobState, openJobState } from './job-state.js';
import { keys } from './keys.js';
import type { ImageOutcome } from './url-claims.js';

const KEY = `${'cd'.repeat(32)}.jpg`;
const stored: ImageOutcome = { ok: true, outputUrl: `http://127.0.0.1/images/${KEY}` };

describe("a product's finish, on a real Redis", () => {
  let redis: Redis;
  let state: JobState;
  beforeAll(async () => {
    redis = new Redis(await testRedisUrl());
    state = openJobState(redis, { lockMs: 2000, encodingSettings: 'finish' });
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('settles the claim, counts the product once and keeps its sources, in one call', async () => {
    const requestId = `finish-${randomUUID()}`;
    const [a, b] = ['http://127.0.0.1/a.jpg', 'http://127.0.0.1/b.jpg'];
    const claim = await state.claimUrls(requestId, [a, b]);
    expect(claim.toProduce).toEqual([a, b]);
    const failed: ImageOutcome = { ok: false, failure: { url: b, code: 'http_404', message: 'not found' } };
    const outcomes = new Map<string, ImageOutcome>([
      [a, stored],
      [b, failed],
    ]);
    const finish = {
      claim,
      outcomes,
      row: 7,
      counts: productCounts(1, ['http_404']),
      sources: new Map([[a, { key: KEY, etag: '"v1"' }]]),
    };
    expect(await state.finishProduct(finish)).toBe(true);

    // Both outcomes are shared with the request's other products, and no lock is left.
    const again = await state.claimUrls(requestId, [a, b]);
    expect(again.toProduce).toEqual([]);
    expect(again.known).toEqual(outcomes);
    expect(await redis.exists(keys.urlLock(requestId, a), keys.urlLock(requestId, b))).toBe(0);
    expect(await state.readProgress(requestId)).toMatchObject({
      products_done: 1,
      images_succeeded: 1,
      images_failed: 1,
      failures_by_code: { http_404: 1 },
    });
    expect(await state.recallSources([a, b])).toEqual(new Map([[a, { key: KEY, etag: '"v1"' }]]));

    // A rerun of the same product settles nothing new and is not counted again.
    expect(await state.finishProduct({ ...finish, claim: again })).toBe(false);
    expect(await state.readProgress(requestId)).toMatchObject({ products_done: 1, images_succeeded: 1 });
  });

  it('unlocks the URLs left without an outcome, for a retry to produce', async () => {
    const requestId = `finish-${randomUUID()}`;
    const [a, b] = ['http://127.0.0.1/c.jpg', 'http://127.0.0.1/d.jpg'];
    const claim = await state.claimUrls(requestId, [a, b]);
    expect(
      await state.finishProduct({
        claim,
        outcomes: new Map([[a, stored]]),
        row: 1,
        counts: productCounts(1, []),
        sources: new Map(),
      }),
    ).toBe(true);
    const retry = await state.claimUrls(requestId, [a, b]);
    expect([...retry.known.keys()]).toEqual([a]);
    expect(retry.toProduce).toEqual([b]);
    await state.settleUrls(retry, new Map());
  });
});
