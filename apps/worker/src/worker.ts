import { availableParallelism } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { type Config, ConfigError, productionRefusal } from '@imgsvc/config';
import { openDatabase } from '@imgsvc/db';
import { createAddressPolicy, createGuardedAgent, createImageFetcher } from '@imgsvc/fetching';
import { configureEncoder } from '@imgsvc/imaging';
import { openJobState } from '@imgsvc/job-state';
import type { Logger } from '@imgsvc/logging';
import { createRedisConnection, isProductQueueName, JOB_NAMES, openQueues, QUEUE_NAMES } from '@imgsvc/queue';
import { openImageStore } from '@imgsvc/storage';
import { Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import pLimit from 'p-limit';
import type { WorkerContext } from './context.js';
import { handleFinalFailure, isFinalFailure } from './final-failures.js';
import { encodingSettings } from './image-pipeline.js';
import { withReleaseAndOutageHandling } from './job-runner.js';
import { checkRequestCompletion } from './jobs/check-request-completion.js';
import { processImages } from './jobs/process-images.js';
import { processProductImages } from './jobs/process-product-images.js';
import { triggerWebhook } from './jobs/trigger-webhook.js';
import { createWorkerMetrics } from './metrics.js';
import { serveOperations } from './operations-server.js';
import { startProductWorkers } from './product-workers.js';
import { startReconciler } from './reconciler.js';

export interface Connections {
  readonly mongoUrl: string;
  readonly redisUrl: string;
}

export interface RunningWorker {
  /** Stops taking jobs, lets running ones finish, then closes every connection. */
  close(): Promise<void>;
}

const COORDINATION_CONCURRENCY = 4;
/** What every connection to Redis says, several times a second, while Redis cannot be reached. */
const REDIS_UNREACHABLE = /ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|EPIPE|Connection is closed/;

/**
 * One warning when Redis becomes unreachable and one line when it is back, instead of an error from every
 * queue's connection at every reconnection attempt: the jobs wait meanwhile, nothing is lost.
 */
function reportRedisOutages(redis: Redis, log: Logger): { lost(error: Error): void } {
  let down = false;
  redis.on('ready', () => {
    if (!down) return;
    down = false;
    log.info('Redis reachable again; jobs resume');
  });
  return {
    lost(error) {
      if (down) return;
      down = true;
      log.warn({ reason: error.message }, 'Redis unreachable; jobs wait until it is back');
    },
  };
}
const WEBHOOK_CONCURRENCY = 8;

/** Starts the BullMQ workers that host the four jobs, sharing one set of connections. */
export async function startWorker(
  config: Config,
  connections: Connections,
  log: Logger,
): Promise<RunningWorker> {
  const refusal = productionRefusal(config, 'worker');
  if (refusal) throw new ConfigError(refusal);
  if (!config.webhook.secret) {
    log.warn(
      'WEBHOOK_SECRET is not set: webhooks go out unsigned, and receivers cannot tell them from forgeries',
    );
  }
  // Every output image is new: libvips' operation cache would only hold memory. Encodes run one per core
  // (encodeLimit), so each uses one libvips thread: more would only contend for the same cores.
  configureEncoder({ concurrency: 1, cache: false });
  const db = openDatabase(connections.mongoUrl, 'image-service-worker', (error) =>
    log.warn({ reason: (error as Error).message }, 'database unreachable; jobs wait until it is back'),
  );
  const redis = createRedisConnection(connections.redisUrl, 'worker');
  const queues = openQueues(redis);
  const addressPolicy = createAddressPolicy(config.fetch);
  const fetcher = createImageFetcher({
    addressPolicy,
    timeoutMs: config.fetch.timeoutMs,
    maxBytes: config.fetch.maxImageBytes,
    maxRedirects: config.fetch.maxRedirects,
    attempts: config.fetch.maxAttempts,
    retryMaxDelayMs: config.fetch.retryMaxDelayMs,
    concurrency: config.fetch.concurrency,
    concurrencyPerHost: config.fetch.concurrencyPerHost,
  });
  const webhookDispatcher = createGuardedAgent({
    addressPolicy,
    connectTimeoutMs: 10_000,
    connectionsPerOrigin: 4,
  });
  const store = openImageStore(config);
  const redisOutage = reportRedisOutages(redis, log);
  const jobState = openJobState(redis, {
    lockMs: config.jobs.lockMs,
    encodingSettings: encodingSettings({
      quality: config.imageQuality,
      maxPixels: config.fetch.maxImagePixels,
    }).join('\n'),
  });
  const metrics = createWorkerMetrics(queues, store, () => jobState.productQueues());
  // The product workers, started below, take the queues this process's fan-outs give work at once.
  let serveProductQueue: (name: string) => void = () => {};
  const context: WorkerContext = {
    config,
    db,
    queues,
    jobState,
    store,
    fetcher,
    encodeLimit: pLimit(availableParallelism()),
    addressPolicy,
    webhookDispatcher,
    metrics,
    log,
    serveProductQueue: (name) => serveProductQueue(name),
  };

  const workerOptions = {
    connection: redis,
    lockDuration: config.jobs.lockMs,
    stalledInterval: config.jobs.stalledIntervalMs,
    // A job is recovered after a crash, not failed, unless it keeps stalling.
    maxStalledCount: 3,
  };
  const attachEvents = (worker: Worker) => {
    // Every tenant's product queue counts as `products`: one series per tenant would grow without bound.
    const queue = isProductQueueName(worker.name) ? QUEUE_NAMES.products : worker.name;
    worker.on('completed', (job) => {
      metrics.jobs.inc({ queue, name: job.name, outcome: 'completed' });
    });
    worker.on('failed', (job, error) => {
      if (!job) return;
      metrics.jobs.inc({ queue, name: job.name, outcome: 'failed' });
      const jobLog = log.child({ request_id: job.data?.requestId, job_id: job.id, job: job.name });
      if (!isFinalFailure(job)) {
        jobLog.warn({ attempt: job.attemptsMade, reason: error.message }, 'job attempt failed; will retry');
        return;
      }
      handleFinalFailure(job, error, context).catch((cause: unknown) =>
        jobLog.error({ err: cause }, 'could not record a job that gave up'),
      );
    });
    worker.on('error', (error) => {
      if (REDIS_UNREACHABLE.test(error.message)) redisOutage.lost(error);
      else log.error({ err: error, queue: worker.name }, 'worker error');
    });
  };
  const workers = [
    new Worker(
      QUEUE_NAMES.requests,
      withReleaseAndOutageHandling(
        (job, token) =>
          job.name === JOB_NAMES.processImages
            ? processImages(job, token, context)
            : checkRequestCompletion(job, context),
        log,
        metrics,
      ),
      { ...workerOptions, concurrency: COORDINATION_CONCURRENCY },
    ),
    new Worker(
      QUEUE_NAMES.webhooks,
      withReleaseAndOutageHandling((job) => triggerWebhook(job, context), log, metrics),
      { ...workerOptions, concurrency: WEBHOOK_CONCURRENCY },
    ),
  ];
  for (const worker of workers) attachEvents(worker);
  // Every tenant's product queue is served side by side (fair scheduling, product-workers.ts).
  const productWorkers = startProductWorkers({
    queues,
    registry: context.jobState,
    run: (job, _token, cancel) => processProductImages(job, context, cancel),
    processor: (run) => withReleaseAndOutageHandling(run, log, metrics),
    workerOptions,
    slots: config.workerConcurrency,
    slotsPerTenant: config.workerConcurrencyPerKey,
    onWorker: attachEvents,
    log,
  });
  serveProductQueue = productWorkers.serveNow;
  // Before the workers are ready, so that probes hear "not ready" (and why) while Redis is still awaited.
  const operationsServer = await serveOperations(
    metrics,
    { db, redis, store },
    { host: config.workerMetricsHost, port: config.workerMetricsPort, token: config.metricsToken, log },
  );
  await Promise.all([...workers.map((worker) => worker.waitUntilReady()), productWorkers.ready()]);
  const reconciler = startReconciler(context, log);
  log.info(
    {
      concurrency: config.workerConcurrency,
      concurrency_per_key: config.workerConcurrencyPerKey,
      storage: store.location,
      queues: Object.values(QUEUE_NAMES),
    },
    'worker ready',
  );

  return {
    async close() {
      await reconciler.stop();
      // Stop taking jobs and let running ones finish; past the grace period, hand them back to the queue.
      const closing = Promise.all([...workers.map((worker) => worker.close()), productWorkers.close()]);
      const finished = await Promise.race([
        closing.then(() => true),
        delay(config.jobs.shutdownGraceMs, false, { ref: false }),
      ]);
      if (!finished) {
        log.warn({ grace_ms: config.jobs.shutdownGraceMs }, 'handing running jobs back to the queue');
        for (const worker of workers) worker.cancelAllJobs('worker shutting down');
        productWorkers.cancel('worker shutting down');
        await closing;
      }
      operationsServer?.close();
      await queues.close();
      await Promise.allSettled([fetcher.close(), webhookDispatcher.close()]);
      store.close();
      await redis.quit().catch(() => redis.disconnect());
      await db.close();
    },
  };
}
