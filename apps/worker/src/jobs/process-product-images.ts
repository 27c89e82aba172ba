import { findProductResult, type ImageSizes, recordProductResult } from '@imgsvc/db';
import { type ImageFailure, productCounts, requestTimedOut } from '@imgsvc/domain';
import type { ImageOutcome, ImageSource, UrlClaim } from '@imgsvc/job-state';
import type { Logger } from '@imgsvc/logging';
import { parseJobData, productJobData } from '@imgsvc/queue';
import type { Job } from 'bullmq';
import type { WorkerContext } from '../context.js';
import { produceImage } from '../image-pipeline.js';

/**
 * The product's record: one output URL per input URL (null where the image failed), the failures, and each
 * image's sizes.
 */
function productResult(urls: readonly string[], outcomes: ReadonlyMap<string, ImageOutcome>, log: Logger) {
  const outputUrls: (string | null)[] = [];
  const imageSizes: (ImageSizes | null)[] = [];
  const errors: ImageFailure[] = [];
  for (const url of urls) {
    const outcome = outcomes.get(url);
    if (!outcome) throw new Error(`no outcome for ${url}`);
    if (outcome.ok) {
      outputUrls.push(outcome.outputUrl);
      imageSizes.push({ input_bytes: outcome.inputBytes ?? null, output_bytes: outcome.outputBytes ?? null });
    } else {
      outputUrls.push(null);
      imageSizes.push(null);
      errors.push(outcome.failure);
      log.info(
        { url: outcome.failure.url, code: outcome.failure.code, reason: outcome.failure.message },
        'image failed',
      );
    }
  }
  return { outputUrls, errors, imageSizes };
}

/**
 * process-product-images: every image of one product, then the product's record and the request's progress.
 * The product's URLs are claimed for the request, the missing ones produced, and their outcomes settled for
 * every other product that names them; a rerun finds them settled and does not record the product twice.
 */
export async function processProductImages(
  job: Job,
  context: WorkerContext,
  cancel?: AbortSignal,
): Promise<string> {
  const { requestId, row, urls, deadline } = parseJobData(productJobData, job.data, job.name);
  const log = context.log.child({ request_id: requestId, job_id: job.id, row });
  const { jobState } = context;
  // Nothing is downloaded for a storage that cannot take the results: the job waits for it instead
  // (StorageUnavailable, handled by the job runner). Each image is checked again before it is encoded.
  await context.store.checkWritable();

  // What these URLs gave in earlier requests, looked up while the outcomes are claimed.
  const previous = jobState.recallSources(urls);
  const outcomes = new Map<string, ImageOutcome>();
  const learned = new Map<string, ImageSource>();
  // The claimed images of a product are produced together; the fetcher and the encode limit bound the work.
  // Whatever is under way finishes before an infrastructure failure (disk, database) is thrown; what did
  // succeed is settled for the retry, and the rest unlocked.
  const produceClaimed = async (claim: UrlClaim) => {
    for (const [url, outcome] of claim.known) outcomes.set(url, outcome);
    const produced = await Promise.allSettled(
      claim.toProduce.map(async (url) => {
        // Past the request's time budget, an image not yet started is not started: it fails as request_timeout.
        if (deadline !== undefined && Date.now() >= deadline) {
          outcomes.set(url, { ok: false, failure: requestTimedOut(url) });
          return;
        }
        const image = await produceImage(url, context, {
          requestId,
          log,
          cancel,
          previous: (await previous).get(url),
        });
        outcomes.set(url, image.outcome);
        if (image.source) learned.set(url, image.source);
      }),
    );
    const failure = produced.find((result) => result.status === 'rejected');
    if (failure) {
      await jobState.settleUrls(claim, outcomes);
      throw failure.reason;
    }
  };

  let claim = await jobState.claimUrls(requestId, urls, cancel);
  await produceClaimed(claim);
  while (claim.heldElsewhere.length > 0) {
    // Share what this job made before waiting for other jobs: two products waiting for each other's images
    // would otherwise wait for ever.
    await jobState.settleUrls(claim, outcomes);
    claim = await jobState.claimUrls(requestId, claim.heldElsewhere, cancel);
    await produceClaimed(claim);
  }

  // The last claim is settled once the product is recorded, in one trip with its count and its sources.
  let result: ReturnType<typeof productResult>;
  let counted: { images: number; failureCodes: string[] };
  try {
    result = productResult(urls, outcomes, log);
    const failureCodes = result.errors.map((failure) => failure.code);
    if (await recordProductResult(context.db, requestId, row, result)) {
      // Counted where the product is first recorded: each failed image once, however often the job runs.
      context.metrics.countImageFailures(failureCodes);
      counted = { images: result.outputUrls.length, failureCodes };
    } else {
      // Another run recorded first; its record stands and is what is counted.
      const first = await findProductResult(context.db, requestId, row);
      counted = first
        ? { images: first.output_urls.length, failureCodes: first.errors.map((failure) => failure.code) }
        : { images: result.outputUrls.length, failureCodes };
    }
  } catch (error) {
    await jobState.settleUrls(claim, outcomes);
    throw error;
  }
  await jobState.finishProduct({
    claim,
    outcomes,
    row,
    counts: productCounts(counted.images - counted.failureCodes.length, counted.failureCodes),
    sources: learned,
  });
  const { outputUrls, errors } = result;
  log.debug({ images: outputUrls.length, failed: errors.length }, 'product done');
  return `${outputUrls.length - errors.length}/${outputUrls.length} images`;
}
