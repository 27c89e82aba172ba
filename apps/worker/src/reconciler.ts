import type { Logger } from '@imgsvc/logging';
import { reconcileRequests, removeDeletedRequests } from '@imgsvc/requests';
import type { WorkerContext } from './context.js';
import { requestFinishing } from './request-finishing.js';

/** Requests younger than this are left alone: their first job may still be on its way from the API. */
const GRACE_MS = 10_000;
/** Past REQUEST_TIMEOUT_MS, how long an upload's last products and its request may take to be written. */
const UPLOAD_STORING_MS = 5 * 60_000;
/** Deleted requests removed per pass, at most; the rest wait for the next. */
const REMOVALS_PER_PASS = 100;

export interface RunningReconciler {
  stop(): Promise<void>;
}

/**
 * Every RECONCILE_INTERVAL_MS, the one worker that takes the turn in Redis looks for requests that MongoDB
 * holds as unfinished but that no job moves any more, and queues their remaining work again (see
 * reconcileRequests); then it removes deleted requests, and expires those past RETENTION_DAYS
 * (removeDeletedRequests). MongoDB is the record and Redis a cache: after Redis loses its data, or the API stops
 * between storing a request and queueing it, the request moves again within an interval or two.
 */
export function startReconciler(context: WorkerContext, log: Logger): RunningReconciler {
  const intervalMs = context.config.jobs.reconcileIntervalMs;
  let pass: Promise<void> | undefined;
  const reconcile = async () => {
    try {
      // A little shorter than the interval, so that the next pass (by any worker) finds the turn free.
      const turnMs = Math.max(500, intervalMs - 500);
      if (!(await context.jobState.takeReconcilerTurn(turnMs))) return;
      const turnEnds = Date.now() + turnMs;
      const found = await reconcileRequests(requestFinishing(context), {
        graceMs: Math.min(GRACE_MS, intervalMs),
        // No upload is received for longer than REQUEST_TIMEOUT_MS; storing its last products takes moments.
        uploadMaxMs: context.config.clients.requestTimeoutMs + UPLOAD_STORING_MS,
      });
      if (found.requeued.length > 0 || found.completionQueued.length > 0) {
        log.warn(
          { requeued: found.requeued, completion_queued: found.completionQueued, checked: found.checked },
          'unfinished requests without a job queued again',
        );
      }
      if (found.abandoned.length > 0) {
        log.warn({ uploads: found.abandoned }, 'products of uploads that were never stored removed');
      }
      if (found.failed.length > 0) {
        log.error({ failed: found.failed }, 'requests whose coordination had given up marked failed');
      }
      const removal = await removeDeletedRequests(
        {
          db: context.db,
          removeOutput: (key) => context.store.remove(key),
          beginOutputDeletion: (token, keys) => context.jobState.beginOutputDeletion(token, keys),
          endOutputDeletion: (token, keys) => context.jobState.endOutputDeletion(token, keys),
          forgetJobState: (id) => context.jobState.forgetRequest(id),
        },
        {
          retentionDays: context.config.retentionDays,
          limit: REMOVALS_PER_PASS,
          // Requests still waiting then are removed in a later turn, by whichever worker holds it.
          deadline: turnEnds - (turnMs >> 2),
        },
      );
      if (removal.expired > 0) log.info({ expired: removal.expired }, 'requests past RETENTION_DAYS deleted');
      for (const removed of removal.removed) {
        log.info(
          {
            request_id: removed.id,
            outputs_removed: removed.outputsRemoved,
            outputs_kept: removed.outputsKept,
          },
          'deleted request removed',
        );
      }
    } catch (error) {
      log.warn({ reason: (error as Error).message }, 'reconciliation failed; tried again next interval');
    }
  };
  const timer = setInterval(() => {
    pass ??= reconcile().finally(() => {
      pass = undefined;
    });
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await pass;
    },
  };
}
