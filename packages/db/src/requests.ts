import {
  type InputColumn,
  type ProductInput,
  type ReadingWarning,
  type RequestCounts,
  UNFINISHED_STATUSES,
  ZERO_COUNTS,
} from '@imgsvc/domain';
import type { Database } from './database.js';
import {
  type ProductDocument,
  productId,
  type RequestDocument,
  rowsOf,
  type WebhookDelivery,
} from './documents.js';
import { deleteResultFile, type KeptResultFile } from './result-files.js';

/** What a request document records of its upload, once every product is stored. */
export interface ReceivedRequest {
  readonly id: string;
  readonly owner: string | null;
  readonly columns: readonly InputColumn[];
  readonly productCount: number;
  readonly imageCount: number;
  readonly webhookUrl: string | null;
  /** How its file was read where it needed a reading of its own; none when it was written as expected. */
  readonly warnings?: readonly ReadingWarning[];
  /** The request whose failed images this one retries. */
  readonly retryOf?: string;
}

export interface NewRequest extends Omit<ReceivedRequest, 'productCount'> {
  readonly products: readonly ProductInput[];
}

const INSERT_BATCH = 1000;

/**
 * The first step of storing a request whose file is still streaming in: notes that products are coming under
 * `id`, so that they are removed should the request never be stored (see `findAbandonedIncoming`).
 */
export async function beginIncomingRequest(db: Database, id: string, now = new Date()): Promise<void> {
  await db.incoming.insertOne({ _id: id, started_at: now });
}

/** Stores products of a request being received; no request owns them until `insertReceivedRequest`. */
export async function insertIncomingProducts(
  db: Database,
  id: string,
  products: readonly ProductInput[],
): Promise<void> {
  for (let start = 0; start < products.length; start += INSERT_BATCH) {
    const batch = products.slice(start, start + INSERT_BATCH).map(
      (product): ProductDocument => ({
        _id: productId(id, product.row),
        request_id: id,
        row: product.row,
        serial_number: product.serialNumber,
        product_name: product.productName,
        input_urls: product.inputUrls,
        ...(product.inputCell === undefined ? {} : { input_cell: product.inputCell }),
      }),
    );
    await db.products.insertMany(batch, { ordered: false });
  }
}

/**
 * The last step: writes the request document, pending, over the products already stored. The request document
 * is written last, so a request that exists always has all its products.
 */
export async function insertReceivedRequest(
  db: Database,
  request: ReceivedRequest,
  now = new Date(),
): Promise<void> {
  await db.requests.insertOne({
    _id: request.id,
    owner: request.owner,
    status: 'pending',
    created_at: now,
    updated_at: now,
    started_at: null,
    finished_at: null,
    columns: request.columns,
    totals: { products: request.productCount, images: request.imageCount },
    counts: ZERO_COUNTS,
    webhook: request.webhookUrl
      ? {
          url: request.webhookUrl,
          state: 'pending',
          event: null,
          attempts: 0,
          last_error: null,
          delivered_at: null,
        }
      : null,
    error_message: null,
    ...(request.warnings && request.warnings.length > 0 ? { warnings: request.warnings } : {}),
    ...(request.retryOf ? { retry_of: request.retryOf } : {}),
  });
  await db.incoming.deleteOne({ _id: request.id });
}

/** Stores a request whose products are all at hand; a failure part-way removes what was written. */
export async function insertRequestWithProducts(
  db: Database,
  request: NewRequest,
  now = new Date(),
): Promise<void> {
  try {
    await beginIncomingRequest(db, request.id, now);
    await insertIncomingProducts(db, request.id, request.products);
    await insertReceivedRequest(db, { ...request, productCount: request.products.length }, now);
  } catch (error) {
    await deleteRequest(db, request.id).catch(() => {});
    throw error;
  }
}

/** Rows removed per command by `deleteRequest`. */
const DELETE_ROWS = 20_000;

/**
 * Removes a request's products or results a range of ids (20,000 rows) at a time: a single deleteMany of a whole large
 * request is refused by MongoDB-compatible servers that delete every matched id in one statement (FerretDB on
 * SQLite: "too many SQL variables" past about 32,000).
 */
async function deleteRowsOf(
  collection: Database['products'] | Database['results'],
  requestId: string,
): Promise<void> {
  const last = await collection
    .find(rowsOf(requestId), { projection: { row: 1 } })
    .sort({ _id: -1 })
    .limit(1)
    .next();
  if (!last) return;
  for (let first = 1; first <= last.row; first += DELETE_ROWS) {
    await collection.deleteMany({
      _id: { $gte: productId(requestId, first), $lt: productId(requestId, first + DELETE_ROWS) },
    });
  }
}

/**
 * Removes a request, or a request being received, with everything stored under its id. A note in `incoming`
 * stands while the products go (they may take a while: a large request's), so that a removal cut short is
 * finished by the reconciler's sweep rather than leaving products nobody owns.
 */
export async function deleteRequest(db: Database, id: string, now = new Date()): Promise<void> {
  await db.incoming.updateOne({ _id: id }, { $setOnInsert: { started_at: now } }, { upsert: true });
  await db.requests.deleteOne({ _id: id });
  await deleteRowsOf(db.products, id);
  await deleteRowsOf(db.results, id);
  await deleteResultFile(db, id);
  await db.incoming.deleteOne({ _id: id });
}

/**
 * Requests begun before `startedBefore` and never stored: their upload ended without its request (an API that
 * stopped mid-upload). Their products are removed with `deleteRequest`, unless the request document exists
 * (an API that stopped just after writing it), in which case only the note is.
 */
export async function sweepAbandonedIncoming(
  db: Database,
  startedBefore: Date,
  limit: number,
): Promise<string[]> {
  const abandoned = await db.incoming
    .find({ started_at: { $lt: startedBefore } }, { projection: { _id: 1 } })
    .sort({ started_at: 1 })
    .limit(limit)
    .toArray();
  const removed: string[] = [];
  for (const { _id: id } of abandoned) {
    if (await db.requests.findOne({ _id: id }, { projection: { _id: 1 } })) {
      await db.incoming.deleteOne({ _id: id });
      continue;
    }
    await deleteRequest(db, id);
    removed.push(id);
  }
  return removed;
}

/** The request, or null when there is none or it has been deleted (its removal may still be under way). */
export async function findRequest(db: Database, id: string): Promise<RequestDocument | null> {
  const found = await db.requests.findOne({ _id: id });
  return found?.deleted_at ? null : found;
}

/*
 * A request changes state by a read by key and a write by key, never by a filter on another field: any other
 * filter makes FerretDB on SQLite read every request ever stored, so each request would cost more than the one
 * before. Each change has one writer at a time (the request's fan-out job, its completion job, or the
 * reconciler once those gave up), so nothing changes the status between the read and the write.
 */

/** The request's status, read by key; null when there is no such request. */
async function statusOf(db: Database, id: string): Promise<RequestDocument['status'] | null> {
  const found = await db.requests.findOne({ _id: id }, { projection: { status: 1 } });
  return found?.status ?? null;
}

const isUnfinished = (status: RequestDocument['status'] | null) =>
  status !== null && UNFINISHED_STATUSES.includes(status);

/** pending → in_progress; a no-op for a request already started or finished. */
export async function markRequestInProgress(db: Database, id: string, now = new Date()): Promise<void> {
  if ((await statusOf(db, id)) !== 'pending') return;
  await db.requests.updateOne(
    { _id: id },
    { $set: { status: 'in_progress', started_at: now, updated_at: now } },
  );
}

/**
 * Completes an unfinished request with its counts, and the result file kept for it if any; false when it had
 * already finished (or is unknown).
 */
export async function markRequestCompleted(
  db: Database,
  id: string,
  counts: RequestCounts,
  now = new Date(),
  resultFile?: KeptResultFile,
): Promise<boolean> {
  if (!isUnfinished(await statusOf(db, id))) return false;
  await db.requests.updateOne(
    { _id: id },
    {
      $set: {
        status: 'completed',
        counts,
        finished_at: now,
        updated_at: now,
        ...(resultFile ? { result_file: resultFile } : {}),
      },
    },
  );
  return true;
}

/** Fails an unfinished request with the reason its owner reads; false when it had already finished. */
export async function markRequestFailed(
  db: Database,
  id: string,
  message: string,
  now = new Date(),
): Promise<boolean> {
  if (!isUnfinished(await statusOf(db, id))) return false;
  await db.requests.updateOne(
    { _id: id },
    { $set: { status: 'failed', error_message: message, finished_at: now, updated_at: now } },
  );
  return true;
}

/**
 * Requests not yet finished that were created before `createdBefore`, oldest first: what the reconciler checks
 * for work that has no job left.
 */
export async function findUnfinishedRequests(
  db: Database,
  createdBefore: Date,
  limit: number,
): Promise<Pick<RequestDocument, '_id' | 'status' | 'created_at'>[]> {
  return db.requests
    .find(
      { status: { $in: [...UNFINISHED_STATUSES] }, created_at: { $lt: createdBefore } },
      { projection: { _id: 1, status: 1, created_at: 1 } },
    )
    .sort({ created_at: 1 })
    .limit(limit)
    .toArray();
}

export async function updateWebhookDelivery(
  db: Database,
  id: string,
  delivery: Partial<Omit<WebhookDelivery, 'url'>>,
  now = new Date(),
): Promise<void> {
  const fields: Record<string, unknown> = { updated_at: now };
  for (const [key, value] of Object.entries(delivery)) fields[`webhook.${key}`] = value;
  // Read and written by key (see markRequestInProgress); only the request's webhook job writes these fields.
  const found = await db.requests.findOne({ _id: id }, { projection: { webhook: 1 } });
  if (!found?.webhook) return;
  await db.requests.updateOne({ _id: id }, { $set: fields });
}

/**
 * Notes that `retryId` retries the request's failed images, once: false when another retry was noted first
 * (its id is then in `retried_by`).
 */
export async function claimRetry(db: Database, id: string, retryId: string): Promise<boolean> {
  const claimed = await db.requests.updateOne(
    { _id: id, retried_by: { $exists: false } },
    { $set: { retried_by: retryId } },
  );
  return claimed.modifiedCount === 1;
}

/** Withdraws a retry that could not be stored, so that the request may be retried again. */
export async function releaseRetry(db: Database, id: string, retryId: string): Promise<void> {
  await db.requests.updateOne({ _id: id, retried_by: retryId }, { $unset: { retried_by: '' } });
}
