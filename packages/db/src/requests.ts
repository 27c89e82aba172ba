import {
  type InputColumn,
  type ProductInput,
  type RequestCounts,
  UNFINISHED_STATUSES,
  ZERO_COUNTS,
} from '@imgsvc/domain';
import type { Database } from './database.js';
import { type ProductDocument, productId, type RequestDocument, type WebhookDelivery } from './documents.js';

export interface NewRequest {
  readonly id: string;
  readonly owner: string | null;
  readonly columns: readonly InputColumn[];
  readonly products: readonly ProductInput[];
  readonly imageCount: number;
  readonly webhookUrl: string | null;
}

const INSERT_BATCH = 1000;

/**
 * Stores the products in batches, then the request. The request document is written last, so a request that
 * exists always has all its products; a failure part-way removes what was written.
 */
export async function insertRequestWithProducts(
  db: Database,
  request: NewRequest,
  now = new Date(),
): Promise<void> {
  try {
    for (let start = 0; start < request.products.length; start += INSERT_BATCH) {
      const batch = request.products.slice(start, start + INSERT_BATCH).map(
        (product): ProductDocument => ({
          _id: productId(request.id, product.row),
          request_id: request.id,
          row: product.row,
          serial_number: product.serialNumber,
          product_name: product.productName,
          input_urls: product.inputUrls,
        }),
      );
      await db.products.insertMany(batch, { ordered: false });
    }
    await db.requests.insertOne({
      _id: request.id,
      owner: request.owner,
      status: 'pending',
      created_at: now,
      updated_at: now,
      started_at: null,
      finished_at: null,
      columns: request.columns,
      totals: { products: request.products.length, images: request.imageCount },
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
    });
  } catch (error) {
    await deleteRequest(db, request.id).catch(() => {});
    throw error;
  }
}

export async function deleteRequest(db: Database, id: string): Promise<void> {
  await db.requests.deleteOne({ _id: id });
  await db.products.deleteMany({ request_id: id });
  await db.results.deleteMany({ request_id: id });
}

export function findRequest(db: Database, id: string): Promise<RequestDocument | null> {
  return db.requests.findOne({ _id: id });
}

/** pending → in_progress; a no-op for a request already started or finished. */
export async function markRequestInProgress(db: Database, id: string, now = new Date()): Promise<void> {
  await db.requests.updateOne(
    { _id: id, status: 'pending' },
    { $set: { status: 'in_progress', started_at: now, updated_at: now } },
  );
}

export async function markRequestCompleted(
  db: Database,
  id: string,
  counts: RequestCounts,
  now = new Date(),
): Promise<boolean> {
  const result = await db.requests.updateOne(
    { _id: id, status: { $in: [...UNFINISHED_STATUSES] } },
    {
      $set: { status: 'completed', counts, finished_at: now, updated_at: now },
    },
  );
  return result.modifiedCount === 1;
}

export async function markRequestFailed(
  db: Database,
  id: string,
  message: string,
  now = new Date(),
): Promise<boolean> {
  const result = await db.requests.updateOne(
    { _id: id, status: { $in: [...UNFINISHED_STATUSES] } },
    {
      $set: {
        status: 'failed',
        error_message: message,
        finished_at: now,
        updated_at: now,
      },
    },
  );
  return result.modifiedCount === 1;
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
  await db.requests.updateOne({ _id: id, webhook: { $ne: null } }, { $set: fields });
}
