import { Redis } from 'ioredis';

/**
 * A Redis connection for BullMQ. Workers block on Redis and must retry forever; producers (the API) fail a
 * command quickly instead, so an upload during an outage gets an answer rather than a hang.
 */
export function createRedisConnection(url: string, role: 'worker' | 'producer'): Redis {
  const redis = new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    connectTimeout: 5000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Failures reach callers through their commands (an upload's 503, a job's retry) and ioredis reconnects by
  // itself; without a listener each lost connection would also print an unhandled-error trace.
  redis.on('error', () => {});
  return redis;
}
