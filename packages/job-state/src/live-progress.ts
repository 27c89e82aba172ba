import type { RequestCounts } from '@imgsvc/domain';
import { EXPIRY } from './expiry.js';
import { keys } from './keys.js';
import type { JobStateRedis } from './scripts.js';

export interface LiveProgress extends RequestCounts {
  /** When the last product was counted; undefined before the first. */
  readonly updated_at: Date | undefined;
}

export interface ProgressRecorder {
  /**
   * Adds one product's counts to its request, once however many times its job runs: the row joins the set of
   * counted rows and the counters move only when it was not there yet, in one atomic step. False when the row
   * was counted already.
   */
  recordProgress(requestId: string, row: number, product: RequestCounts): Promise<boolean>;
  /**
   * The request's counts when every one of its rows has been counted, read in one trip; undefined otherwise
   * (a product not yet counted, or Redis lost the state). A row is counted only after its result is recorded
   * in MongoDB, and from that result, so counts that cover every row are those of the results.
   */
  countedProgress(requestId: string, totalProducts: number): Promise<RequestCounts | undefined>;
}

export interface ProgressReader {
  /** What is done so far; nothing for a request never counted (or finished a while ago). */
  readProgress(requestId: string): Promise<LiveProgress>;
}

/** A request's counts from its counters hash and its failures-by-code hash. */
function countsOf(fields: Record<string, string>, failures: Record<string, string>): RequestCounts {
  const number = (name: string) => Number(fields[name] ?? 0);
  return {
    products_done: number('products_done'),
    images_succeeded: number('images_succeeded'),
    images_failed: number('images_failed'),
    failures_by_code: Object.fromEntries(Object.entries(failures).map(([code, n]) => [code, Number(n)])),
  };
}

/** The arguments of `imgsvcRecordProgress` counting one product of a request (it answers 1 when it counted). */
export function progressArguments(
  requestId: string,
  row: number,
  product: RequestCounts,
): (string | number)[] {
  return [
    keys.progressRows(requestId),
    keys.progressCounts(requestId),
    keys.progressFailures(requestId),
    row,
    Date.now(),
    EXPIRY.runningProgressMs,
    product.products_done,
    product.images_succeeded,
    product.images_failed,
    ...Object.entries(product.failures_by_code).flat(),
  ];
}

/**
 * Live progress in Redis, where increments are atomic. MongoDB-compatible servers such as FerretDB apply updates
 * as read-modify-write, so many jobs counting into one request document could lose counts.
 */
export function liveProgress(redis: JobStateRedis): ProgressRecorder & ProgressReader {
  return {
    async recordProgress(requestId, row, product) {
      return (await redis.imgsvcRecordProgress(...progressArguments(requestId, row, product))) === 1;
    },
    async countedProgress(requestId, totalProducts) {
      const replies = await redis
        .multi()
        .scard(keys.progressRows(requestId))
        .hgetall(keys.progressCounts(requestId))
        .hgetall(keys.progressFailures(requestId))
        .exec();
      if (!replies) return undefined;
      const [rows, fields, failures] = replies.map(([error, reply]) => {
        if (error) throw error;
        return reply;
      }) as [number, Record<string, string>, Record<string, string>];
      const counts = countsOf(fields, failures);
      return rows === totalProducts && counts.products_done === totalProducts ? counts : undefined;
    },
    async readProgress(requestId) {
      const [fields, failures] = await Promise.all([
        redis.hgetall(keys.progressCounts(requestId)),
        redis.hgetall(keys.progressFailures(requestId)),
      ]);
      return {
        ...countsOf(fields, failures),
        updated_at: fields.updated_at ? new Date(Number(fields.updated_at)) : undefined,
      };
    },
  };
}
