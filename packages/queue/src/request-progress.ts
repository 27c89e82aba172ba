import type { RequestCounts } from '@imgsvc/domain';
import type { Redis } from 'ioredis';

export interface LiveProgress extends RequestCounts {
  /** When the last product was counted; undefined before the first. */
  readonly updated_at: Date | undefined;
}

export interface RequestProgress {
  /**
   * Counts a finished product once, however many times its job runs: the row joins a set and the counters move
   * only when it was not there yet, in one atomic step. `failureCodes` holds one code per failed image.
   */
  recordProduct(
    requestId: string,
    row: number,
    succeeded: number,
    failureCodes: readonly string[],
  ): Promise<boolean>;
  read(requestId: string): Promise<LiveProgress>;
  /**
   * Called once a request is finished (MongoDB then holds the exact totals): drops the set of counted rows, and
   * lets the counters lapse after a few minutes, so that a reader still holding the request as running (a
   * cached copy) sees the last counts rather than none.
   */
  forget(requestId: string): Promise<void>;
}

const PROGRESS_TTL_SECONDS = 30 * 24 * 3600;
const FINISHED_COUNTS_TTL_MS = 10 * 60 * 1000;

// KEYS: rows set, counters hash, failures-by-code hash. ARGV: row, succeeded, now (ms), ttl (s), then one
// failure code per failed image.
const RECORD_PRODUCT = `
if redis.call('SADD', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HINCRBY', KEYS[2], 'products_done', 1)
redis.call('HINCRBY', KEYS[2], 'images_succeeded', ARGV[2])
redis.call('HINCRBY', KEYS[2], 'images_failed', #ARGV - 4)
redis.call('HSET', KEYS[2], 'updated_at', ARGV[3])
for i = 5, #ARGV do redis.call('HINCRBY', KEYS[3], ARGV[i], 1) end
redis.call('EXPIRE', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[2], ARGV[4])
if #ARGV > 4 then redis.call('EXPIRE', KEYS[3], ARGV[4]) end
return 1`;

interface ProgressCommands {
  imageServiceRecordProduct(...args: (string | number)[]): Promise<number>;
}

/**
 * Live progress in Redis, where increments are atomic. MongoDB-compatible servers such as FerretDB apply
 * updates as read-modify-write, so many jobs counting into one request document could lose counts.
 */
export function requestProgress(connection: Redis): RequestProgress {
  // The script is sent once and then called by its digest.
  if (typeof (connection as Partial<ProgressCommands>).imageServiceRecordProduct !== 'function') {
    connection.defineCommand('imageServiceRecordProduct', { numberOfKeys: 3, lua: RECORD_PRODUCT });
  }
  const redis = connection as Redis & ProgressCommands;
  const rowsKey = (id: string) => `imgsvc:progress-rows:${id}`;
  const countsKey = (id: string) => `imgsvc:progress:${id}`;
  const failuresKey = (id: string) => `imgsvc:progress-failures:${id}`;
  return {
    async recordProduct(requestId, row, succeeded, failureCodes) {
      const counted = await redis.imageServiceRecordProduct(
        rowsKey(requestId),
        countsKey(requestId),
        failuresKey(requestId),
        row,
        succeeded,
        Date.now(),
        PROGRESS_TTL_SECONDS,
        ...failureCodes,
      );
      return counted === 1;
    },
    async read(requestId) {
      const [fields, failures] = await Promise.all([
        redis.hgetall(countsKey(requestId)),
        redis.hgetall(failuresKey(requestId)),
      ]);
      const number = (name: string) => Number(fields[name] ?? 0);
      return {
        products_done: number('products_done'),
        images_succeeded: number('images_succeeded'),
        images_failed: number('images_failed'),
        failures_by_code: Object.fromEntries(Object.entries(failures).map(([code, n]) => [code, Number(n)])),
        updated_at: fields.updated_at ? new Date(Number(fields.updated_at)) : undefined,
      };
    },
    async forget(requestId) {
      await redis
        .multi()
        .del(rowsKey(requestId))
        .pexpire(countsKey(requestId), FINISHED_COUNTS_TTL_MS)
        .pexpire(failuresKey(requestId), FINISHED_COUNTS_TTL_MS)
        .exec();
    },
  };
}
