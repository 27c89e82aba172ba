import { findRequest, markRequestInProgress, productInputsFrom, recordedResults } from '@imgsvc/db';
import { isFinished, productCounts } from '@imgsvc/domain';
import {
  enqueueCompletionCheck,
  JOB_NAMES,
  type ProcessImagesData,
  type ProductJobData,
  parseJobData,
  processImagesData,
  productJobOptions,
} from '@imgsvc/queue';
import { type Job, WaitingChildrenError } from 'bullmq';
import type { WorkerContext } from '../context.js';

/** Product jobs added per Redis transaction: a 100,000-product request never becomes one giant one. */
const FAN_OUT_BATCH = 500;

/**
 * process-images: marks the request in progress and fans out one product job per row, in batches, as
 * children of this job; once every child has finished it hands over to check-request-completion.
 * A rerun (crash, retry) continues from the first row it had not yet added; re-adding a row is a no-op.
 */
export async function processImages(
  job: Job,
  token: string | undefined,
  context: WorkerContext,
): Promise<string> {
  const data: ProcessImagesData = parseJobData(processImagesData, job.data, job.name);
  const { requestId } = data;
  const log = context.log.child({ request_id: requestId, job_id: job.id });
  const request = await findRequest(context.db, requestId);
  if (!request) return 'request not found';
  if (isFinished(request.status)) return `already ${request.status}`;
  // A pending request has never been fanned out, so none of its products can have a result yet.
  const fresh = request.status === 'pending';
  // Its run after the children have ended finds it started already: nothing to mark (nor to read again).
  if (fresh) await markRequestInProgress(context.db, requestId);

  const total = request.totals.products;
  const deadline = request.created_at.getTime() + context.config.jobs.requestMaxDurationMs;
  let nextRow = data.nextRow ?? 1;
  if (nextRow <= total) log.info({ products: total, from_row: nextRow }, 'fanning out product jobs');
  const parent = { id: job.id ?? '', queue: job.queueQualifiedName };
  if (nextRow <= total) {
    // The request's products go to its owner's queue, which every worker then finds and serves beside the others.
    const products = context.queues.productsOf(request.owner);
    await context.jobState.announceProductQueue(products.name);
    context.serveProductQueue(products.name);
    let batch: { name: string; data: ProductJobData; opts: ReturnType<typeof productJobOptions> }[] = [];
    const flush = async () => {
      if (batch.length === 0) return;
      // Products already recorded (a fan-out queued again after Redis lost its data) are not processed again:
      // their record is counted into the live progress, which is rebuilt from MongoDB that way.
      const recorded = fresh
        ? []
        : await recordedResults(
            context.db,
            requestId,
            batch.map((entry) => entry.data.row),
          );
      const done = new Set(recorded.map((result) => result.row));
      await Promise.all(
        recorded.map((result) => {
          const failureCodes = result.errors.map((failure) => failure.code);
          const succeeded = result.output_urls.length - failureCodes.length;
          return context.jobState.recordProgress(
            requestId,
            result.row,
            productCounts(succeeded, failureCodes),
          );
        }),
      );
      const toProcess = batch.filter((entry) => !done.has(entry.data.row));
      if (toProcess.length > 0) await products.addBulk(toProcess);
      nextRow = (batch.at(-1)?.data.row ?? nextRow) + 1;
      await job.updateData({ ...data, nextRow });
      batch = [];
    };
    // A small request's products came with the job (as the upload took them); a larger one's are read back.
    const inputs =
      data.products?.length === total
        ? data.products
            .filter((product) => product.row >= nextRow)
            .map(({ row, urls }) => ({ row, input_urls: urls }))
        : productInputsFrom(context.db, requestId, nextRow, total);
    for await (const product of inputs) {
      batch.push({
        name: JOB_NAMES.processProductImages,
        data: { requestId, row: product.row, urls: [...product.input_urls], deadline },
        opts: productJobOptions(parent, requestId, product.row),
      });
      if (batch.length >= FAN_OUT_BATCH) await flush();
    }
    await flush();
  }

  if (!token) throw new Error('process-images needs its lock token to wait for its children');
  if (await job.moveToWaitingChildren(token)) throw new WaitingChildrenError();
  await enqueueCompletionCheck(context.queues, requestId);
  return 'all products processed';
}
