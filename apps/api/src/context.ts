import type { Config } from '@imgsvc/config';
import type { Database } from '@imgsvc/db';
import { openProgressReader, type ProgressReader } from '@imgsvc/job-state';
import { openQueues, type Queues } from '@imgsvc/queue';
import { type ImageStore, openImageStore } from '@imgsvc/storage';
import type { Redis } from 'ioredis';
import type { RequestCache } from './request-cache.js';

/** What the routes are given; built once by the API process from real connections. */
export interface ApiContext {
  readonly config: Config;
  readonly db: Database;
  readonly redis: Redis;
  readonly queues: Queues;
  /** Live progress of running requests, as the worker records it. */
  readonly progress: ProgressReader;
  readonly store: ImageStore;
  readonly requestCache: RequestCache;
}

/** What the app is built from: the process's database and Redis connections, and what is opened on them. */
export function apiDependencies(
  config: Config,
  db: Database,
  redis: Redis,
): Omit<ApiContext, 'requestCache'> {
  return {
    config,
    db,
    redis,
    queues: openQueues(redis),
    progress: openProgressReader(redis),
    store: openImageStore(config),
  };
}
