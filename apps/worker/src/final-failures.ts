import { findProductResult, updateWebhookDelivery } from '@imgsvc/db';
import { productGaveUp } from '@imgsvc/domain';
import { JOB_NAMES, productJobData } from '@imgsvc/queue';
import { failRequest, INTERNAL_FAILURE_REASON } from '@imgsvc/requests';
import { WebhookDeliveryError } from '@imgsvc/webhooks';
import { type Job, UnrecoverableError } from 'bullmq';
import type { WorkerContext } from './context.js';
import { requestFinishing } from './request-finishing.js';

/** True when BullMQ will not try this job again: out of attempts, or failed as unrecoverable. */
export function isFinalFailure(job: Job): boolean {
  return (
    (typeof job.finishedOn === 'number' && job.finishedOn > 0) || job.attemptsMade >= (job.opts.attempts ?? 1)
  );
}

/**
 * What the request's owner may read of a failure: our own words (invalid job data, a webhook's delivery
 * reason), never another library's message, which may name internal hosts and addresses. The log has it all.
 */
function tenantVisibleReason(error: Error): string {
  return error instanceof UnrecoverableError || error instanceof WebhookDeliveryError
    ? error.message
    : INTERNAL_FAILURE_REASON;
}

/**
 * What a job that gave up means for its request. Coordination that fails for good marks the request failed
 * (with the reason), never leaves it in progress forever; a webhook that gives up is recorded as failed.
 * A product job's product is closed by the completion step, each image failed as processing_failed; those
 * images are counted here, where the giving up is seen, unless a run recorded the product before it failed.
 */
export async function handleFinalFailure(job: Job, error: Error, context: WorkerContext): Promise<void> {
  const requestId = typeof job.data?.requestId === 'string' ? job.data.requestId : undefined;
  if (!requestId) return;
  const log = context.log.child({ request_id: requestId, job_id: job.id });
  switch (job.name) {
    case JOB_NAMES.processImages:
    case JOB_NAMES.checkRequestCompletion: {
      const message = `${job.name} failed after ${job.attemptsMade} attempts: ${tenantVisibleReason(error)}`;
      if (await failRequest(requestFinishing(context), requestId, message)) {
        log.error({ err: error }, 'request failed');
      }
      break;
    }
    case JOB_NAMES.triggerWebhook:
      await updateWebhookDelivery(context.db, requestId, {
        state: 'failed',
        last_error: tenantVisibleReason(error),
      });
      log.error({ attempts: job.attemptsMade, reason: error.message }, 'webhook delivery gave up');
      break;
    case JOB_NAMES.processProductImages: {
      log.error({ err: error }, 'job gave up');
      const product = productJobData.safeParse(job.data);
      if (product.success && !(await findProductResult(context.db, requestId, product.data.row))) {
        context.metrics.countImageFailures(product.data.urls.map((url) => productGaveUp(url).code));
      }
      break;
    }
    default:
      log.error({ err: error }, 'job gave up');
  }
}
