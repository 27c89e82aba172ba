import { FINISHED_STATUSES, outputKeyOf } from '@imgsvc/domain';
import type { Database } from './database.js';

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

/** Every output a request's results list: their keys, and the URLs they were written as. */
export async function outputsOfRequest(db: Database, requestId: string): Promise<Map<string, Set<string>>> {
  const outputs = new Map<string, Set<string>>();
  const results = db.results.find({ request_id: requestId }, { projection: { output_urls: 1 } });
  for await (const result of results) {
    for (const url of result.output_urls) {
      const key = url === null ? undefined : outputKeyOf(url);
      if (url === null || key === undefined) continue;
      const urls = outputs.get(key) ?? new Set<string>();
      urls.add(url);
      outputs.set(key, urls);
    }
  }
  return outputs;
}

/**
 * Of the given outputs, the keys that a result of a request other than the excluded ones lists. Results name
 * them by key (`output_keys`, indexed); results recorded before keys were kept are matched by URL.
 */
export async function outputsListedElsewhere(
  db: Database,
  outputs: ReadonlyMap<string, ReadonlySet<string>>,
  excludedRequests: readonly string[],
): Promise<Set<string>> {
  const listed = new Set<string>();
  const entries = [...outputs];
  for (let start = 0; start < entries.length; start += QUERY_BATCH) {
    const batch = entries.slice(start, start + QUERY_BATCH);
    const keys = batch.map(([key]) => key);
    const urls = batch.flatMap(([, written]) => [...written]);
    const others = db.results.find(
      {
        request_id: { $nin: [...excludedRequests] },
        $or: [{ output_keys: { $in: keys } }, { output_urls: { $in: urls } }],
      },
      { projection: { output_urls: 1 } },
    );
    const wanted = new Set(keys);
    for await (const result of others) {
      for (const url of result.output_urls) {
        const key = url === null ? undefined : outputKeyOf(url);
        if (key !== undefined && wanted.has(key)) listed.add(key);
      }
    }
  }
  return listed;
}

/** Forgets the Idempotency-Keys that led to a request, so that a replay makes a new one. */
export async function deleteIdempotencyClaimsOf(db: Database, requestId: string): Promise<void> {
  await db.idempotencyKeys.deleteMany({ request_id: requestId });
}
