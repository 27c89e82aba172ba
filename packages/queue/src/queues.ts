import { type JobsOptions, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import {
  type CompletionJobData,
  JOB_NAMES,
  jobIds,
  type ProcessImagesData,
  type ProductJobData,
  type ProductUrls,
  productQueueName,
  QUEUE_NAMES,
  type WebhookJobData,
} from './jobs.js';

export interface Queues {
  readonly requests: Queue<ProcessImagesData | CompletionJobData>;
  /** The queue of requests without an owner; `productsOf` gives every tenant's. */
  readonly products: Queue<ProductJobData>;
  /** The product queue of one owner (`productQueueName`), opened on first use. */
  productsOf(owner: string | null): Queue<ProductJobData>;
  /** A product queue by its name, opened on first use. */
  productQueue(name: string): Queue<ProductJobData>;
  readonly webhooks: Queue<WebhookJobData>;
  /**
   * Whether Redis can take a job, waiting at most `withinMs` for the connection to be ready. A producer's
   * commands fail at once while a connection that once worked is down, but one that has not connected yet
   * (a process started while Redis is down) would make BullMQ wait for ever: callers that must answer ask first.
   */
  reachable(withinMs: number): Promise<boolean>;
  close(): Promise<void>;
}

export function openQueues(connection: Redis): Queues {
  const requests = new Queue<ProcessImagesData | CompletionJobData>(QUEUE_NAMES.requests, { connection });
  const products = new Queue<ProductJobData>(QUEUE_NAMES.products, { connection });
  const webhooks = new Queue<WebhookJobData>(QUEUE_NAMES.webhooks, { connection });
  // As for the connection itself: failures reach callers through their commands. Without a listener, BullMQ
  // prints a stack trace for every failed reconnection while Redis is down.
  for (const queue of [requests, products, webhooks]) queue.on('error', () => {});
  const productQueues = new Map<string, Queue<ProductJobData>>([[products.name, products]]);
  const productQueue = (name: string) => {
    let queue = productQueues.get(name);
    if (!queue) {
      queue = new Queue<ProductJobData>(name, { connection });
      queue.on('error', () => {});
      productQueues.set(name, queue);
    }
    return queue;
  };
  return {
    requests,
    products,
    webhooks,
    productQueue,
    productsOf: (owner) => productQueue(productQueueName(owner)),
    reachable: (withinMs) => connectionReady(connection, withinMs),
    async close() {
      await Promise.all([
        requests.close(),
        webhooks.close(),
        ...[...productQueues.values()].map((q) => q.close()),
      ]);
    },
  };
}

function connectionReady(connection: Redis, withinMs: number): Promise<boolean> {
  if (connection.status === 'ready') return Promise.resolve(true);
  return new Promise((resolve) => {
    const ready = () => {
      clearTimeout(timer);
      resolve(true);
    };
    const timer = setTimeout(() => {
      connection.off('ready', ready);
      resolve(false);
    }, withinMs);
    connection.once('ready', ready);
  });
}

const KEEP_FINISHED: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> = {
  removeOnComplete: { age: 24 * 3600 },
  removeOnFail: { age: 7 * 24 * 3600 },
};

/** Coordination retries: transient MongoDB or Redis trouble should not fail a whole request. */
const COORDINATION_JOB_OPTIONS: JobsOptions = {
  attempts: 8,
  backoff: { type: 'exponential', delay: 1000 },
  ...KEEP_FINISHED,
};

/** A product's images are retried as a whole only for infrastructure failures; image failures are results. */
export function productJobOptions(
  parent: { id: string; queue: string },
  requestId: string,
  row: number,
): JobsOptions {
  return {
    jobId: jobIds.product(requestId, row),
    parent,
    attempts: 5,
    backoff: { type: 'exponential', delay: 1000 },
    // The product document is the record; a job that gives up is closed by the completion step.
    removeOnComplete: true,
    removeOnFail: { age: 7 * 24 * 3600 },
    ignoreDependencyOnFailure: true,
  };
}

/** Queues a request's fan-out, with its products when the upload could hand them over (see processImagesData). */
export async function enqueueProcessImages(
  queues: Queues,
  requestId: string,
  products?: readonly ProductUrls[],
): Promise<void> {
  const data: ProcessImagesData = { requestId, ...(products ? { products: [...products] } : {}) };
  await queues.requests.add(JOB_NAMES.processImages, data, {
    jobId: jobIds.processImages(requestId),
    ...COORDINATION_JOB_OPTIONS,
  });
}

export async function enqueueCompletionCheck(queues: Queues, requestId: string): Promise<void> {
  await queues.requests.add(
    JOB_NAMES.checkRequestCompletion,
    { requestId },
    { jobId: jobIds.completion(requestId), ...COORDINATION_JOB_OPTIONS },
  );
}

export async function enqueueWebhook(
  queues: Queues,
  data: WebhookJobData,
  retry: { maxAttempts: number; backoffMs: number },
): Promise<void> {
  await queues.webhooks.add(JOB_NAMES.triggerWebhook, data, {
    jobId: jobIds.webhook(data.requestId, data.event),
    attempts: retry.maxAttempts,
    backoff: { type: 'exponential', delay: retry.backoffMs },
    ...KEEP_FINISHED,
  });
}
