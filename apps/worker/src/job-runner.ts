import { isDatabaseUnavailable } from '@imgsvc/db';
import type { Logger } from '@imgsvc/logging';
import { storageFaultOf } from '@imgsvc/storage';
import { DelayedError, type Job, WaitingChildrenError, WaitingError } from 'bullmq';
import type { WorkerMetrics } from './metrics.js';

/** How long a job waits before trying again while the database or the storage is unavailable. */
const OUTAGE_RETRY_MS = 5000;

export type JobProcessor = (
  job: Job,
  token: string | undefined,
  cancel: AbortSignal | undefined,
) => Promise<unknown>;

function isBullMqSignal(error: unknown): boolean {
  return (
    error instanceof WaitingChildrenError || error instanceof DelayedError || error instanceof WaitingError
  );
}

/**
 * Runs a processor with the outcomes BullMQ's retries must not count:
 * - the worker is shutting down and cancelled the job: it goes back to the queue at once, for any worker;
 * - the database is unreachable, or the storage cannot take images (full, below STORAGE_MIN_FREE_BYTES,
 *   read-only, gone): the job waits a few seconds and tries again, without using up an attempt, so an outage
 *   of any length ends with the work done rather than with images failed.
 * Anything else is a real failure, retried with the backoff declared where the job was added.
 */
export function withReleaseAndOutageHandling(
  processor: JobProcessor,
  log: Logger,
  metrics: Pick<WorkerMetrics, 'storageUnavailable'>,
) {
  return async (job: Job, token?: string, cancel?: AbortSignal): Promise<unknown> => {
    try {
      return await processor(job, token, cancel);
    } catch (error) {
      // BullMQ's own signals (waiting for children, delayed, moved to wait) pass through untouched.
      if (!token || isBullMqSignal(error)) throw error;
      if (cancel?.aborted) {
        await job.moveToWait(token);
        log.info({ request_id: job.data?.requestId, job_id: job.id }, 'job handed back for shutdown');
        throw new WaitingError();
      }
      if (isDatabaseUnavailable(error)) {
        await job.moveToDelayed(Date.now() + OUTAGE_RETRY_MS, token);
        log.warn(
          { request_id: job.data?.requestId, job_id: job.id, reason: (error as Error).message },
          'database unreachable; job waits and tries again',
        );
        throw new DelayedError();
      }
      const storageFault = storageFaultOf(error);
      if (storageFault) {
        await job.moveToDelayed(Date.now() + OUTAGE_RETRY_MS, token);
        metrics.storageUnavailable.inc({ reason: storageFault.code });
        log.warn(
          {
            request_id: job.data?.requestId,
            job_id: job.id,
            code: storageFault.code,
            reason: storageFault.message,
            cause: (storageFault.cause as Error | undefined)?.message,
          },
          'storage unavailable; job waits and tries again',
        );
        throw new DelayedError();
      }
      throw error;
    }
  };
}
