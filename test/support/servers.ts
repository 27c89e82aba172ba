import { randomBytes } from 'node:crypto';
import { inject } from 'vitest';

/** A database of its own on the run's MongoDB-compatible server, so test files never see each other's data. */
export function testMongoUrl(name: string): string {
  const url = new URL(inject('mongoUrl'));
  url.pathname = `/test_${name.replace(/[^a-z0-9]/gi, '_')}_${randomBytes(4).toString('hex')}`;
  return url.href;
}

/**
 * A Redis database index of its own (0-15) on the run's Redis. Each test file that runs programs takes a
 * fixed, different index, so their queues never mix.
 */
export function testRedisUrl(database: number): string {
  const url = new URL(inject('redisUrl'));
  url.pathname = `/${database}`;
  return url.href;
}
