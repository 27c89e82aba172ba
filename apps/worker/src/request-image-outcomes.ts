import { createHash, randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { ImageFailure } from '@imgsvc/domain';
import type { Redis } from 'ioredis';

export type ImageOutcome =
  | { readonly ok: true; readonly outputUrl: string }
  | { readonly ok: false; readonly failure: ImageFailure };

/** The outcomes of one product's images, and the locks its job took to produce some of them. */
export interface ClaimedOutcomes {
  /** One per URL, in the product's order. */
  readonly outcomes: readonly ImageOutcome[];
  /**
   * Records the outcomes this job produced for the other products of the request and frees its locks, in one
   * trip, unless that was done already (before waiting for another job). Called once, after the product is
   * recorded (or when recording it failed).
   */
  settle(): Promise<void>;
}

export interface RequestImageOutcomes {
  /**
   * The outcomes of one product's URLs. Each URL of a request is processed once, by whichever job gets there
   * first, and its outcome shared with every other product that names it, in any worker process. One trip to
   * Redis learns every known outcome and locks the rest; URLs another job holds are waited for.
   */
  claim(
    requestId: string,
    urls: readonly string[],
    produce: (url: string) => Promise<ImageOutcome>,
    cancel?: AbortSignal,
  ): Promise<ClaimedOutcomes>;
  /** Drops a finished request's outcomes. */
  forget(requestId: string): Promise<void>;
}

const OUTCOMES_TTL_MS = 7 * 24 * 3600 * 1000;
const POLL_MS = 100;
/** However long another job's lock lives on, a waiter gives up after this and the job is retried. */
const MAX_WAIT_MS = 15 * 60 * 1000;

// KEYS: outcomes hash, then one lock per URL. ARGV: token, lock ms, then one field per URL.
// For each URL: its outcome if known, else 1 when this call took its lock, else 0 (another job holds it).
const KNOWN_OR_LOCK = `
local states = {}
for index = 2, #KEYS do
  local known = redis.call('hget', KEYS[1], ARGV[index + 1])
  if known then
    states[index - 1] = known
  elseif redis.call('set', KEYS[index], ARGV[1], 'PX', ARGV[2], 'NX') then
    states[index - 1] = 1
  else
    states[index - 1] = 0
  end
end
return states`;
// KEYS: outcomes hash, then the locks. ARGV: token, ttl ms, then field, outcome pairs (none when releasing).
const RECORD_AND_UNLOCK = `
for index = 3, #ARGV, 2 do redis.call('hset', KEYS[1], ARGV[index], ARGV[index + 1]) end
if #ARGV > 2 then redis.call('pexpire', KEYS[1], ARGV[2]) end
for index = 2, #KEYS do
  if redis.call('get', KEYS[index]) == ARGV[1] then redis.call('del', KEYS[index]) end
end
return 1`;
// KEYS: the locks. ARGV: token, lock ms.
const RENEW_LOCKS = `
for index = 1, #KEYS do
  if redis.call('get', KEYS[index]) == ARGV[1] then redis.call('pexpire', KEYS[index], ARGV[2]) end
end
return 1`;

interface OutcomeCommands {
  imageOutcomesClaim(...args: (string | number)[]): Promise<(string | number)[]>;
  imageOutcomesRecord(...args: (string | number)[]): Promise<number>;
  imageOutcomesRenew(...args: (string | number)[]): Promise<number>;
}

/**
 * Outcomes kept in a Redis hash per request, with a lock per URL so that two jobs do not fetch the same URL at
 * once. The holder renews its locks while it works; a crashed holder's locks lapse after `lockMs`, and a waiter
 * then takes over. Failures of infrastructure are not recorded: the job retries them.
 */
export function createRequestImageOutcomes(connection: Redis, lockMs: number): RequestImageOutcomes {
  // Scripts are sent once and then called by their digest.
  if (typeof (connection as Partial<OutcomeCommands>).imageOutcomesClaim !== 'function') {
    connection.defineCommand('imageOutcomesClaim', { lua: KNOWN_OR_LOCK });
    connection.defineCommand('imageOutcomesRecord', { lua: RECORD_AND_UNLOCK });
    connection.defineCommand('imageOutcomesRenew', { lua: RENEW_LOCKS });
  }
  const redis = connection as Redis & OutcomeCommands;
  const outcomesKey = (requestId: string) => `imgsvc:image-outcomes:${requestId}`;
  const lockKey = (requestId: string, field: string) => `imgsvc:image-lock:${requestId}:${field}`;
  const fieldOf = (url: string) => createHash('sha256').update(url).digest('hex');

  return {
    async claim(requestId, urls, produce, cancel) {
      const hash = outcomesKey(requestId);
      const token = randomUUID();
      const urlOf = new Map(urls.map((url) => [fieldOf(url), url]));
      const known = new Map<string, ImageOutcome>();
      const mine = new Map<string, ImageOutcome>();
      const producing = new Map<string, Promise<ImageOutcome>>();
      // Locks this call holds and has not yet released (with the outcome recorded, when there is one).
      let held: string[] = [];
      const renewal = setInterval(() => {
        if (held.length === 0) return;
        const locks = held.map((field) => lockKey(requestId, field));
        redis.imageOutcomesRenew(locks.length, ...locks, token, lockMs).catch(() => {});
      }, lockMs / 3);
      /** Records the outcomes produced under the held locks and releases every one of them, in one trip. */
      const release = async () => {
        if (held.length === 0) return;
        const fields = held;
        held = [];
        const pairs = fields.flatMap((field) => {
          const outcome = mine.get(field);
          return outcome ? [field, JSON.stringify(outcome)] : [];
        });
        const locks = fields.map((field) => lockKey(requestId, field));
        await redis.imageOutcomesRecord(1 + locks.length, hash, ...locks, token, OUTCOMES_TTL_MS, ...pairs);
      };
      /** Waits for what is being produced; an infrastructure failure is thrown once all of it has finished. */
      const finishProducing = async () => {
        const entries = [...producing];
        producing.clear();
        const results = await Promise.allSettled(
          entries.map(async ([field, outcome]) => [field, await outcome] as const),
        );
        for (const result of results) if (result.status === 'fulfilled') mine.set(...result.value);
        const failure = results.find((result) => result.status === 'rejected');
        if (failure) throw failure.reason;
      };

      try {
        const deadline = Date.now() + MAX_WAIT_MS;
        let waiting = [...urlOf.keys()];
        while (waiting.length > 0) {
          const locks = waiting.map((field) => lockKey(requestId, field));
          const states = await redis.imageOutcomesClaim(
            1 + locks.length,
            hash,
            ...locks,
            token,
            lockMs,
            ...waiting,
          );
          const busy: string[] = [];
          waiting.forEach((field, index) => {
            const state = states[index];
            if (typeof state === 'string') {
              known.set(field, JSON.parse(state) as ImageOutcome);
            } else if (state === 1) {
              held.push(field);
              const outcome = produce(urlOf.get(field) ?? '');
              // Awaited below; until then a failure must not count as unhandled.
              outcome.catch(() => {});
              producing.set(field, outcome);
            } else {
              busy.push(field);
            }
          });
          waiting = busy;
          if (waiting.length === 0) break;
          // Before waiting for other jobs, finish and share what this one holds: two products waiting for each
          // other's images would otherwise wait for ever.
          await finishProducing();
          await release();
          if (Date.now() > deadline) {
            throw new Error(`gave up waiting for another job to process ${urlOf.get(waiting[0] ?? '')}`);
          }
          await delay(POLL_MS, undefined, { signal: cancel });
        }
        await finishProducing();
      } catch (error) {
        // Whatever is under way finishes before the locks go, so that no other job starts it meanwhile; what
        // did succeed is kept for the retry.
        await finishProducing().catch(() => {});
        clearInterval(renewal);
        await release();
        throw error;
      }

      const outcomeOf = (url: string) => {
        const field = fieldOf(url);
        const outcome = mine.get(field) ?? known.get(field);
        if (!outcome) throw new Error(`no outcome for ${url}`);
        return outcome;
      };
      return {
        outcomes: urls.map(outcomeOf),
        settle: async () => {
          clearInterval(renewal);
          await release();
        },
      };
    },
    async forget(requestId) {
      await redis.del(outcomesKey(requestId));
    },
  };
}
