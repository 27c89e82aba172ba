import { createServer, type Server } from 'node:http';
import type { Logger } from '@imgsvc/logging';
import type { Queues } from '@imgsvc/queue';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface WorkerMetrics {
  readonly registry: Registry;
  readonly jobs: Counter<'queue' | 'name' | 'outcome'>;
  readonly imageBytes: Counter<'direction'>;
  readonly imageSeconds: Histogram<'outcome'>;
}

/** The worker's Prometheus metrics: jobs by name and outcome, image bytes in and out, time per image, queue depths. */
export function createWorkerMetrics(queues: Queues): WorkerMetrics {
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
  const queued = [
    ['requests', queues.requests],
    ['products', queues.products],
    ['webhooks', queues.webhooks],
  ] as const;
  new Gauge({
    name: 'queue_jobs',
    help: 'Jobs in each queue, by state, read from Redis when scraped.',
    labelNames: ['queue', 'state'] as const,
    registers: [registry],
    async collect() {
      for (const [name, queue] of queued) {
        const counts = await queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'waiting-children');
        for (const [state, count] of Object.entries(counts)) this.set({ queue: name, state }, count);
      }
    },
  });
  return { registry, jobs, imageBytes, imageSeconds };
}

/** Serves /metrics on its own port (0 turns it off). A port in use is logged, and the worker runs without it. */
export async function serveWorkerMetrics(
  metrics: WorkerMetrics,
  host: string,
  port: number,
  log: Logger,
): Promise<Server | undefined> {
  if (port === 0) return undefined;
  const server = createServer((request, response) => {
    if (request.url !== '/metrics') {
      response.writeHead(404).end();
      return;
    }
    metrics.registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      () => response.writeHead(500).end(),
    );
  });
  return new Promise((resolve) => {
    server.once('error', (error) => {
      log.error({ err: error, port }, 'worker metrics not served: the port is unavailable');
      resolve(undefined);
    });
    server.listen(port, host, () => {
      log.info({ url: `http://${host}:${port}/metrics` }, 'worker metrics listening');
      resolve(server);
    });
  });
}
