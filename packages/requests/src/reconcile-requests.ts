import { type Database, findUnfinishedRequests } from '@imgsvc/db';
import { enqueueCompletionCheck, enqueueProcessImages, jobIds, type Queues } from '@imgsvc/queue';

export interface Reconciliation {
  /** Unfinished requests looked at. */
  readonly checked: number;
  /** Requests whose processing had no job left (Redis lost its data, or the API stopped before queueing). */
  readonly requeued: readonly string[];
  /** Requests whose products were all processed but whose completion step had no job. */
  readonly completionQueued: readonly string[];
}

/** Unfinished requests looked at per pass; the oldest first, so a backlog is worked through pass by pass. */
const PER_PASS = 1000;

/**
 * Finds requests that MongoDB holds as unfinished but that no job will move any more, and queues their
 * remaining work again with the same job ids, so nothing runs twice: the fan-out continues from its first
 * product without a recorded result, and the completion step recounts from MongoDB. Requests younger than
 * `graceMs` are left alone: their first job may still be on its way from the API.
 */
export async function reconcileRequests(
  connections: { readonly db: Database; readonly queues: Queues },
  options: { readonly graceMs: number; readonly now?: Date },
): Promise<Reconciliation> {
  const { db, queues } = connections;
  const now = options.now ?? new Date();
  const unfinished = await findUnfinishedRequests(db, new Date(now.getTime() - options.graceMs), PER_PASS);
  const requeued: string[] = [];
  const completionQueued: string[] = [];
  for (const request of unfinished) {
    const fanOut = await queues.requests.getJob(jobIds.processImages(request._id));
    if (!fanOut) {
      await enqueueProcessImages(queues, request._id);
      requeued.push(request._id);
      continue;
    }
    if ((await fanOut.getState()) !== 'completed') continue;
    // Every product ended, yet the request is unfinished: its completion step must have been lost.
    const completion = await queues.requests.getJob(jobIds.completion(request._id));
    if (!completion || (await completion.getState()) === 'completed') {
      if (completion) await completion.remove();
      await enqueueCompletionCheck(queues, request._id);
      completionQueued.push(request._id);
    }
  }
  return { checked: unfinished.length, requeued, completionQueued };
}
