import { findProduct, type ImageFailure, recordProductResult } from '@imgsvc/db';
import { parseJobData, productJobData } from '@imgsvc/queue';
import type { Job } from 'bullmq';
import type { WorkerContext } from '../context.js';
import { processImage } from '../image-pipeline.js';

/** process-product-images: every image of one product, then the product's record and the request's progress. */
export async function processProductImages(
  job: Job,
  context: WorkerContext,
  cancel?: AbortSignal,
): Promise<string> {
  const { requestId, row } = parseJobData(productJobData, job.data, job.name);
  const log = context.log.child({ request_id: requestId, job_id: job.id, row });
  const product = await findProduct(context.db, requestId, row);
  if (!product) return 'product not found';
  if (product.done) {
    // Recorded by a run that stopped before counting it: count it now (counting twice is a no-op).
    const failed = product.errors.length;
    await context.progress.recordProduct(requestId, row, product.input_urls.length - failed, failed);
    return 'already recorded';
  }

  // The images of a product are processed together; the fetcher and the encode slots bound the work.
  const outcomes = await Promise.all(
    product.input_urls.map((url) =>
      context.imageOutcomes.outcome(requestId, url, () => processImage(url, context, cancel), cancel),
    ),
  );
  const outputUrls: (string | null)[] = [];
  const errors: ImageFailure[] = [];
  for (const outcome of outcomes) {
    if (outcome.ok) {
      outputUrls.push(outcome.outputUrl);
    } else {
      outputUrls.push(null);
      errors.push(outcome.failure);
      log.info(
        { url: outcome.failure.url, code: outcome.failure.code, reason: outcome.failure.message },
        'image failed',
      );
    }
  }

  await recordProductResult(context.db, requestId, row, { outputUrls, errors });
  await context.progress.recordProduct(requestId, row, outputUrls.length - errors.length, errors.length);
  log.debug({ images: outputUrls.length, failed: errors.length }, 'product done');
  return `${outputUrls.length - errors.length}/${outputUrls.length} images`;
}
