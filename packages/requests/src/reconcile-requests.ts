import { findUnfinishedRequests, sweepAbandonedIncoming } from '@imgsvc/db';
import { enqueueCompletionCheck, enqueueProcessImages, jobIds } from '@imgsvc/queue';
import type { Job } from 'bullmq';
import { failRequest, INTERNAL_FAILURE_REASON, type RequestFinishing } from './finish-request.js';

export interface Reconciliation {
  /** Unfinished requests looked at. */
  readonly checked: number;
  /** Requests whose processing had no job left (Redis lost its data, or the API stopped before queueing). */
  readonly requeued: readonly string[];
  /** Requests whose products were all processed but whose completion step had no job. */
  readonly completionQueued: readonly string[];
  /**
   * Requests whose fan-out or completion step gave up, but whose failure was never recorded (the worker that
   * should have recorded it met a database outage, or stopped): now failed, with their webhook queued.
   */
  readonly failed: readonly string[];
  /** Uploads that stopped while their products were being stored (an API that stopped): their products removed. */
  readonly abandoned: readonly string[];
}

/** What the request's owner reads: our words, never a library's message (it may name internal addresses). */
function gaveUp(job: Job): string {
  const attempts = job.attemptsMade;
  return `${job.name} gave up after ${attempts} attempt${attempts === 1 ? '' : 's'}: ${INTERNAL_FAILURE_REASON}`;
}

/** Unfinished requests looked at per pass; the oldest first, so a backlog is worked through pass by pass. */
const PER_PASS = 1000;

/**
 * Finds requests that MongoDB holds as unfinished but that no job will move any more, and queues their
 * remaining work again with the same job ids, so nothing runs twice: the fan-out continues from its first
 * product without a recorded result, and the completion step recounts from MongoDB. A request whose
 * coordination gave up without its failure being recorded is failed now, and the products of uploads that
 * were never stored (older than `uploadMaxMs`) are removed. Requests younger than
 * `graceMs` are left alone: their first job may still be on its way from the API.
 */
export async function reconcileRequests(
  connections: Pick<RequestFinishing, 'db' | 'queues' | 'webhook'> &
    Partial<Pick<RequestFinishing, 'forgetJobState'>>,
  options: {
    readonly graceMs: number;
    /** How long an upload may take to be received and stored: older ones never will be. */
    readonly uploadMaxMs: number;
    readonly now?: Date;
  },
): Promise<Reconciliation> {
  const { db, queues } = connections;
  const now = options.now ?? new Date();
  const abandoned = await sweepAbandonedIncoming(db, new Date(now.getTime() - options.uploadMaxMs), PER_PASS);
  const unfinished = await findUnfinishedRequests(db, new Date(now.getTime() - options.graceMs), PER_PASS);
  const requeued: string[] = [];
  const completionQueued: string[] = [];
  const failed: string[] = [];
  for (const request of unfinished) {
    const fanOut = await queues.requests.getJob(jobIds.processImages(request._id));
    if (!fanOut) {
      await enqueueProcessImages(queues, request._id);
      requeued.push(request._id);
      continue;
    }
    const fanOutState = await fanOut.getState();
    if (fanOutState === 'failed') {
      if (await failRequest(connections, request._id, gaveUp(fanOut))) failed.push(request._id);
      continue;
    }
    if (fanOutState !== 'completed') continue;
    // Every product ended, yet the request is unfinished: its completion step must have been lost.
    const completion = await queues.requests.getJob(jobIds.completion(request._id));
    const completionState = await completion?.getState();
    if (completion && completionState === 'failed') {
      if (await failRequest(connections, request._id, gaveUp(completion))) failed.push(request._id);
      continue;
    }
    if (!completion || completionState === 'completed') {
      if (completion) await completion.remove();
      await enqueueCompletionCheck(queues, request._id);
      completionQueued.push(request._id);
    }
  }
  return { checked: unfinished.length, requeued, completionQueued, failed, abandoned };
}
