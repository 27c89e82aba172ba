import { randomUUID } from 'node:crypto';
import {
  type Database,
  deleteIdempotencyClaimsOf,
  deleteRequest,
  findDeletedRequests,
  markExpiredRequests,
  outputsListedByOlderResults,
  outputsListedElsewhere,
  outputsOfRequest,
} from '@imgsvc/db';

/** What removing requests needs besides the database: the store, and the output claims of running requests. */
export interface RequestRemoval {
  readonly db: Database;
  /** Removes one output from the store (no error when it is not there). */
  removeOutput(key: string): Promise<void>;
  /**
   * Of the given outputs, those no running request claims and no other removal holds, each marked as being
   * deleted by this removal (`token`) until endOutputDeletion (see OutputClaims in job-state).
   */
  beginOutputDeletion(token: string, keys: readonly string[]): Promise<string[]>;
  endOutputDeletion(token: string, keys: readonly string[]): Promise<void>;
  /** Drops what Redis keeps for a request (its output claims among it): a deleted request runs no more. */
  forgetJobState(requestId: string): Promise<void>;
}

export interface RemovedRequest {
  readonly id: string;
  /** Outputs removed from the store: listed by no other request and used by no running one. */
  readonly outputsRemoved: number;
  /** Outputs kept: another request lists them, or a running one uses them. */
  readonly outputsKept: number;
}

export interface Removal {
  /** Finished requests that RETENTION_DAYS expired in this pass. */
  readonly expired: number;
  readonly removed: readonly RemovedRequest[];
}

/** Outputs removed from the store at once. */
const REMOVALS_AT_ONCE = 8;
/** Outputs decided on together: one claims check, one query, one batch of removals. */
const OUTPUT_BATCH = 500;

/**
 * Removes the outputs, a few at once, and settles only when every removal has ended: the marks that keep
 * requests away from them must stand until the last one is gone. The first failure is thrown then.
 */
async function removeAll(
  keys: readonly string[],
  removeOutput: (key: string) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { readonly error: unknown } | undefined;
  const lane = async () => {
    while (next < keys.length && !failure) {
      const key = keys[next] as string;
      next += 1;
      try {
        await removeOutput(key);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(REMOVALS_AT_ONCE, keys.length) }, lane));
  if (failure) throw failure.error;
}

/**
 * Removes one deleted request: first the outputs no other request lists and no running request uses, then
 * its Idempotency-Keys, then the request with its products and results (`deleteRequest`, which a stop midway
 * leaves to the reconciler's sweep of incoming notes). Until the request document goes, a pass that stops
 * midway is done again whole by the next; removing an output twice is no error.
 *
 * The outputs are marked before anything is decided about them: from the mark on, no request starts to use
 * one (it waits), so a request that records one has either claimed it before the mark (and the mark is
 * refused) or recorded it before the check of other requests' results (and the check finds it).
 */
async function removeRequest(
  removal: RequestRemoval,
  id: string,
  pass: { readonly deleted: readonly string[]; readonly listedByOlder: ReadonlySet<string> },
): Promise<RemovedRequest> {
  const { db } = removal;
  // It is finished: what it claimed while it ran protects nothing now (a failed request's claims linger).
  await removal.forgetJobState(id);
  const outputs = [...(await outputsOfRequest(db, id))];
  const token = randomUUID();
  let outputsRemoved = 0;
  for (let start = 0; start < outputs.length; start += OUTPUT_BATCH) {
    const marked = await removal.beginOutputDeletion(token, outputs.slice(start, start + OUTPUT_BATCH));
    try {
      // Results of requests being deleted too do not keep an output: each would otherwise keep it for the other.
      const listed = await outputsListedElsewhere(db, marked, pass.deleted);
      const unused = marked.filter((key) => !listed.has(key) && !pass.listedByOlder.has(key));
      await removeAll(unused, (key) => removal.removeOutput(key));
      outputsRemoved += unused.length;
    } finally {
      await removal.endOutputDeletion(token, marked);
    }
  }
  await deleteIdempotencyClaimsOf(db, id);
  await deleteRequest(db, id);
  return { id, outputsRemoved, outputsKept: outputs.length - outputsRemoved };
}

/**
 * One pass of the worker's sweep: marks deleted the finished requests older than `retentionDays` (when set),
 * then removes up to `limit` deleted requests, the longest-waiting first, until `deadline`.
 */
export async function removeDeletedRequests(
  removal: RequestRemoval,
  options: {
    readonly retentionDays: number;
    readonly limit: number;
    readonly deadline: number;
    readonly now?: Date;
  },
): Promise<Removal> {
  const now = options.now ?? new Date();
  const expired =
    options.retentionDays > 0
      ? await markExpiredRequests(
          removal.db,
          new Date(now.getTime() - options.retentionDays * 86_400_000),
          now,
        )
      : 0;
  const deleted = await findDeletedRequests(removal.db, options.limit);
  const removed: RemovedRequest[] = [];
  if (deleted.length === 0) return { expired, removed };
  const listedByOlder = await outputsListedByOlderResults(removal.db, deleted);
  for (const id of deleted) {
    if (Date.now() >= options.deadline) break;
    removed.push(await removeRequest(removal, id, { deleted, listedByOlder }));
  }
  return { expired, removed };
}
