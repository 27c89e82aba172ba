import { randomUUID } from 'node:crypto';
import {
  claimRetry,
  type Database,
  failedProducts,
  findRequest,
  type RequestDocument,
  releaseRetry,
} from '@imgsvc/db';
import type { Queues } from '@imgsvc/queue';
import { type AcceptedUpload, acceptUpload } from './accept-upload.js';

export type RetryOutcome =
  | {
      readonly retried: true;
      readonly accepted: AcceptedUpload;
      readonly products: number;
      readonly images: number;
    }
  /** Every image of the request succeeded: there is nothing to retry. */
  | { readonly retried: false; readonly reason: 'nothing_failed' }
  /** The request was retried before: that retry's id. */
  | { readonly retried: false; readonly reason: 'already_retried'; readonly retriedBy: string };

/**
 * Retries what failed in a finished request: a new request (same owner, the given webhook or the original's)
 * holding only the products whose images did not all succeed, each with only its failed URLs, queued as an
 * upload is. The two are linked (`retry_of`, `retried_by`), and a request is retried once: the link is noted
 * before the new request is stored, and withdrawn if it cannot be.
 */
export async function retryRequest(
  connections: { readonly db: Database; readonly queues: Queues },
  original: RequestDocument,
  webhookUrl: string | null,
): Promise<RetryOutcome> {
  const { db } = connections;
  const products = await failedProducts(db, original._id, original.totals.products);
  if (products.length === 0) return { retried: false, reason: 'nothing_failed' };
  const retryId = randomUUID();
  if (!(await claimRetry(db, original._id, retryId))) {
    const retriedBy = (await findRequest(db, original._id))?.retried_by ?? original.retried_by ?? '';
    return { retried: false, reason: 'already_retried', retriedBy };
  }
  const images = products.reduce((sum, product) => sum + product.inputUrls.length, 0);
  try {
    const accepted = await acceptUpload(connections, {
      owner: original.owner,
      fingerprint: `retry of ${original._id}`,
      columns: original.columns,
      products,
      imageCount: images,
      webhookUrl,
      requestId: retryId,
      retryOf: original._id,
    });
    return { retried: true, accepted, products: products.length, images };
  } catch (error) {
    await releaseRetry(db, original._id, retryId);
    throw error;
  }
}
