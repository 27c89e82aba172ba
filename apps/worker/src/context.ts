import type { Config } from '@imgsvc/config';
import type { Database } from '@imgsvc/db';
import type { AddressPolicy, ImageFetcher } from '@imgsvc/fetching';
import type { JobState } from '@imgsvc/job-state';
import type { Logger } from '@imgsvc/logging';
import type { Queues } from '@imgsvc/queue';
import type { ImageStore } from '@imgsvc/storage';
import type { LimitFunction } from 'p-limit';
import type { Dispatcher } from 'undici';
import type { WorkerMetrics } from './metrics.js';

/** What every job processor is given; built once by the worker process from real connections. */
export interface WorkerContext {
  readonly config: Config;
  readonly db: Database;
  readonly queues: Queues;
  /** Live progress, URL outcomes and locks, and what URLs gave in earlier requests, in Redis. */
  readonly jobState: JobState;
  readonly store: ImageStore;
  readonly fetcher: ImageFetcher;
  /** Encodes at once in this process: one per CPU core. */
  readonly encodeLimit: LimitFunction;
  /** Which addresses image and webhook URLs may reach (FETCH_ALLOW_NETWORKS, FETCH_ALLOW_PRIVATE_NETWORKS). */
  readonly addressPolicy: AddressPolicy;
  /** Guarded connection pool for webhook deliveries. */
  readonly webhookDispatcher: Dispatcher;
  readonly metrics: WorkerMetrics;
  readonly log: Logger;
  /** Serves a product queue this process has just given work, without waiting to discover it (product-workers.ts). */
  readonly serveProductQueue: (name: string) => void;
}
