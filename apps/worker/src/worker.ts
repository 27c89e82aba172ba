import { availableParallelism } from 'node:os';
import type { Config } from '@imgsvc/config';
import { connectDatabase } from '@imgsvc/db';
import { createGuardedAgent, createImageFetcher, Semaphore } from '@imgsvc/fetching';
import type { Logger } from '@imgsvc/logging';
import { createRedisConnection, JOB_NAMES, openQueues, QUEUE_NAMES } from '@imgsvc/queue';
import { createImageStore } from '@imgsvc/storage';
import { type Job, Worker } from 'bullmq';
import sharp from 'sharp';
import type { WorkerContext } from './context.js';
import { handleFinalFailure, isFinalFailure } from './final-failures.js';
import { checkRequestCompletion } from './jobs/check-request-completion.js';
import { processImages } from './jobs/process-images.js';
import { processProductImages } from './jobs/process-product-images.js';
import { triggerWebhook } from './jobs/trigger-webhook.js';
import { createRequestImageOutcomes } from './request-image-outcomes.js';

export interface Connections {
  readonly mongoUrl: string;
  readonly redisUrl: string;
}

export interface RunningWorker {
  /** Stops taking jobs, lets running ones finish, then closes every connection. */
  close(): Promise<void>;
}

const COORDINATION_CONCURRENCY = 4;
const WEBHOOK_CONCURRENCY = 8;

/** Starts the BullMQ workers that host the four jobs, sharing one set of connections. */
export async function startWorker(
  config: Config,
  connections: Connections,
  log: Logger,
): Promise<RunningWorker> {
  // Every output image is new: libvips' operation cache would only hold memory.
  sharp.cache(false);
  const db = await connectDatabase(connections.mongoUrl, 'image-service-worker');
  const redis = createRedisConnection(connections.redisUrl, 'worker');
  const queues = openQueues(redis);
  const fetcher = createImageFetcher({
    allowPrivateNetworks: config.fetch.allowPrivateNetworks,
    timeoutMs: config.fetch.timeoutMs,
    maxBytes: config.fetch.maxImageBytes,
    maxRedirects: config.fetch.maxRedirects,
    attempts: config.fetch.maxAttempts,
    retryMaxDelayMs: config.fetch.retryMaxDelayMs,
    concurrency: config.fetch.concurrency,
    concurrencyPerHost: config.fetch.concurrencyPerHost,
  });
  // Long enough for the slowest image: every attempt timing out, the longest waits between, and encoding.
  const imageLockMs =
    config.fetch.maxAttempts * (config.fetch.timeoutMs + config.fetch.retryMaxDelayMs) + 60_000;
  const webhookDispatcher = createGuardedAgent({
    allowPrivateNetworks: config.fetch.allowPrivateNetworks,
    connectTimeoutMs: 10_000,
    connectionsPerOrigin: 4,
  });
  const context: WorkerContext = {
    config,
    db,
    queues,
    store: createImageStore(config.storageDir),
    fetcher,
    encodeSlots: new Semaphore(availableParallelism()),
    imageOutcomes: createRequestImageOutcomes(redis, imageLockMs),
    webhookDispatcher,
    log,
  };

  const workers = [
    new Worker(
      QUEUE_NAMES.requests,
      (job: Job, token?: string) =>
        job.name === JOB_NAMES.processImages
          ? processImages(job, token, context)
          : checkRequestCompletion(job, context),
      { connection: redis, concurrency: COORDINATION_CONCURRENCY },
    ),
    new Worker(QUEUE_NAMES.products, (job: Job) => processProductImages(job, context), {
      connection: redis,
      concurrency: config.workerConcurrency,
    }),
    new Worker(QUEUE_NAMES.webhooks, (job: Job) => triggerWebhook(job, context), {
      connection: redis,
      concurrency: WEBHOOK_CONCURRENCY,
    }),
  ];
  for (const worker of workers) {
    worker.on('failed', (job, error) => {
      if (!job) return;
      const jobLog = log.child({ request_id: job.data?.requestId, job_id: job.id, job: job.name });
      if (!isFinalFailure(job)) {
        jobLog.warn({ attempt: job.attemptsMade, reason: error.message }, 'job attempt failed; will retry');
        return;
      }
      handleFinalFailure(job, error, context).catch((cause: unknown) =>
        jobLog.error({ err: cause }, 'could not record a job that gave up'),
      );
    });
    worker.on('error', (error) => log.error({ err: error, queue: worker.name }, 'worker error'));
  }
  await Promise.all(workers.map((worker) => worker.waitUntilReady()));
  log.info(
    { concurrency: config.workerConcurrency, storage: config.storageDir, queues: Object.values(QUEUE_NAMES) },
    'worker ready',
  );

  return {
    async close() {
      await Promise.all(workers.map((worker) => worker.close()));
      await queues.close();
      await Promise.allSettled([fetcher.close(), webhookDispatcher.close()]);
      await redis.quit().catch(() => redis.disconnect());
      await db.close();
    },
  };
}
