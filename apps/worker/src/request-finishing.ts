import type { RequestFinishing } from '@imgsvc/requests';
import type { WorkerContext } from './context.js';

/** How this worker finishes requests: its stores, its webhook retry settings, and its job state to drop. */
export function requestFinishing(context: WorkerContext): RequestFinishing {
  return {
    db: context.db,
    queues: context.queues,
    webhook: { maxAttempts: context.config.webhook.maxAttempts, backoffMs: context.config.webhook.backoffMs },
    forgetJobState: (requestId) => context.jobState.forgetRequest(requestId),
    countedProgress: (requestId, totalProducts) => context.jobState.countedProgress(requestId, totalProducts),
  };
}
