import type { Redis } from 'ioredis';
import { EXPIRY } from './expiry.js';
import { type ImageSources, imageSources } from './image-sources.js';
import { keys } from './keys.js';
import { liveProgress, type ProgressReader, type ProgressRecorder } from './live-progress.js';
import { type OutputClaims, outputClaims } from './output-claims.js';
import { type ProductFinishing, productFinishing } from './product-finish.js';
import { type ProductQueueRegistry, productQueueRegistry } from './product-queues.js';
import { loadScripts } from './scripts.js';
import { type UrlClaims, urlClaims } from './url-claims.js';

/** Everything the worker keeps in Redis besides BullMQ's own keys. */
export interface JobState
  extends ProgressRecorder,
    ProgressReader,
    UrlClaims,
    ImageSources,
    ProductQueueRegistry,
    OutputClaims,
    ProductFinishing {
  /**
   * Called once a request is finished (MongoDB then holds its exact totals): drops its URL outcomes, the set
   * of counted rows and its output claims (its results list its outputs now), and lets its counts lapse after a few minutes, so that a reader still holding the request
   * as running (a cached copy) sees the last counts rather than none.
   */
  forgetRequest(requestId: string): Promise<void>;
  /**
   * True for the one worker that may reconcile requests now: the turn lasts `forMs` and is nobody's afterwards,
   * so a worker that stops does not keep it.
   */
  takeReconcilerTurn(forMs: number): Promise<boolean>;
}

export interface JobStateOptions {
  /** How long a URL's lock outlives its holder's last renewal: the job lock's duration (JOB_LOCK_MS). */
  readonly lockMs: number;
  /** Everything that shapes an output besides the input's bytes: sources kept under other settings are not found. */
  readonly encodingSettings: string;
}

/** The worker's state in Redis, on its connection. */
export function openJobState(connection: Redis, options: JobStateOptions): JobState {
  const redis = loadScripts(connection);
  return {
    ...liveProgress(redis),
    ...urlClaims(redis, options.lockMs),
    ...imageSources(redis, options.encodingSettings),
    ...productQueueRegistry(redis),
    ...outputClaims(redis),
    ...productFinishing(redis, options.encodingSettings),
    async forgetRequest(requestId) {
      await redis
        .multi()
        .del(keys.urlOutcomes(requestId), keys.progressRows(requestId), keys.outputClaims(requestId))
        .srem(keys.outputClaimants(), requestId)
        .pexpire(keys.progressCounts(requestId), EXPIRY.finishedProgressMs)
        .pexpire(keys.progressFailures(requestId), EXPIRY.finishedProgressMs)
        .exec();
    },
    async takeReconcilerTurn(forMs) {
      return (await redis.set(keys.reconcilerTurn(), String(process.pid), 'PX', forMs, 'NX')) === 'OK';
    },
  };
}

/** What the API reads: live progress only. */
export function openProgressReader(connection: Redis): ProgressReader {
  const { readProgress } = liveProgress(loadScripts(connection));
  return { readProgress };
}
