import { completionJobData, parseJobData } from '@imgsvc/queue';
import { finishRequest } from '@imgsvc/requests';
import type { Job } from 'bullmq';
import type { WorkerContext } from '../context.js';
import { requestFinishing } from '../request-finishing.js';

/**
 * check-request-completion: the single writer that finishes a request, once every product job has ended
 * (see finishRequest: exact recount, completed, job state dropped, webhook queued).
 */
export async function checkRequestCompletion(job: Job, context: WorkerContext): Promise<string> {
  const { requestId } = parseJobData(completionJobData, job.data, job.name);
  const finished = await finishRequest(requestFinishing(context), requestId);
  if (finished.status === 'unknown') return 'request not found';
  if (finished.completedWith) {
    context.log.info(
      { request_id: requestId, job_id: job.id, counts: finished.completedWith },
      'request completed',
    );
  }
  return finished.status;
}
