import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { createRedisConnection } from '@imgsvc/queue';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testRedisUrl } from '../../../test/support/servers.js';
import { createRequestImageOutcomes, type ImageOutcome } from './request-image-outcomes.js';

const stored = (name: string): ImageOutcome => ({ ok: true, outputUrl: `http://x/images/${name}` });

describe('request image outcomes, on a real Redis', () => {
  let redis: Redis;
  beforeAll(async () => {
    redis = createRedisConnection(await testRedisUrl(), 'worker');
  });
  afterAll(async () => {
    await redis.quit();
  });

  it('processes a URL once per request, whichever product names it, and in order for each product', async () => {
    const outcomes = createRequestImageOutcomes(redis, 2000);
    const request = randomUUID();
    const produced: string[] = [];
    const produce = async (url: string) => {
      produced.push(url);
      await delay(50);
      return stored(url);
    };
    // As a job does: the product is recorded, then its claim settled.
    const product = async (urls: string[]) => {
      const claimed = await outcomes.claim(request, urls, produce);
      await claimed.settle();
      return claimed;
    };
    const [first, second] = await Promise.all([product(['a', 'shared', 'a']), product(['shared', 'b'])]);
    expect(first.outcomes).toEqual([stored('a'), stored('shared'), stored('a')]);
    expect(second.outcomes).toEqual([stored('shared'), stored('b')]);
    expect(produced.sort()).toEqual(['a', 'b', 'shared']);
    // Known outcomes are reused by a later product without producing anything.
    const later = await outcomes.claim(request, ['b', 'shared'], produce);
    expect(later.outcomes).toEqual([stored('b'), stored('shared')]);
    expect(produced).toHaveLength(3);
  });

  it('lets two products naming the same images in opposite orders both finish, each image made once', async () => {
    const outcomes = createRequestImageOutcomes(redis, 2000);
    const request = randomUUID();
    const made: string[] = [];
    const produce = async (url: string) => {
      made.push(url);
      await delay(100);
      return stored(url);
    };
    const product = async (urls: string[]) => {
      const claimed = await outcomes.claim(request, urls, produce);
      await claimed.settle();
      return claimed.outcomes;
    };
    const started = Date.now();
    const [one, two] = await Promise.all([product(['u1', 'u2']), product(['u2', 'u1'])]);
    expect(one).toEqual([stored('u1'), stored('u2')]);
    expect(two).toEqual([stored('u2'), stored('u1')]);
    expect(made.sort()).toEqual(['u1', 'u2']);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('fails a product whose image meets an infrastructure failure while another of its URLs is awaited, and frees its locks at once', async () => {
    const lockMs = 2000;
    const outcomes = createRequestImageOutcomes(redis, lockMs);
    const request = randomUUID();
    // Another job holds "slow" for a while.
    let holding = () => {};
    const held = new Promise<void>((resolve) => {
      holding = resolve;
    });
    const holder = outcomes.claim(request, ['slow'], async () => {
      holding();
      await delay(400);
      return stored('slow');
    });
    await held;
    const failing = outcomes.claim(request, ['slow', 'broken'], async (url) => {
      if (url === 'broken') throw new Error('disk full');
      return stored(url);
    });
    await expect(failing).rejects.toThrow('disk full');
    await (await holder).settle();
    // The failed job's lock on "broken" is gone: the retry takes it at once, not when a leaked lock would lapse.
    const bound = lockMs / 4;
    const started = Date.now();
    const retry = await outcomes
      .claim(request, ['broken'], async () => stored('broken'), AbortSignal.timeout(bound))
      .catch((error: unknown) => {
        throw new Error(`the retry still waited for the lock on "broken" after ${Date.now() - started} ms`, {
          cause: error,
        });
      });
    expect(Date.now() - started).toBeLessThan(bound);
    await retry.settle();
    expect(retry.outcomes).toEqual([stored('broken')]);
  });
});
