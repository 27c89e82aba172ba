import { createHash, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { Logger } from '@imgsvc/logging';
import type { Queues } from '@imgsvc/queue';
import type { ImageStore } from '@imgsvc/storage';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly jobs: Counter<'queue' | 'name' | 'outcome'>;
  readonly imageBytes: Counter<'direction'>;
  readonly imageSeconds: Histogram<'outcome'>;
  /** Jobs put back because the storage could not take images, by the storage's fault. */
  readonly storageUnavailable: Counter<'reason'>;
}

/**
 * The worker's Prometheus metrics: jobs by name and outcome, image bytes in and out, time per image, queue
 * depths, and the storage: its free space and the jobs that waited for it.
 */
export function createWorkerMetrics(
  queues: Queues,
  store: Pick<ImageStore, 'space'>,
  /** The tenants' product queues, counted together under `products`. */
  productQueues: () => Promise<readonly string[]> = async () => [],
): WorkerMetrics {
  const registry = new Registry();
  registry.setDefaultLabels({ program: 'worker' });
  collectDefaultMetrics({ register: registry });
  const jobs = new Counter({
    name: 'jobs_total',
    help: 'Jobs finished by this worker, by queue, job name and outcome (completed or failed).',
    labelNames: ['queue', 'name', 'outcome'] as const,
    registers: [registry],
  });
  const imageBytes = new Counter({
    name: 'image_bytes_total',
    help: 'Image bytes downloaded (in) and written after compression (out).',
    labelNames: ['direction'] as const,
    registers: [registry],
  });
  const imageSeconds = new Histogram({
    name: 'image_processing_seconds',
    help: 'Time per image: download, checks, compression and storage, by outcome (stored, reused, unchanged: a 304 saved the download, failed).',
    labelNames: ['outcome'] as const,
    buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [registry],
  });
  const storageUnavailable = new Counter({
    name: 'storage_unavailable_total',
    help: 'Jobs put back to wait because the storage could not take images (storage_full, storage_low_space: below STORAGE_MIN_FREE_BYTES, storage_read_only, storage_missing…); no attempt is used.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const { space } = store;
  if (space) {
    new Gauge({
      name: 'storage_free_bytes',
      help: 'Free bytes on the storage under STORAGE_DIR, read when scraped (0 when it cannot be read).',
      registers: [registry],
      async collect() {
        this.set(
          await space().then(
            (current) => current.freeBytes,
            () => 0,
          ),
        );
      },
    });
  }
  const states = ['waiting', 'prioritized', 'active', 'delayed', 'failed', 'waiting-children'] as const;
  new Gauge({
    name: 'queue_jobs',
    help: "Jobs in each queue, by state, read from Redis when scraped (every tenant's products together).",
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      const products = new Set([queues.products.name, ...(await productQueues())]);
      const queued = [
        ['requests', [queues.requests]],
        ['products', [...products].map((name) => queues.productQueue(name))],
        ['webhooks', [queues.webhooks]],
      ] as const;
      for (const [name, members] of queued) {
        const totals = Object.fromEntries(states.map((state) => [state, 0]));
        for (const queue of members) {
          const counts = await queue.getJobCounts(...states);
          for (const state of states) totals[state] = (totals[state] ?? 0) + (counts[state] ?? 0);
        }
        for (const [state, count] of Object.entries(totals)) this.set({ queue: name, state }, count);
      }
    },
  });
  return { registry, jobs, imageBytes, imageSeconds, storageUnavailable };
}

/** Whether a request carries `Authorization: Bearer <token>`, compared as digests in constant time. */
function presentsToken(authorization: string | undefined, token: string): boolean {
  const presented = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')?.[1];
  if (presented === undefined) return false;
  const digest = (text: string) => createHash('sha256').update(text).digest();
  return timingSafeEqual(digest(presented), digest(token));
}

export interface MetricsListener {
  /** WORKER_METRICS_HOST: loopback by default, so that only this machine can scrape it. */
  readonly host: string;
  /** WORKER_METRICS_PORT; 0 turns the listener off. */
  readonly port: number;
  /** METRICS_TOKEN: when set, scrapes must send it as a bearer token. */
  readonly token: string | undefined;
  readonly log: Logger;
}

/**
 * Serves GET /metrics on its own address (port 0 turns it off). A port in use is logged, and the worker runs
 * without it.
 */
export async function serveWorkerMetrics(
  metrics: WorkerMetrics,
  { host, port, token, log }: MetricsListener,
): Promise<Server | undefined> {
  if (port === 0) return undefined;
  const server = createServer((request, response) => {
    const path = new URL(request.url ?? '/', 'http://worker').pathname;
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404).end();
      return;
    }
    if (token !== undefined && !presentsToken(request.headers.authorization, token)) {
      response.writeHead(401, { 'www-authenticate': 'Bearer realm="metrics"', connection: 'close' }).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  return new Promise((resolve) => {
    server.once('error', (error) => {
      log.error({ err: error, host, port }, 'worker metrics not served: the address is unavailable');
      resolve(undefined);
    });
    server.listen(port, host, () => {
      const shown = host.includes(':') ? `[${host}]` : host;
      log.info(
        { url: `http://${shown}:${port}/metrics`, token: token !== undefined },
        'worker metrics listening',
      );
      resolve(server);
    });
  });
}
