import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { inject } from 'vitest';

/** A database of its own on the run's MongoDB-compatible server, so test files never see each other's data. */
export function testMongoUrl(name: string): string {
  const url = new URL(inject('mongoUrl'));
  url.pathname = `/test_${name.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(4).toString('hex')}`;
  return url.href;
}

const ALLOCATION_KEY = 'image-service-test:next-database';

/**
 * A Redis database no other caller in this run has, on the run's own Redis (which holds 1024 of them), so
 * queues, locks and progress of different test files never mix. Database 0 keeps only the allocation counter.
 */
export async function testRedisUrl(): Promise<string> {
  const url = new URL(inject('redisUrl'));
  const counter = new Redis(url.href, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await counter.connect();
    const database = await counter.incr(ALLOCATION_KEY);
    const available = Number(((await counter.config('GET', 'databases')) as string[])[1]);
    if (database >= available) {
      throw new Error(`the test Redis has ${available} databases and this run has asked for ${database + 1}`);
    }
    url.pathname = `/${database}`;
    return url.href;
  } finally {
    counter.disconnect();
  }
}
