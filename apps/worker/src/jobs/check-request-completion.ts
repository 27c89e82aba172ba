import { completeRequest, findRequest, tallyProducts } from '@imgsvc/db';
import { isFinished } from '@imgsvc/domain';
import { completionJobData, enqueueWebhook, parseJobData } from '@imgsvc/queue';
import type { Job } from 'bullmq';
import type { WorkerContext } from '../context.js';

/**
 * check-request-completion: the single writer that finishes a request. Recomputes exact counts from the
 * product documents, marks the request completed, and queues its webhook.
 */
export async function checkRequestCompletion(job: Job, context: WorkerContext): Promise<string> {
  const { requestId } = parseJobData(completionJobData, job.data, job.name);
  const log = context.log.child({ request_id: requestId, job_id: job.id });
  const request = await findRequest(context.db, requestId);
  if (!request) return 'request not found';
  if (!isFinished(request.status)) {
    const counts = await tallyProducts(context.db, requestId, request.totals.products);
    if (await completeRequest(context.db, requestId, counts)) log.info({ counts }, 'request completed');
  }
  await context.jobState.forgetRequest(requestId);
  const finished = await findRequest(context.db, requestId);
  if (finished?.webhook && finished.status === 'completed') {
    await enqueueWebhook(
      context.queues,
      { requestId, event: 'request.completed' },
      { maxAttempts: context.config.webhook.maxAttempts, backoffMs: context.config.webhook.backoffMs },
    );
  }
  return finished?.status ?? 'unknown';
}
