import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from '@imgsvc/local-services';
import sharp from 'sharp';
import { csvForm } from '../test/support/api.js';
import { startHttpServer } from '../test/support/http-server.js';
import { pollUntil } from '../test/support/poll.js';
import { apiReady, startProgram, workerReady } from '../test/support/programs.js';
import type { Connections } from './harness.js';

export interface FairnessResult {
  /** Tenant A's backlog: products, each one image its host drips out over `drip_ms`. */
  readonly backlog_products: number;
  readonly drip_ms: number;
  readonly worker_concurrency: number;
  /** Tenant B's one-image request, upload to completed, with nothing else to do (best of the rounds). */
  readonly alone_ms: number;
  /** The same, uploaded while A's backlog holds the worker (the slowest of `rounds` in a row). */
  readonly behind_backlog_ms: number;
  /** What the backlog would cost B in arrival order: every product ahead of it, at the worker's concurrency. */
  readonly arrival_order_estimate_ms: number;
}

const KEY_A = 'bench-tenant-a-0123456789abcdef';
const KEY_B = 'bench-tenant-b-0123456789abcdef';
const BACKLOG = 40;
const DRIP_MS = 3000;
const WORKER_CONCURRENCY = 4;

/**
 * Two tenants on one worker (the defaults, WORKER_CONCURRENCY 4): tenant A uploads 40 products whose host
 * drips each image out over 3 s, and tenant B then uploads one image from a quick host, `rounds` times in a row
 * while the backlog runs; B's request alone is measured first. Every URL is on 127.0.0.1.
 */
export async function measureFairness(connections: Connections, rounds = 3): Promise<FairnessResult> {
  const image = await sharp({
    create: { width: 640, height: 480, channels: 3, background: { r: 90, g: 140, b: 200 } },
  })
    .jpeg({ quality: 90 })
    .toBuffer();
  const half = Math.floor(image.length / 2);
  const slow = await startHttpServer((_request, response) => {
    response.setHeader('content-type', 'image/jpeg');
    response.setHeader('content-length', image.length);
    response.write(image.subarray(0, half));
    const timer = setTimeout(() => response.end(image.subarray(half)), DRIP_MS);
    response.on('close', () => clearTimeout(timer));
  });
  const quick = await startHttpServer((_request, response) => {
    response.setHeader('content-type', 'image/jpeg');
    response.end(image);
  });
  const workDir = await mkdtemp(join(tmpdir(), 'image-service-bench-fairness-'));
  const environment = {
    MONGO_URL: `${connections.mongoUrl}/bench_fairness_${Date.now()}`,
    REDIS_URL: connections.redisUrl,
    STORAGE_DIR: join(workDir, 'images'),
    FETCH_ALLOW_PRIVATE_NETWORKS: 'true',
    API_KEYS: `${KEY_A},${KEY_B}`,
    RATE_LIMIT_MAX: '100000000',
    LOG_LEVEL: 'warn',
  };
  const port = await freePort();
  const apiUrl = `http://127.0.0.1:${port}`;
  const api = startProgram('api', { ...environment, PORT: String(port) });
  const worker = startProgram('worker', {
    ...environment,
    LOG_LEVEL: 'info',
    WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
  });
  const upload = async (key: string, urls: string[]) => {
    const rows = urls.map((url, index) => `${index + 1},Product ${index + 1},${url}`);
    const response = await fetch(`${apiUrl}/api/upload`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}` },
      body: csvForm(['S. No.,Product Name,Input Image Urls', ...rows].join('\n')),
    });
    if (response.status !== 202) throw new Error(`upload answered ${response.status}`);
    return ((await response.json()) as { request_id: string }).request_id;
  };
  const completed = (key: string, id: string) =>
    pollUntil(
      async () => {
        const response = await fetch(`${apiUrl}/api/status/${id}`, {
          headers: { authorization: `Bearer ${key}` },
        });
        const status = ((await response.json()) as { status: string }).status;
        return status === 'completed' ? true : undefined;
      },
      { timeoutMs: 300_000, intervalMs: 20, what: `request ${id} completed` },
    );
  // B's image is a new URL every time, so that no round finds the one before it stored.
  let serial = 0;
  const smallRequest = async () => {
    const started = performance.now();
    await completed(KEY_B, await upload(KEY_B, [`${quick.url}/b-${++serial}.jpg`]));
    return Math.round(performance.now() - started);
  };
  try {
    await Promise.all([apiReady(apiUrl, api), workerReady(worker)]);
    let alone = Number.POSITIVE_INFINITY;
    for (let round = 1; round <= rounds; round += 1) alone = Math.min(alone, await smallRequest());
    await upload(
      KEY_A,
      Array.from({ length: BACKLOG }, (_, index) => `${slow.url}/backlog-${index}.jpg`),
    );
    await pollUntil(async () => (slow.hits.length > 0 ? true : undefined), {
      timeoutMs: 30_000,
      intervalMs: 20,
      what: 'the backlog downloading',
    });
    // One after another while the backlog (about 40 s of downloads at three at once) holds the worker.
    let behind = 0;
    for (let round = 1; round <= rounds; round += 1) behind = Math.max(behind, await smallRequest());
    return {
      backlog_products: BACKLOG,
      drip_ms: DRIP_MS,
      worker_concurrency: WORKER_CONCURRENCY,
      alone_ms: alone,
      behind_backlog_ms: behind,
      arrival_order_estimate_ms: Math.round((BACKLOG / WORKER_CONCURRENCY) * DRIP_MS),
    };
  } finally {
    await Promise.all([worker.stop('SIGKILL'), api.stop('SIGKILL')]);
    await Promise.all([slow.close(), quick.close()]);
    await rm(workDir, { recursive: true, force: true });
  }
}
