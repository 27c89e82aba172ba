import { createRedisConnection, openQueues } from '@imgsvc/queue';
import { pollUntil } from '../test/support/poll.js';
import {
  type BenchBucket,
  type Connections,
  pipelineHarness,
  type ServedImage,
  twoPerProduct,
} from './harness.js';
import type { BenchImage } from './image-set.js';

const CONTENT_TYPES = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' } as const;

export function servedImages(images: readonly BenchImage[]): Map<string, ServedImage> {
  return new Map(
    images.map((image) => [`/${image.name}`, { body: image.bytes, type: CONTENT_TYPES[image.format] }]),
  );
}

export interface PassResult {
  readonly images: number;
  readonly seconds: number;
  readonly images_per_second: number;
}

export interface ThroughputResult extends PassResult {
  readonly workers: number;
  /** The same CSV uploaded again once the first pass finished: every image already known. */
  readonly repeat: PassResult;
}

function pass(images: number, seconds: number): PassResult {
  return {
    images,
    seconds: Math.round(seconds * 100) / 100,
    images_per_second: Math.round((images / seconds) * 10) / 10,
  };
}

export interface ThroughputRun {
  /** One pass over an empty store: every image fetched, encoded and stored. */
  firstPass(): Promise<PassResult>;
  /** The same CSV again with every image already stored. */
  repeatPass(): Promise<PassResult>;
  close(): Promise<void>;
}

/** The real API and `workers` worker processes with their default settings, ready to time passes. */
export async function openThroughputRun(
  connections: Connections,
  workers: number,
  images: readonly BenchImage[],
  extra: Record<string, string> = {},
  root?: string,
  bucket?: BenchBucket,
): Promise<ThroughputRun> {
  const run = await pipelineHarness(
    connections,
    `bench_throughput_${workers}_${root ? 'baseline_' : ''}${bucket ? 's3_' : ''}${Date.now()}`,
    servedImages(images),
    0,
    root,
    bucket,
  );
  try {
    for (let index = 0; index < workers; index += 1) await run.startWorker(extra);
  } catch (error) {
    await run.close();
    throw error;
  }
  // Each first pass names the images by URLs never seen before (a query string the server ignores), so that
  // nothing is known of them: neither their outputs (the store is emptied too) nor their validators.
  let catalogue = 0;
  let products: string[][] = [];
  const timePass = async () => {
    const started = performance.now();
    const id = await run.upload(products);
    const finished = await run.waitFor(
      id,
      (status) => status.status === 'completed' || status.status === 'failed',
      600_000,
    );
    if (finished.counts.images_succeeded !== images.length) {
      throw new Error(`only ${finished.counts.images_succeeded} of ${images.length} images succeeded`);
    }
    return pass(images.length, (performance.now() - started) / 1000);
  };
  return {
    async firstPass() {
      await run.clearStorage();
      catalogue += 1;
      products = twoPerProduct(
        images.map((image) => `${run.imagesUrl}/${image.name}?catalogue=${catalogue}`),
      );
      return timePass();
    },
    async repeatPass() {
      if (products.length === 0) throw new Error('a repeat needs a first pass');
      return timePass();
    },
    close: () => run.close(),
  };
}

export interface RecoveryResult {
  /** Product jobs the killed worker was running. */
  readonly jobs_held: number;
  /** From SIGKILL until every one of them was running again on the other worker. */
  readonly recovery_seconds: number;
}

/**
 * Two workers share a request; one is killed with SIGKILL while it holds jobs. Measures how long its jobs stay
 * orphaned, with the default JOB_LOCK_MS and JOB_STALLED_INTERVAL_MS.
 */
export async function measureRecovery(
  connections: Connections,
  images: readonly BenchImage[],
): Promise<RecoveryResult> {
  // Slow images keep the victim's jobs running from the moment they are listed until the kill.
  const run = await pipelineHarness(connections, `bench_recovery_${Date.now()}`, servedImages(images), 8000);
  const redis = createRedisConnection(connections.redisUrl, 'producer');
  const queues = openQueues(redis);
  try {
    const victim = await run.startWorker();
    const id = await run.upload(images.slice(0, 6).map((image) => [`${run.imagesUrl}/${image.name}`]));
    // The victim is the only worker yet: every active job is its own.
    await pollUntil(async () => ((await queues.products.getActiveCount()) >= 2 ? true : undefined), {
      timeoutMs: 30_000,
      what: 'jobs running',
    });
    const held = await queues.products.getActive();
    await run.startWorker();
    const killed = Date.now();
    await victim.stop('SIGKILL');
    const recovered = await pollUntil(
      async () => {
        const states = await Promise.all(
          held.map(async (job) => {
            const current = await queues.products.getJob(job.id ?? '');
            return !current || (current.processedOn ?? 0) > killed
              ? Math.max(current?.processedOn ?? Date.now(), killed)
              : undefined;
          }),
        );
        return states.every((state) => state !== undefined) ? Math.max(...(states as number[])) : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 20, what: 'orphaned jobs running again' },
    );
    await run.waitFor(id, (status) => status.status === 'completed', 120_000);
    return { jobs_held: held.length, recovery_seconds: Math.round((recovered - killed) / 100) / 10 };
  } finally {
    await queues.close();
    await redis.quit();
    await run.close();
  }
}
