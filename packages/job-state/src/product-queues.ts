import type { Redis } from 'ioredis';
import { EXPIRY } from './expiry.js';
import { keys } from './keys.js';

/**
 * The product queues that have been given work (one per tenant, see `productQueueName` in the queue
 * package), so that every worker finds a tenant's queue without being told of the tenant.
 */
export interface ProductQueueRegistry {
  /** Notes that the named queue is being given work now; called before the jobs are added. */
  announceProductQueue(name: string): Promise<void>;
  /** The queues given work within `EXPIRY.productQueueMs`: no job outlives that, so older ones are empty. */
  productQueues(): Promise<string[]>;
}

export function productQueueRegistry(redis: Redis): ProductQueueRegistry {
  return {
    async announceProductQueue(name) {
      const now = Date.now();
      await redis
        .multi()
        .zadd(keys.productQueues(), now, name)
        .zremrangebyscore(keys.productQueues(), '-inf', now - EXPIRY.productQueueMs)
        .exec();
    },
    async productQueues() {
      return redis.zrangebyscore(keys.productQueues(), Date.now() - EXPIRY.productQueueMs, '+inf');
    },
  };
}
