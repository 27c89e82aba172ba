import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiDependencies, buildApp } from '@imgsvc/api';
import { loadConfig } from '@imgsvc/config';
import { connectDatabase, type Database } from '@imgsvc/db';
import { createLogger } from '@imgsvc/logging';
import { createRedisConnection, type Queues } from '@imgsvc/queue';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import { expect } from 'vitest';
import { testMongoUrl, testRedisUrl } from './servers.js';

export interface TestApi {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly db: Database;
  readonly queues: Queues;
  readonly redis: Redis;
  readonly storageDir: string;
  /** What is stored: requests, products and idempotency keys in MongoDB, jobs in Redis. */
  stored(): Promise<Record<string, number>>;
  close(): Promise<void>;
}

/**
 * The real app on a real port over real MongoDB-compatible and Redis servers, built the way the program
 * builds it; no worker runs, so requests stay pending. Each API gets a Redis database of its own unless
 * `redisUrl` names one to share (two APIs sharing their rate limits, as on two hosts).
 */
export async function startTestApi(
  name: string,
  environment: Record<string, string> = {},
  options: { readonly redisUrl?: string } = {},
): Promise<TestApi> {
  const storageDir = await mkdtemp(join(tmpdir(), 'image-service-api-'));
  const config = loadConfig({
    STORAGE_DIR: storageDir,
    LOG_LEVEL: 'silent',
    // The API shares this process with the tests, whose own work (building a 100,000-row CSV, thousands of
    // uploads) would otherwise count against its rate limit and load shedding; tests of those set them.
    RATE_LIMIT_MAX: '100000000',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    ...environment,
  });
  const logLevel = environment.LOG_LEVEL ?? 'silent';
  const db = await connectDatabase(testMongoUrl(name), 'api-test');
  const redis = createRedisConnection(options.redisUrl ?? (await testRedisUrl()), 'producer');
  const dependencies = apiDependencies(config, db, redis);
  const { queues } = dependencies;
  const app = await buildApp(dependencies, createLogger('api', logLevel));
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    url,
    app,
    db,
    queues,
    redis,
    storageDir,
    async stored() {
      const jobs = await queues.requests.getJobCounts();
      return {
        requests: await db.requests.countDocuments({}),
        products: await db.products.countDocuments({}),
        idempotency_keys: await db.idempotencyKeys.countDocuments({}),
        jobs: Object.values(jobs).reduce((sum, count) => sum + count, 0),
      };
    },
    async close() {
      await app.close();
      await queues.close();
      await redis.quit().catch(() => redis.disconnect());
      await db.close();
      await rm(storageDir, { recursive: true, force: true });
    },
  };
}

export const CSV_HEADER = 'S. No.,Product Name,Input Image Urls';

export function csvForm(csv: string | Uint8Array | Blob, extra: Record<string, string> = {}): FormData {
  const form = new FormData();
  const blob = csv instanceof Blob ? csv : new Blob([csv], { type: 'text/csv' });
  form.append('file', blob, 'products.csv');
  for (const [key, value] of Object.entries(extra)) form.append(key, value);
  return form;
}

/** Asserts the RFC 9457 shape every error shares, and returns the body. */
export async function problemOf(response: Response): Promise<Record<string, unknown>> {
  expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  const body = (await response.json()) as Record<string, unknown>;
  expect(body).toMatchObject({
    status: response.status,
    type: expect.stringMatching(/^urn:image-service:problem:[a-z0-9_]+$/),
    title: expect.any(String),
    code: expect.any(String),
  });
  expect(JSON.stringify(body)).not.toMatch(/at .*\.(ts|js):\d+|node_modules/);
  return body;
}
