import {
  type Database,
  findRequest,
  markRequestCompleted,
  markRequestFailed,
  tallyProducts,
} from '@imgsvc/db';
import { isFinished, type RequestCounts, type RequestStatus } from '@imgsvc/domain';
import { enqueueWebhook, type Queues } from '@imgsvc/queue';
import { keepResultFile } from './result-file.js';

/** What finishing a request needs: its stores, how its webhook is retried, and how to drop its job state. */
export interface RequestFinishing {
  readonly db: Database;
  readonly queues: Queues;
  readonly webhook: { readonly maxAttempts: number; readonly backoffMs: number };
  /** Drops what Redis kept while the request ran (live progress, per-URL outcomes): MongoDB now has it all. */
  readonly forgetJobState: (requestId: string) => Promise<void>;
  /**
   * The live progress's counts when it has counted every row (see ProgressRecorder.countedProgress): they
   * spare the recount, which reads every product's result. Undefined: always recounted.
   */
  readonly countedProgress?: (requestId: string, totalProducts: number) => Promise<RequestCounts | undefined>;
}

export interface FinishedRequest {
  readonly status: RequestStatus | 'unknown';
  /** The exact counts, when this call is the one that completed the request. */
  readonly completedWith?: RequestCounts;
}

/**
 * Completes a request once every product has its result: takes the live progress's counts when they cover
 * every row, else recounts exactly from the results (closing the products whose jobs gave up), keeps a large request's result CSV, marks it completed, drops its job state and
 * queues its webhook. Safe to run again: a finished request keeps its status and counts, and its webhook job is
 * queued once.
 */
export async function finishRequest(
  finishing: RequestFinishing,
  requestId: string,
): Promise<FinishedRequest> {
  const request = await findRequest(finishing.db, requestId);
  if (!request) return { status: 'unknown' };
  let completedWith: RequestCounts | undefined;
  if (!isFinished(request.status)) {
    const total = request.totals.products;
    const counts =
      (await finishing.countedProgress?.(requestId, total)) ??
      (await tallyProducts(finishing.db, requestId, total));
    const resultFile = await keepResultFile(finishing.db, request);
    if (await markRequestCompleted(finishing.db, requestId, counts, new Date(), resultFile)) {
      completedWith = counts;
    }
  }
  await finishing.forgetJobState(requestId);
  // Completed by this call: its webhook is the one read above (completing does not change it); otherwise
  // another call or a deletion may have changed it meanwhile, and it is read again.
  const finished = completedWith
    ? { status: 'completed' as const, webhook: request.webhook }
    : await findRequest(finishing.db, requestId);
  if (finished?.webhook && finished.status === 'completed') {
    await enqueueWebhook(finishing.queues, { requestId, event: 'request.completed' }, finishing.webhook);
  }
  return { status: finished?.status ?? 'unknown', ...(completedWith ? { completedWith } : {}) };
}

/**
 * What a request's owner reads when its processing failed for a reason of ours: never another library's
 * message, which may name internal hosts and addresses. The worker's log has the details.
 */
export const INTERNAL_FAILURE_REASON =
  'an internal error (the worker log has the details under this request id)';

/**
 * Fails a request that cannot be processed as a whole, with the reason its owner reads, drops its job state
 * when given how, and queues its webhook. False when the request had already finished (it keeps its status,
 * and nothing is sent again).
 */
export async function failRequest(
  finishing: Pick<RequestFinishing, 'db' | 'queues' | 'webhook'> &
    Partial<Pick<RequestFinishing, 'forgetJobState'>>,
  requestId: string,
  reason: string,
): Promise<boolean> {
  if (!(await markRequestFailed(finishing.db, requestId, reason))) return false;
  await finishing.forgetJobState?.(requestId);
  await enqueueWebhook(finishing.queues, { requestId, event: 'request.failed' }, finishing.webhook);
  return true;
}
