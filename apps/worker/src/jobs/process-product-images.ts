import { findProductResult, type ImageFailure, recordProductResult } from '@imgsvc/db';
import { parseJobData, productJobData } from '@imgsvc/queue';
import type { Job } from 'bullmq';
import type { WorkerContext } from '../context.js';
import { processImage } from '../image-pipeline.js';

/**
 * process-product-images: every image of one product, then the product's record and the request's progress.
 * A rerun finds the images' outcomes kept for the request and does not record the product twice.
 */
export async function processProductImages(
  job: Job,
  context: WorkerContext,
  cancel?: AbortSignal,
): Promise<string> {
  const { requestId, row, urls } = parseJobData(productJobData, job.data, job.name);
  const log = context.log.child({ request_id: requestId, job_id: job.id, row });

  // The images of a product are processed together; the fetcher and the encode slots bound the work.
  const claimed = await context.imageOutcomes.claim(
    requestId,
    urls,
    (url) => processImage(url, context, cancel),
    cancel,
  );
  const outputUrls: (string | null)[] = [];
  const errors: ImageFailure[] = [];
  for (const outcome of claimed.outcomes) {
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

  let recorded: boolean;
  try {
    recorded = await recordProductResult(context.db, requestId, row, { outputUrls, errors });
  } catch (error) {
    await claimed.settle();
    throw error;
  }
  if (recorded) {
    await Promise.all([
      claimed.settle(),
      context.progress.recordProduct(requestId, row, outputUrls.length - errors.length, errors.length),
    ]);
  } else {
    // Another run recorded first; its record stands and is what is counted.
    const [first] = await Promise.all([findProductResult(context.db, requestId, row), claimed.settle()]);
    const failed = first?.output_urls.filter((url) => url === null).length ?? errors.length;
    await context.progress.recordProduct(
      requestId,
      row,
      (first?.output_urls.length ?? outputUrls.length) - failed,
      failed,
    );
  }
  log.debug({ images: outputUrls.length, failed: errors.length }, 'product done');
  return `${outputUrls.length - errors.length}/${outputUrls.length} images`;
}
