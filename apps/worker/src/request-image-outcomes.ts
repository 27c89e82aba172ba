import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { ImageFailure } from '@imgsvc/db';
import type { Redis } from 'ioredis';

export type ImageOutcome =
  | { readonly ok: true; readonly outputUrl: string }
  | { readonly ok: false; readonly failure: ImageFailure };

export interface RequestImageOutcomes {
  /**
   * The outcome of one URL within one request: computed once, by whichever job gets there first, and shared
   * with every other product of the request that names the same URL, in any worker process.
   */
  outcome(
    requestId: string,
    url: string,
    produce: () => Promise<ImageOutcome>,
    cancel?: AbortSignal,
  ): Promise<ImageOutcome>;
  /** Drops a finished request's outcomes. */
  forget(requestId: string): Promise<void>;
}

const OUTCOMES_TTL_MS = 7 * 24 * 3600 * 1000;
const POLL_MS = 100;
/** However long another job's lock lives on, a waiter gives up after this and the job is retried. */
const MAX_WAIT_MS = 15 * 60 * 1000;

const RELEASE_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
// KEYS: outcomes hash, lock. ARGV: field, token, lock ms. The outcome if known, else the lock if free, in one trip.
const KNOWN_OR_LOCK = `
local known = redis.call('hget', KEYS[1], ARGV[1])
if known then return {1, known} end
if redis.call('set', KEYS[2], ARGV[2], 'PX', ARGV[3], 'NX') then return {2} end
return {0}`;
// KEYS: outcomes hash, lock. ARGV: field, outcome, ttl ms, token. Records the outcome and frees the lock.
const RECORD_AND_UNLOCK = `
redis.call('hset', KEYS[1], ARGV[1], ARGV[2])
redis.call('pexpire', KEYS[1], ARGV[3])
if redis.call('get', KEYS[2]) == ARGV[4] then redis.call('del', KEYS[2]) end
return 1`;
const RENEW_LOCK = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * Outcomes kept in a Redis hash per request, with a lock per URL so that two jobs do not fetch the same URL at
 * once. The holder renews its lock while it works; a crashed holder's lock lapses after `lockMs`, and a waiter
 * then takes over. Failures of infrastructure are not recorded: the job retries them.
 */
export function createRequestImageOutcomes(redis: Redis, lockMs: number): RequestImageOutcomes {
  const outcomesKey = (requestId: string) => `imgsvc:image-outcomes:${requestId}`;
  return {
    async outcome(requestId, url, produce, cancel) {
      const field = createHash('sha256').update(url).digest('hex');
      const lockKey = `imgsvc:image-lock:${requestId}:${field}`;
      const deadline = Date.now() + MAX_WAIT_MS;
      for (;;) {
        const token = randomUUID();
        const [state, known] = (await redis.eval(
          KNOWN_OR_LOCK,
          2,
          outcomesKey(requestId),
          lockKey,
          field,
          token,
          lockMs,
        )) as [number, string?];
        if (state === 1 && known) return JSON.parse(known) as ImageOutcome;
        if (state === 2) {
          const renewal = setInterval(() => {
            redis.eval(RENEW_LOCK, 1, lockKey, token, lockMs).catch(() => {});
          }, lockMs / 3);
          let outcome: ImageOutcome;
          try {
            outcome = await produce();
          } catch (error) {
            clearInterval(renewal);
            await redis.eval(RELEASE_LOCK, 1, lockKey, token);
            throw error;
          }
          clearInterval(renewal);
          await redis.eval(
            RECORD_AND_UNLOCK,
            2,
            outcomesKey(requestId),
            lockKey,
            field,
            JSON.stringify(outcome),
            OUTCOMES_TTL_MS,
            token,
          );
          return outcome;
        }
        if (Date.now() > deadline) throw new Error(`gave up waiting for another job to process ${url}`);
        await delay(POLL_MS, undefined, { signal: cancel });
      }
    },
    async forget(requestId) {
      await redis.del(outcomesKey(requestId));
    },
  };
}
