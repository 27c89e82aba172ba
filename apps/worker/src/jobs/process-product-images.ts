import { findProductResult, recordProductResult } from '@imgsvc/db';
import type { ImageFailure } from '@imgsvc/domain';
import { parseJobData, productJobData } from '@imgsvc/queue';
import type { Job } from 'bullmq';
import type { WorkerContext } from '../context.js';
import { processImage } from '../image-pipeline.js';
import type { ImageSource } from '../image-sources.js';

/** Sources only save later downloads: failing to keep them fails nothing. */
async function rememberSources(context: WorkerContext, sources: ReadonlyMap<string, ImageSource>) {
  await context.imageSources.remember(sources).catch((error: unknown) => {
    context.log.debug({ reason: (error as Error).message }, 'image sources not kept');
  });
}

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
  // What these URLs gave in earlier requests, looked up while the outcomes are claimed.
  const previous = context.imageSources.recall(urls);
  const learned = new Map<string, ImageSource>();
  const claimed = await context.imageOutcomes.claim(
    requestId,
    urls,
    async (url) => {
      const processed = await processImage(url, context, {
        log,
        cancel,
        previous: (await previous).get(url),
      });
      if (processed.source) learned.set(url, processed.source);
      return processed.outcome;
    },
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
      context.progress.recordProduct(
        requestId,
        row,
        outputUrls.length - errors.length,
        errors.map((failure) => failure.code),
      ),
      rememberSources(context, learned),
    ]);
  } else {
    // Another run recorded first; its record stands and is what is counted.
    const [first] = await Promise.all([
      findProductResult(context.db, requestId, row),
      claimed.settle(),
      rememberSources(context, learned),
    ]);
    const failureCodes = (first?.errors ?? errors).map((failure) => failure.code);
    await context.progress.recordProduct(
      requestId,
      row,
      (first?.output_urls.length ?? outputUrls.length) - failureCodes.length,
      failureCodes,
    );
  }
  log.debug({ images: outputUrls.length, failed: errors.length }, 'product done');
  return `${outputUrls.length - errors.length}/${outputUrls.length} images`;
}
