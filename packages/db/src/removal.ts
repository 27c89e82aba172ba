import { FINISHED_STATUSES, outputKeyOf } from '@imgsvc/domain';
import type { Database } from './database.js';
import { rowsOf } from './documents.js';

/** How many outputs one query asks about: well under any server's limit on a query's size. */
const QUERY_BATCH = 500;

/**
 * Marks a finished request deleted, at once for every reader (findRequest no longer finds it); the worker's
 * sweep removes it. False when it is not there, already deleted, or not finished.
 */
export async function markRequestDeleted(db: Database, id: string, now = new Date()): Promise<boolean> {
  const marked = await db.requests.updateOne(
    { _id: id, status: { $in: [...FINISHED_STATUSES] }, deleted_at: { $exists: false } },
    { $set: { deleted_at: now } },
  );
  return marked.modifiedCount === 1;
}

/** Marks deleted the finished requests that finished before the given time (RETENTION_DAYS); how many. */
export async function markExpiredRequests(
  db: Database,
  finishedBefore: Date,
  now = new Date(),
): Promise<number> {
  const marked = await db.requests.updateMany(
    {
      status: { $in: [...FINISHED_STATUSES] },
      finished_at: { $lt: finishedBefore },
      deleted_at: { $exists: false },
    },
    { $set: { deleted_at: now } },
  );
  return marked.modifiedCount;
}

/** Requests marked deleted and not yet removed, the longest-waiting first. */
export async function findDeletedRequests(db: Database, limit: number): Promise<string[]> {
  const found = await db.requests
    .find({ deleted_at: { $exists: true } }, { projection: { _id: 1 } })
    .sort({ deleted_at: 1 })
    .limit(limit)
    .toArray();
  return found.map((request) => request._id);
}

/** The keys of every output a request's results list. */
export async function outputsOfRequest(db: Database, requestId: string): Promise<Set<string>> {
  const outputs = new Set<string>();
  const results = db.results.find(rowsOf(requestId), { projection: { output_urls: 1 } });
  for await (const result of results) {
    for (const url of result.output_urls) {
      const key = url === null ? undefined : outputKeyOf(url);
      if (key !== undefined) outputs.add(key);
    }
  }
  return outputs;
}

/** Of the given outputs, those a result of a request other than the excluded ones names (`output_keys`, indexed). */
export async function outputsListedElsewhere(
  db: Database,
  outputs: readonly string[],
  excludedRequests: readonly string[],
): Promise<Set<string>> {
  const listed = new Set<string>();
  for (let start = 0; start < outputs.length; start += QUERY_BATCH) {
    const batch = outputs.slice(start, start + QUERY_BATCH);
    const wanted = new Set(batch);
    const others = db.results.find(
      { request_id: { $nin: [...excludedRequests] }, output_keys: { $in: batch } },
      { projection: { output_keys: 1 } },
    );
    for await (const result of others) {
      for (const key of result.output_keys ?? []) if (wanted.has(key)) listed.add(key);
    }
  }
  return listed;
}

/**
 * The outputs listed by results recorded before results named their outputs by key (no `output_keys`), of
 * requests other than the excluded ones: read from their URLs, whatever base those were written with. No new
 * result lacks keys, so the set only shrinks: one read serves a whole pass of removals.
 */
export async function outputsListedByOlderResults(
  db: Database,
  excludedRequests: readonly string[],
): Promise<Set<string>> {
  const listed = new Set<string>();
  const older = db.results.find(
    { request_id: { $nin: [...excludedRequests] }, output_keys: { $exists: false } },
    { projection: { output_urls: 1 } },
  );
  for await (const result of older) {
    for (const url of result.output_urls) {
      const key = url === null ? undefined : outputKeyOf(url);
      if (key !== undefined) listed.add(key);
    }
  }
  return listed;
}

/** Forgets the Idempotency-Keys that led to a request, so that a replay makes a new one. */
export async function deleteIdempotencyClaimsOf(db: Database, requestId: string): Promise<void> {
  await db.idempotencyKeys.deleteMany({ request_id: requestId });
}
