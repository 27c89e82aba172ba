import {
  type Database,
  deleteIdempotencyClaimsOf,
  deleteRequest,
  findDeletedRequests,
  markExpiredRequests,
  outputsListedElsewhere,
  outputsOfRequest,
} from '@imgsvc/db';

/** What removing requests needs besides the database: the store, and the output claims of running requests. */
export interface RequestRemoval {
  readonly db: Database;
  /** Removes one output from the store (no error when it is not there). */
  removeOutput(key: string): Promise<void>;
  /** Of the given outputs, those no running request claims, each marked as being deleted (see OutputClaims). */
  beginOutputDeletion(keys: readonly string[]): Promise<string[]>;
  endOutputDeletion(keys: readonly string[]): Promise<void>;
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
/** Outputs decided on together: one claims check, one batch of removals. */
const OUTPUT_BATCH = 500;

async function removeAll(
  keys: readonly string[],
  removeOutput: (key: string) => Promise<void>,
): Promise<void> {
  let next = 0;
  const lane = async () => {
    while (next < keys.length) {
      const key = keys[next] as string;
      next += 1;
      await removeOutput(key);
    }
  };
  await Promise.all(Array.from({ length: Math.min(REMOVALS_AT_ONCE, keys.length) }, lane));
}

/**
 * Removes one deleted request: first the outputs no other request lists and no running request uses, then
 * its Idempotency-Keys, then the request with its products and results (`deleteRequest`, which a stop midway
 * leaves to the reconciler's sweep of incoming notes). Until the request document goes, a pass that stops
 * midway is done again whole by the next; removing an output twice is no error.
 */
async function removeRequest(
  removal: RequestRemoval,
  id: string,
  deletedRequests: readonly string[],
): Promise<RemovedRequest> {
  const { db } = removal;
  const outputs = await outputsOfRequest(db, id);
  // Results of requests being deleted too do not keep an output: each would otherwise keep it for the other.
  const listed = await outputsListedElsewhere(db, outputs, deletedRequests);
  const candidates = [...outputs.keys()].filter((key) => !listed.has(key));
  let outputsRemoved = 0;
  for (let start = 0; start < candidates.length; start += OUTPUT_BATCH) {
    const free = await removal.beginOutputDeletion(candidates.slice(start, start + OUTPUT_BATCH));
    try {
      await removeAll(free, (key) => removal.removeOutput(key));
      outputsRemoved += free.length;
    } finally {
      await removal.endOutputDeletion(free);
    }
  }
  await deleteIdempotencyClaimsOf(db, id);
  await deleteRequest(db, id);
  return { id, outputsRemoved, outputsKept: outputs.size - outputsRemoved };
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
  for (const id of deleted) {
    if (Date.now() >= options.deadline) break;
    removed.push(await removeRequest(removal, id, deleted));
  }
  return { expired, removed };
}
