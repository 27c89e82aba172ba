import type { Config } from '@imgsvc/config';
import type { Database } from '@imgsvc/db';
import type { Queues, RequestProgress } from '@imgsvc/queue';
import type { ImageStore } from '@imgsvc/storage';
import type { Redis } from 'ioredis';
import type { RequestCache } from './request-cache.js';

/** What the routes are given; built once by the API process from real connections. */
export interface ApiContext {
  readonly config: Config;
  readonly db: Database;
  readonly redis: Redis;
  readonly queues: Queues;
  readonly progress: RequestProgress;
  readonly store: ImageStore;
  readonly requestCache: RequestCache;
}
